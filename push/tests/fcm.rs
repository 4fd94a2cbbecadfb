//! FCM sender against the loopback FCM and OAuth2 token endpoint (TLS with a test CA).

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;
use support::*;
use tapprove_push::{FcmSender, PushConfig, PushOutcome, PushSender as _, RetryConfig};

struct Setup {
    mock: MockFcm,
    sender: FcmSender,
    _files: Files,
    _pki: TestPki,
}

fn setup_with(configure: impl FnOnce(&mut PushConfig, &MockFcm)) -> Setup {
    let pki = TestPki::new();
    let mock = MockFcm::start(&pki);
    let key = tapprove_protocol::SoftwareKey::generate().expect("key");
    // The token URI comes from the service-account file, as Google issues it.
    let files = Files::new(&pki, &key, Some(&mock.token_url));
    let mut config = push_config(&files, None, Some(&mock));
    configure(&mut config, &mock);
    let sender = config
        .fcm_sender()
        .expect("valid config")
        .expect("fcm configured");
    Setup {
        mock,
        sender,
        _files: files,
        _pki: pki,
    }
}

fn setup() -> Setup {
    setup_with(|_, _| {})
}

fn failed_reason(outcome: &PushOutcome) -> &str {
    match outcome {
        PushOutcome::Failed { reason } => reason,
        other => panic!("expected Failed, got {other:?}"),
    }
}

fn error(http: u16, status: &'static str, code: Option<&'static str>) -> FcmReply {
    FcmReply::Error {
        http,
        status,
        code,
        retry_after: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_a_data_only_high_priority_message_with_ttl_and_collapse_key() {
    let s = setup();
    let token = fcm_token(1);
    let msg = message(120);
    let outcome = s.sender.send(&fcm_target("dev-1", &token), &msg).await;
    assert_eq!(outcome, PushOutcome::Delivered);

    let records = s.mock.records();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        r.version,
        hyper::Version::HTTP_2,
        "HTTP/2 negotiated by ALPN"
    );
    let m = &r.body["message"];
    assert_eq!(m["token"], token);
    assert_eq!(
        m["data"],
        json!({"tapprove": msg.challenge, "title": msg.title, "body": msg.body})
    );
    assert!(m.get("notification").is_none(), "data-only");
    assert_eq!(m["android"]["priority"], "high");
    assert_eq!(m["android"]["collapse_key"], msg.collapse_id);
    let ttl: i64 = m["android"]["ttl"]
        .as_str()
        .expect("ttl")
        .trim_end_matches('s')
        .parse()
        .expect("seconds");
    assert!((115..=120).contains(&ttl), "ttl = seconds left: {ttl}");
    assert!(r.data_len <= 4096);

    // The assertion the token endpoint verified (RS256 signature checked there).
    let grants = s.mock.grants();
    assert_eq!(grants.len(), 1);
    let g = &grants[0];
    assert_eq!(
        g.header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "0123456789abcdef"})
    );
    assert_eq!(g.claims["iss"], CLIENT_EMAIL);
    assert_eq!(g.claims["scope"], FCM_SCOPE);
    assert_eq!(g.claims["aud"], s.mock.token_url);
    let (iat, exp) = (
        g.claims["iat"].as_i64().expect("iat"),
        g.claims["exp"].as_i64().expect("exp"),
    );
    assert!((iat - unix_now()).abs() <= 5 && exp - iat == 3600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_access_token_serves_concurrent_sends() {
    let s = setup();
    let msg = message(120);
    let targets: Vec<_> = (0..50u8)
        .map(|i| fcm_target(&format!("dev-{i}"), &fcm_token(i)))
        .collect();
    let outcomes = join_all(targets.iter().map(|t| s.sender.send(t, &msg))).await;
    assert!(
        outcomes.iter().all(|o| *o == PushOutcome::Delivered),
        "{outcomes:?}"
    );
    assert_eq!(
        s.mock.token_requests(),
        1,
        "one token fetch, shared by all concurrent sends"
    );
    assert_eq!(s.mock.records().len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_token_is_refreshed_five_minutes_before_it_expires() {
    let s = setup();
    let msg = message(120);
    // Lives 301 s: usable for 1 s, then due for refresh.
    s.mock.state.expires_in.store(301, Ordering::SeqCst);
    assert_eq!(
        s.sender.send(&fcm_target("d", &fcm_token(1)), &msg).await,
        PushOutcome::Delivered
    );
    assert_eq!(
        s.sender.send(&fcm_target("d", &fcm_token(1)), &msg).await,
        PushOutcome::Delivered
    );
    assert_eq!(s.mock.token_requests(), 1, "still fresh");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.mock.state.expires_in.store(3599, Ordering::SeqCst);
    assert_eq!(
        s.sender.send(&fcm_target("d", &fcm_token(1)), &msg).await,
        PushOutcome::Delivered
    );
    assert_eq!(s.mock.token_requests(), 2, "refreshed 5 minutes early");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_refreshes_the_access_token_once() {
    let s = setup();
    let msg = message(120);
    let token = fcm_token(2);
    s.mock.script(&token, vec![FcmReply::RevokeAccessToken]);
    assert_eq!(
        s.sender.send(&fcm_target("d", &token), &msg).await,
        PushOutcome::Delivered
    );
    assert_eq!(s.mock.token_requests(), 2);
    assert_eq!(s.mock.requests_for(&token), 2);

    let token = fcm_token(3);
    s.mock.script(
        &token,
        vec![FcmReply::RevokeAccessToken, FcmReply::RevokeAccessToken],
    );
    let outcome = s.sender.send(&fcm_target("d", &token), &msg).await;
    assert!(
        failed_reason(&outcome).contains("UNAUTHENTICATED"),
        "{outcome:?}"
    );
    assert_eq!(
        s.mock.requests_for(&token),
        2,
        "refreshed once, not in a loop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_and_sender_id_mismatch_are_dead_tokens() {
    let s = setup();
    let msg = message(120);
    for (n, http, status, code) in [
        (4u8, 404, "NOT_FOUND", "UNREGISTERED"),
        (5, 403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
    ] {
        let token = fcm_token(n);
        s.mock.script(&token, vec![error(http, status, Some(code))]);
        let outcome = s.sender.send(&fcm_target("d", &token), &msg).await;
        assert_eq!(
            outcome,
            PushOutcome::DeadToken {
                reason: code.into()
            }
        );
        assert_eq!(s.mock.requests_for(&token), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_argument_and_third_party_auth_errors_are_not_retried() {
    let s = setup();
    let msg = message(120);
    for (n, http, status, code) in [
        (6u8, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
        (7, 401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"),
        (8, 403, "PERMISSION_DENIED", "PERMISSION_DENIED"),
    ] {
        let token = fcm_token(n);
        s.mock.script(&token, vec![error(http, status, Some(code))]);
        let outcome = s.sender.send(&fcm_target("d", &token), &msg).await;
        assert!(failed_reason(&outcome).contains(code), "{outcome:?}");
        assert_eq!(s.mock.requests_for(&token), 1, "{code} is not retried");
    }
    assert_eq!(
        s.mock.token_requests(),
        1,
        "THIRD_PARTY_AUTH_ERROR does not refresh the token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_exceeded_honours_retry_after_and_server_errors_back_off() {
    let s = setup();
    let msg = message(120);
    let token = fcm_token(9);
    s.mock.script(
        &token,
        vec![FcmReply::Error {
            http: 429,
            status: "RESOURCE_EXHAUSTED",
            code: Some("QUOTA_EXCEEDED"),
            retry_after: Some(1),
        }],
    );
    let start = Instant::now();
    assert_eq!(
        s.sender.send(&fcm_target("d", &token), &msg).await,
        PushOutcome::Delivered
    );
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "waited Retry-After: {:?}",
        start.elapsed()
    );
    assert_eq!(s.mock.requests_for(&token), 2);

    let token = fcm_token(10);
    s.mock.script(
        &token,
        vec![
            error(503, "UNAVAILABLE", Some("UNAVAILABLE")),
            error(500, "INTERNAL", Some("INTERNAL")),
        ],
    );
    assert_eq!(
        s.sender.send(&fcm_target("d", &token), &msg).await,
        PushOutcome::Delivered
    );
    assert_eq!(s.mock.requests_for(&token), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_beyond_the_session_fails_at_once() {
    let s = setup();
    let token = fcm_token(11);
    s.mock.always(
        &token,
        FcmReply::Error {
            http: 429,
            status: "RESOURCE_EXHAUSTED",
            code: Some("QUOTA_EXCEEDED"),
            retry_after: Some(600),
        },
    );
    let start = Instant::now();
    let outcome = s.sender.send(&fcm_target("d", &token), &message(30)).await;
    assert!(
        failed_reason(&outcome).contains("no time left"),
        "{outcome:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(s.mock.requests_for(&token), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_at_the_session_deadline() {
    let s = setup_with(|c, _| {
        c.retry = RetryConfig {
            max_attempts: 10,
            initial_backoff_ms: 400,
            max_backoff_ms: 1000,
            request_timeout_ms: 5000,
        }
    });
    let token = fcm_token(12);
    s.mock
        .always(&token, error(503, "UNAVAILABLE", Some("UNAVAILABLE")));
    let start = Instant::now();
    let outcome = s.sender.send(&fcm_target("d", &token), &message(2)).await;
    assert!(
        failed_reason(&outcome).contains("UNAVAILABLE"),
        "{outcome:?}"
    );
    assert!(
        start.elapsed() < Duration::from_millis(2600),
        "{:?}",
        start.elapsed()
    );
    assert!((2..10).contains(&s.mock.requests_for(&token)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_service_account_key_fails_clearly_and_a_flaky_token_endpoint_is_retried() {
    let s = setup();
    let msg = message(120);
    s.mock.script_token_endpoint(vec![(
        400,
        json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
    )]);
    let outcome = s.sender.send(&fcm_target("d", &fcm_token(13)), &msg).await;
    let reason = failed_reason(&outcome);
    assert!(
        reason.contains("invalid_grant") && reason.contains("service_account_path"),
        "{reason}"
    );
    assert_eq!(
        s.mock.state.sends.load(Ordering::SeqCst),
        0,
        "nothing sent without a token"
    );
    assert_eq!(s.mock.token_requests(), 1, "invalid_grant is not retried");

    s.mock
        .script_token_endpoint(vec![(503, json!({"error": "temporarily_unavailable"}))]);
    assert_eq!(
        s.sender.send(&fcm_target("d", &fcm_token(13)), &msg).await,
        PushOutcome::Delivered
    );
    assert_eq!(s.mock.token_requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_uri_override_wins_over_the_key_file() {
    let s = setup_with(|c, mock| {
        let dir = c
            .fcm
            .as_ref()
            .expect("fcm")
            .service_account_path
            .parent()
            .expect("dir")
            .to_owned();
        let path = dir.join("sa-google.json");
        std::fs::write(
            &path,
            service_account_json(Some("https://oauth2.googleapis.com/token")).to_string(),
        )
        .expect("write");
        let fcm = c.fcm.as_mut().expect("fcm");
        fcm.service_account_path = path;
        fcm.token_uri = Some(mock.token_url.clone());
    });
    assert_eq!(
        s.sender
            .send(&fcm_target("d", &fcm_token(14)), &message(60))
            .await,
        PushOutcome::Delivered
    );
    assert_eq!(s.mock.grants()[0].claims["aud"], s.mock.token_url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tokens_and_long_text() {
    let s = setup();
    let outcome = s.sender.send(&fcm_target("d", ""), &message(60)).await;
    assert!(
        matches!(outcome, PushOutcome::DeadToken { .. }),
        "{outcome:?}"
    );
    let outcome = s
        .sender
        .send(&fcm_target("d", "has space"), &message(60))
        .await;
    assert!(
        matches!(outcome, PushOutcome::DeadToken { .. }),
        "{outcome:?}"
    );
    assert_eq!(s.mock.state.sends.load(Ordering::SeqCst), 0);

    let mut msg = message(60);
    msg.body = "é".repeat(3000);
    assert_eq!(
        s.sender.send(&fcm_target("d", &fcm_token(15)), &msg).await,
        PushOutcome::Delivered
    );
    let r = &s.mock.records()[0];
    assert!(r.data_len <= 4096, "{}", r.data_len);
    assert_eq!(r.body["message"]["data"]["tapprove"], msg.challenge);
}

// The loopback endpoints enforce the contract themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loopback_fcm_refuses_each_contract_violation() {
    let s = setup();
    // Get a valid access token the way the sender does, then break one rule at a time.
    assert_eq!(
        s.sender
            .send(&fcm_target("d", &fcm_token(1)), &message(60))
            .await,
        PushOutcome::Delivered
    );
    let pki_ca = std::fs::read(&s._files.ca_file).expect("ca");
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject as _;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pki_ca) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("client");

    // Token endpoint: a forged assertion is refused.
    let forged = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl";
    let resp = client
        .post(&s.mock.token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={forged}"
        ))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(
        resp.json::<serde_json::Value>().await.expect("json")["error"],
        "invalid_grant"
    );

    let url = format!("{}/v1/projects/{PROJECT_ID}/messages:send", s.mock.url);
    let good = json!({"message": {"token": fcm_token(1), "data": {"tapprove": "a.b.c", "title": "t", "body": "b"},
                      "android": {"priority": "high", "ttl": "60s", "collapse_key": "ses_1"}}});
    let resp = client.post(&url).json(&good).send().await.expect("send");
    assert_eq!(resp.status().as_u16(), 401, "no access token");
    let resp = client
        .post(&url)
        .bearer_auth("ya29.forged")
        .json(&good)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 401, "unknown access token");
    assert_eq!(
        s.mock.records().len(),
        1,
        "nothing accepted without a valid token"
    );

    // A genuine access token, obtained with a correctly signed assertion.
    let access = access_token(&client, &s.mock.token_url).await;
    let send = |body: serde_json::Value| {
        let req = client.post(&url).bearer_auth(&access).json(&body);
        async move { req.send().await.expect("send").status().as_u16() }
    };
    assert_eq!(send(good.clone()).await, 200);
    let mut with_notification = good.clone();
    with_notification["message"]["notification"] = json!({"title": "t"});
    assert_eq!(
        send(with_notification).await,
        400,
        "login prompts are data-only"
    );
    let mut number = good.clone();
    number["message"]["data"]["title"] = json!(1);
    assert_eq!(send(number).await, 400, "data values are strings");
    let mut reserved = good.clone();
    reserved["message"]["data"]["from"] = json!("x");
    assert_eq!(send(reserved).await, 400, "reserved data key");
    let mut normal = good.clone();
    normal["message"]["android"]["priority"] = json!("normal");
    assert_eq!(send(normal).await, 400, "high priority");
    let mut ttl = good.clone();
    ttl["message"]["android"]["ttl"] = json!("60");
    assert_eq!(send(ttl).await, 400, "ttl is a duration string");
    let mut no_collapse = good.clone();
    no_collapse["message"]["android"]
        .as_object_mut()
        .expect("obj")
        .remove("collapse_key");
    assert_eq!(send(no_collapse).await, 400, "collapse key");
    let mut big = good.clone();
    big["message"]["data"]["body"] = json!("x".repeat(4096));
    assert_eq!(send(big).await, 400, "data over 4096 bytes");
}

async fn access_token(client: &reqwest::Client, token_url: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use rustls::pki_types::pem::PemObject as _;
    let pem = include_str!("fixtures/fcm-test-only-rsa-key.pem");
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).expect("pem");
    let key = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("rsa");
    let now = unix_now();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string()),
        URL_SAFE_NO_PAD.encode(
            json!({"iss": CLIENT_EMAIL, "scope": FCM_SCOPE, "aud": token_url, "iat": now, "exp": now + 3600}).to_string()
        )
    );
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    let assertion = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig));
    let resp = client
        .post(token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
        ))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json::<serde_json::Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned()
}
