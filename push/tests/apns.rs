//! APNs sender against the loopback APNs (HTTP/2 over TLS with a test CA).

mod support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::join_all;
use serde_json::json;
use support::*;
use tapprove_protocol::{Es256Signer as _, SoftwareKey};
use tapprove_push::{ApnsSender, PushConfig, PushOutcome, PushSender as _, RetryConfig};

struct Setup {
    mock: MockApns,
    files: Files,
    sender: ApnsSender,
    _pki: TestPki,
}

fn setup_with(configure: impl FnOnce(&mut PushConfig)) -> Setup {
    let pki = TestPki::new();
    let key = SoftwareKey::generate().expect("key");
    let mock = MockApns::start(&pki, key.public_key(), true);
    let files = Files::new(&pki, &key, None);
    let mut config = push_config(&files, Some(&mock), None);
    configure(&mut config);
    let sender = config
        .apns_sender()
        .expect("valid config")
        .expect("apns configured");
    Setup {
        mock,
        files,
        sender,
        _pki: pki,
    }
}

fn setup() -> Setup {
    setup_with(|_| {})
}

fn failed_reason(outcome: &PushOutcome) -> &str {
    match outcome {
        PushOutcome::Failed { reason } => reason,
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_with_the_documented_headers_jwt_and_payload() {
    let s = setup();
    let token = apns_token(1);
    let msg = message(120);
    let outcome = s.sender.send(&apns_target("dev-1", &token), &msg).await;
    assert_eq!(outcome, PushOutcome::Delivered);

    let records = s.mock.records();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.version, hyper::Version::HTTP_2);
    assert_eq!(r.token, token);
    assert_eq!(r.headers["apns-topic"], TOPIC);
    assert_eq!(r.headers["apns-push-type"], "alert");
    assert_eq!(r.headers["apns-priority"], "10");
    assert_eq!(r.headers["apns-expiration"], msg.expires_at.to_string());
    assert_eq!(r.headers["apns-collapse-id"], msg.collapse_id);
    assert_eq!(r.headers["apns-id"].len(), 36);
    assert_eq!(
        r.payload,
        json!({"aps": {"alert": {"title": msg.title, "body": msg.body}, "category": "TAPPROVE_LOGIN",
                       "mutable-content": 1}, "tapprove": msg.challenge})
    );
    assert!(r.payload_len <= 4096);
    // The mock verified the JWT signature; check its claims are fresh too.
    let claims: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(r.jwt.split('.').nth(1).expect("claims"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(claims["iss"], TEAM_ID);
    assert!((claims["iat"].as_i64().expect("iat") - unix_now()).abs() <= 5);
    drop(s.files);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_share_one_connection_and_one_provider_token() {
    let s = setup();
    let msg = message(120);
    let targets: Vec<_> = (0..200u8)
        .map(|i| apns_target(&format!("dev-{i}"), &apns_token(i)))
        .collect();
    let outcomes = join_all(targets.iter().map(|t| s.sender.send(t, &msg))).await;
    assert!(
        outcomes.iter().all(|o| *o == PushOutcome::Delivered),
        "{outcomes:?}"
    );
    assert_eq!(s.mock.records().len(), 200);
    assert_eq!(
        s.mock.connections(),
        1,
        "one HTTP/2 connection for all sends"
    );
    assert_eq!(
        s.mock.distinct_provider_tokens(),
        1,
        "the provider token is cached, not minted per request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_device_token_and_wrong_topic_are_dead_tokens() {
    let s = setup();
    let msg = message(120);
    for (n, reason) in [(1u8, "BadDeviceToken"), (2, "DeviceTokenNotForTopic")] {
        let token = apns_token(n);
        s.mock.script(
            &token,
            vec![ApnsReply::Error {
                status: 400,
                reason,
                timestamp_ms: None,
            }],
        );
        let outcome = s.sender.send(&apns_target("dev", &token), &msg).await;
        assert_eq!(
            outcome,
            PushOutcome::DeadToken {
                reason: reason.into()
            }
        );
        assert_eq!(
            s.mock.requests_for(&token),
            1,
            "a dead token is not retried"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_kills_only_tokens_registered_before_apns_saw_them_die() {
    let s = setup();
    let msg = message(120);
    let token = apns_token(3);
    let now_ms = unix_now() * 1000;

    // Registered an hour ago, unregistered a minute ago: dead.
    s.mock.script(
        &token,
        vec![ApnsReply::Error {
            status: 410,
            reason: "Unregistered",
            timestamp_ms: Some(now_ms - 60_000),
        }],
    );
    let outcome = s.sender.send(&apns_target("dev", &token), &msg).await;
    assert_eq!(
        outcome,
        PushOutcome::DeadToken {
            reason: "Unregistered".into()
        }
    );

    // Re-registered after APNs' timestamp: keep the token, report the push failed.
    s.mock.script(
        &token,
        vec![ApnsReply::Error {
            status: 410,
            reason: "Unregistered",
            timestamp_ms: Some(now_ms - 7_200_000),
        }],
    );
    let outcome = s.sender.send(&apns_target("dev", &token), &msg).await;
    assert!(
        failed_reason(&outcome).contains("keeping it"),
        "{outcome:?}"
    );
    assert_eq!(s.mock.requests_for(&token), 2, "410 is never retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_provider_token_is_replaced_once() {
    let s = setup();
    let msg = message(120);
    let token = apns_token(4);
    s.mock.script(&token, vec![ApnsReply::ExpireProviderToken]);
    let outcome = s.sender.send(&apns_target("dev", &token), &msg).await;
    assert_eq!(outcome, PushOutcome::Delivered);
    assert_eq!(s.mock.requests_for(&token), 2);
    assert_eq!(s.mock.distinct_provider_tokens(), 2, "a new JWT was minted");

    // Refused again with the fresh JWT: stop, do not loop.
    let token = apns_token(5);
    s.mock.script(
        &token,
        vec![
            ApnsReply::ExpireProviderToken,
            ApnsReply::ExpireProviderToken,
        ],
    );
    let outcome = s.sender.send(&apns_target("dev", &token), &msg).await;
    assert!(
        failed_reason(&outcome).contains("ExpiredProviderToken"),
        "{outcome:?}"
    );
    assert_eq!(s.mock.requests_for(&token), 2);

    // Other devices keep working with the current token.
    let outcome = s
        .sender
        .send(&apns_target("dev", &apns_token(6)), &msg)
        .await;
    assert_eq!(outcome, PushOutcome::Delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_goaway_the_sender_reconnects() {
    let s = setup();
    let msg = message(120);
    assert_eq!(
        s.sender
            .send(&apns_target("dev", &apns_token(20)), &msg)
            .await,
        PushOutcome::Delivered
    );
    assert_eq!(s.mock.connections(), 1);
    s.mock.goaway();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        s.sender
            .send(&apns_target("dev", &apns_token(21)), &msg)
            .await,
        PushOutcome::Delivered
    );
    assert_eq!(s.mock.connections(), 2, "a new connection after GOAWAY");
    assert_eq!(s.mock.records().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_apns_does_not_know_is_a_configuration_error_without_retry() {
    // The sender signs with a different key than the one APNs has for KEY_ID.
    let pki = TestPki::new();
    let registered = SoftwareKey::generate().expect("key");
    let other = SoftwareKey::generate().expect("key");
    let mock = MockApns::start(&pki, registered.public_key(), true);
    let files = Files::new(&pki, &other, None);
    let sender = push_config(&files, Some(&mock), None)
        .apns_sender()
        .expect("config")
        .expect("apns");
    let token = apns_token(7);
    let outcome = sender
        .send(&apns_target("dev", &token), &message(120))
        .await;
    let reason = failed_reason(&outcome);
    assert!(
        reason.contains("InvalidProviderToken") && reason.contains("key_id"),
        "{reason}"
    );
    assert_eq!(mock.requests_for(&token), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_provider_token_updates_stops() {
    let s = setup();
    let token = apns_token(8);
    s.mock.script(
        &token,
        vec![ApnsReply::Error {
            status: 429,
            reason: "TooManyProviderTokenUpdates",
            timestamp_ms: None,
        }],
    );
    let outcome = s
        .sender
        .send(&apns_target("dev", &token), &message(120))
        .await;
    assert!(
        failed_reason(&outcome).contains("configuration"),
        "{outcome:?}"
    );
    assert_eq!(s.mock.requests_for(&token), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_are_retried_with_backoff() {
    let s = setup();
    let token = apns_token(9);
    s.mock.script(
        &token,
        vec![
            ApnsReply::Error {
                status: 429,
                reason: "TooManyRequests",
                timestamp_ms: None,
            },
            ApnsReply::Error {
                status: 500,
                reason: "InternalServerError",
                timestamp_ms: None,
            },
            ApnsReply::Error {
                status: 503,
                reason: "Shutdown",
                timestamp_ms: None,
            },
        ],
    );
    let start = Instant::now();
    let outcome = s
        .sender
        .send(&apns_target("dev", &token), &message(120))
        .await;
    assert_eq!(outcome, PushOutcome::Delivered);
    assert_eq!(s.mock.requests_for(&token), 4);
    // Backoffs of at least 10 + 20 + 40 ms (half of 20, 40, 80 with jitter).
    assert!(
        start.elapsed() >= Duration::from_millis(70),
        "{:?}",
        start.elapsed()
    );
    // The retries reuse one apns-id.
    let ids = s.mock.apns_ids_for(&token);
    assert_eq!(ids.len(), 4);
    assert!(
        ids.iter().all(|id| id.len() == 36 && *id == ids[0]),
        "{ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_at_the_session_deadline() {
    let s = setup_with(|c| {
        c.retry = RetryConfig {
            max_attempts: 10,
            initial_backoff_ms: 400,
            max_backoff_ms: 1000,
            request_timeout_ms: 5000,
        }
    });
    let token = apns_token(10);
    s.mock.always(
        &token,
        ApnsReply::Error {
            status: 503,
            reason: "ServiceUnavailable",
            timestamp_ms: None,
        },
    );
    let msg = message(2);
    let start = Instant::now();
    let outcome = s.sender.send(&apns_target("dev", &token), &msg).await;
    let elapsed = start.elapsed();
    assert!(
        failed_reason(&outcome).contains("ServiceUnavailable"),
        "{outcome:?}"
    );
    assert!(
        elapsed < Duration::from_millis(2600),
        "stopped by the deadline: {elapsed:?}"
    );
    let tries = s.mock.requests_for(&token);
    assert!(
        (2..10).contains(&tries),
        "retried within the deadline only: {tries}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_client_errors_are_never_retried() {
    let s = setup();
    let msg = message(120);
    for (n, status, reason) in [
        (11u8, 400, "BadCollapseId"),
        (12, 413, "PayloadTooLarge"),
        (13, 405, "MethodNotAllowed"),
        (14, 404, "BadPath"),
    ] {
        let token = apns_token(n);
        s.mock.script(
            &token,
            vec![ApnsReply::Error {
                status,
                reason,
                timestamp_ms: None,
            }],
        );
        let outcome = s.sender.send(&apns_target("dev", &token), &msg).await;
        assert!(failed_reason(&outcome).contains(reason), "{outcome:?}");
        assert_eq!(s.mock.requests_for(&token), 1, "{reason} is not retried");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tokens_and_expired_sessions_are_not_sent() {
    let s = setup();
    let outcome = s
        .sender
        .send(&apns_target("dev", "not/hex/../token"), &message(120))
        .await;
    assert!(
        matches!(outcome, PushOutcome::DeadToken { ref reason } if reason.contains("BadDeviceToken")),
        "{outcome:?}"
    );
    let outcome = s
        .sender
        .send(&apns_target("dev", &apns_token(15)), &message(-1))
        .await;
    assert!(failed_reason(&outcome).contains("expired"), "{outcome:?}");
    assert_eq!(
        s.mock
            .state
            .requests
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_notification_text_is_shortened_to_fit_4096_bytes() {
    let s = setup();
    let mut msg = message(120);
    msg.body = "Ünïcödé and \"quotes\" ".repeat(200);
    let outcome = s
        .sender
        .send(&apns_target("dev", &apns_token(16)), &msg)
        .await;
    assert_eq!(outcome, PushOutcome::Delivered);
    let r = &s.mock.records()[0];
    assert!(r.payload_len <= 4096, "{}", r.payload_len);
    assert_eq!(
        r.payload["tapprove"], msg.challenge,
        "the signed challenge is never cut"
    );
    assert!(
        r.payload["aps"]["alert"]["body"]
            .as_str()
            .expect("body")
            .ends_with('…')
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_endpoint_certificate_fails_with_the_cause() {
    // Without `ca_file` only the public web roots are trusted: the test CA is not.
    let s = setup_with(|c| {
        c.ca_file = None;
        c.retry = RetryConfig {
            max_attempts: 2,
            initial_backoff_ms: 10,
            max_backoff_ms: 10,
            request_timeout_ms: 2000,
        };
    });
    let outcome = s
        .sender
        .send(&apns_target("dev", &apns_token(17)), &message(120))
        .await;
    let reason = failed_reason(&outcome);
    eprintln!("untrusted endpoint: {reason}");
    assert!(
        reason.to_lowercase().contains("certificate") || reason.contains("UnknownIssuer"),
        "{reason}"
    );
    assert!(
        !reason.contains(&apns_token(17)),
        "the device token stays out of error text"
    );
}

// ---------------------------------------------------------------------------------------------
// The loopback endpoint itself enforces the contract (so the tests above prove something).

fn raw_client(pki: &TestPki) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .http2_prior_knowledge()
        .build()
        .expect("client")
}

use rustls::pki_types::pem::PemObject as _;

fn jwt(key: &SoftwareKey, header: serde_json::Value, claims: serde_json::Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key.sign(input.as_bytes()).expect("sign");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loopback_apns_refuses_each_contract_violation() {
    let pki = TestPki::new();
    let key = SoftwareKey::generate().expect("key");
    let mock = MockApns::start(&pki, key.public_key(), true);
    let client = raw_client(&pki);
    let now = unix_now();
    let good_jwt = jwt(
        &key,
        json!({"alg": "ES256", "kid": KEY_ID}),
        json!({"iss": TEAM_ID, "iat": now}),
    );
    let good_body =
        json!({"aps": {"alert": {"title": "t", "body": "b"}, "category": "TAPPROVE_LOGIN",
                                   "mutable-content": 1}, "tapprove": "x.y.z"})
        .to_string();
    let url = format!("{}/3/device/{}", mock.url, apns_token(1));

    let send = |auth: Option<String>, headers: Vec<(&'static str, String)>, body: String| {
        let mut req = client.post(&url).body(body);
        if let Some(a) = auth {
            req = req.header("authorization", format!("bearer {a}"));
        }
        for (n, v) in headers {
            req = req.header(n, v);
        }
        async move {
            let resp = req.send().await.expect("send");
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
            (status, body["reason"].as_str().unwrap_or("").to_owned())
        }
    };
    let full = || {
        vec![
            ("apns-topic", TOPIC.to_owned()),
            ("apns-push-type", "alert".to_owned()),
            ("apns-priority", "10".to_owned()),
            ("apns-expiration", (now + 60).to_string()),
        ]
    };
    let without = |name: &str| {
        full()
            .into_iter()
            .filter(|(n, _)| *n != name)
            .collect::<Vec<_>>()
    };
    let with = |name: &'static str, value: &str| {
        let mut h = without(name);
        h.push((name, value.to_owned()));
        h
    };

    assert_eq!(
        send(Some(good_jwt.clone()), full(), good_body.clone()).await,
        (200, String::new())
    );
    assert_eq!(
        send(None, full(), good_body.clone()).await,
        (403, "MissingProviderToken".into())
    );
    let other = SoftwareKey::generate().expect("key");
    let forged = jwt(
        &other,
        json!({"alg": "ES256", "kid": KEY_ID}),
        json!({"iss": TEAM_ID, "iat": now}),
    );
    assert_eq!(
        send(Some(forged), full(), good_body.clone()).await,
        (403, "InvalidProviderToken".into())
    );
    let wrong_kid = jwt(
        &key,
        json!({"alg": "ES256", "kid": "ZZZZZ99999"}),
        json!({"iss": TEAM_ID, "iat": now}),
    );
    assert_eq!(
        send(Some(wrong_kid), full(), good_body.clone()).await,
        (403, "InvalidProviderToken".into())
    );
    let stale = jwt(
        &key,
        json!({"alg": "ES256", "kid": KEY_ID}),
        json!({"iss": TEAM_ID, "iat": now - 3700}),
    );
    assert_eq!(
        send(Some(stale), full(), good_body.clone()).await,
        (403, "ExpiredProviderToken".into())
    );
    let g = || Some(good_jwt.clone());
    assert_eq!(
        send(g(), without("apns-topic"), good_body.clone()).await,
        (400, "MissingTopic".into())
    );
    assert_eq!(
        send(g(), with("apns-topic", "com.other"), good_body.clone()).await,
        (400, "BadTopic".into())
    );
    assert_eq!(
        send(g(), with("apns-push-type", "background"), good_body.clone()).await,
        (400, "InvalidPushType".into())
    );
    assert_eq!(
        send(g(), with("apns-priority", "5"), good_body.clone()).await,
        (400, "BadPriority".into())
    );
    assert_eq!(
        send(g(), without("apns-expiration"), good_body.clone()).await,
        (400, "BadExpirationDate".into())
    );
    assert_eq!(
        send(
            g(),
            with("apns-collapse-id", &"c".repeat(65)),
            good_body.clone()
        )
        .await,
        (400, "BadCollapseId".into())
    );
    assert_eq!(
        send(g(), with("apns-id", "not-a-uuid"), good_body.clone()).await,
        (400, "BadMessageId".into())
    );
    assert_eq!(
        send(g(), full(), "x".repeat(4097)).await,
        (413, "PayloadTooLarge".into())
    );
    assert_eq!(
        send(g(), full(), json!({"aps": {"alert": "hi"}}).to_string()).await,
        (400, "PayloadNotTapprove".into())
    );

    // HTTP/1.1 is refused at the TLS layer (ALPN h2 only), as APNs requires HTTP/2.
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let h1 = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .http1_only()
        .build()
        .expect("client");
    assert!(
        h1.post(&url).body(good_body).send().await.is_err(),
        "HTTP/1.1 must not be served"
    );
}
