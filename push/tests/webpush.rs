//! Web Push sender against the loopback push service (`support::webpush`), which enforces the
//! UnifiedPush server contract and decrypts every message independently of the sender.

mod support;

use std::time::{Duration, Instant};

use support::webpush::{MockWebPush, TestSubscription, WpReply, webpush_config};
use support::*;
use tapprove_protocol::Es256Signer as _;
use tapprove_protocol::api::PushPlatform;
use tapprove_push::{
    PushConfig, PushOutcome, PushSender as _, Router, SealedChallenge, WebPushSender,
};

struct Setup {
    mock: MockWebPush,
    sender: WebPushSender,
    vapid_public: String,
    _dir: tempfile::TempDir,
    _pki: TestPki,
}

fn setup_with(configure: impl FnOnce(&mut PushConfig)) -> Setup {
    let pki = TestPki::new();
    let mock = MockWebPush::start(&pki);
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).expect("ca");
    let (webpush, key) = webpush_config(dir.path());
    let mut config = PushConfig {
        webpush: Some(webpush),
        ca_file: Some(ca_file),
        retry: fast_retry(),
        ..PushConfig::default()
    };
    configure(&mut config);
    let sender = config.webpush_sender().expect("valid").expect("configured");
    let vapid_public = key.public_key().to_base64url();
    Setup {
        mock,
        sender,
        vapid_public,
        _dir: dir,
        _pki: pki,
    }
}

fn setup() -> Setup {
    setup_with(|_| {})
}

async fn send(s: &Setup, sub: &TestSubscription, ttl: i64) -> PushOutcome {
    s.sender.send(&sub.target("acc_1"), &message(ttl)).await
}

#[tokio::test]
async fn a_push_is_encrypted_for_the_device_with_vapid_ttl_urgency_and_topic() {
    let s = setup();
    let sub = s.mock.subscribe_for(Some(&s.vapid_public));
    let msg = message(120);
    assert_eq!(
        s.sender.send(&sub.target("acc_1"), &msg).await,
        PushOutcome::Delivered,
        "{:?}",
        s.mock.refusals()
    );
    let records = s.mock.records_for(&sub);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    // The FCM data map, which the app hands to the core as it does an FCM message.
    assert_eq!(r.plaintext["tapprove"], msg.challenge.as_str());
    assert_eq!(r.plaintext["title"], msg.title.as_str());
    assert!((110..=120).contains(&r.ttl), "TTL {}", r.ttl);
    assert_eq!(r.urgency.as_deref(), Some("high"));
    assert_eq!(r.topic.as_deref(), Some(msg.collapse_id.as_str()));
    assert_eq!(r.content_type.as_deref(), Some("application/octet-stream"));
    assert!(r.body.len() <= 4096);
    // The VAPID public key the app registered with is the one the sender reports for pairing.
    assert_eq!(
        tapprove_push::PushSender::vapid_public_key(&s.sender).as_deref(),
        Some(s.vapid_public.as_str())
    );
}

#[tokio::test]
async fn a_sealed_push_shows_the_distributor_nothing_and_long_text_stays_within_4096() {
    let s = setup();
    let sub = s.mock.subscribe();
    let mut msg = message(120);
    msg.sealed = Some(SealedChallenge {
        account_id: "acc_1".into(),
        sealed: "c2VhbGVk".into(),
    });
    assert_eq!(
        s.sender.send(&sub.target("acc_1"), &msg).await,
        PushOutcome::Delivered
    );
    let plain = &s.mock.records_for(&sub)[0].plaintext;
    assert_eq!(plain["tapprove_sealed"], "c2VhbGVk");
    assert_eq!(plain["account"], "acc_1");
    assert_eq!(plain["title"], tapprove_push::SEALED_ALERT_TITLE);
    assert!(plain.get("tapprove").is_none());

    let mut long = message(120);
    long.body = "é".repeat(5000);
    assert_eq!(
        s.sender.send(&sub.target("acc_1"), &long).await,
        PushOutcome::Delivered
    );
    let r = s.mock.records_for(&sub).pop().expect("record");
    assert!(r.body.len() <= 4096, "{} bytes", r.body.len());
    assert_eq!(r.plaintext["tapprove"], long.challenge.as_str());
    assert!(r.plaintext["body"].as_str().expect("body").ends_with('…'));
}

#[tokio::test]
async fn created_and_accepted_are_delivered() {
    let s = setup();
    let sub = s.mock.subscribe();
    s.mock.script(&sub, vec![WpReply::Status(202)]);
    assert_eq!(send(&s, &sub, 60).await, PushOutcome::Delivered);
    assert_eq!(send(&s, &sub, 60).await, PushOutcome::Delivered); // default 201
    assert_eq!(s.mock.requests_for(&sub.id), 2);
}

#[tokio::test]
async fn gone_and_not_found_drop_the_registration() {
    let s = setup();
    for status in [404, 410] {
        let sub = s.mock.subscribe();
        s.mock.script(&sub, vec![WpReply::Status(status)]);
        let outcome = send(&s, &sub, 60).await;
        assert!(
            matches!(outcome, PushOutcome::DeadToken { ref reason } if reason.contains(&status.to_string())),
            "{outcome:?}"
        );
        assert_eq!(s.mock.requests_for(&sub.id), 1, "not retried");
    }
    // An endpoint the distributor forgot answers 410 itself.
    let sub = s.mock.subscribe();
    s.mock.unsubscribe(&sub);
    assert!(matches!(
        send(&s, &sub, 60).await,
        PushOutcome::DeadToken { .. }
    ));
}

#[tokio::test]
async fn too_large_is_a_failure_without_retry() {
    let s = setup();
    let sub = s.mock.subscribe();
    s.mock.script(&sub, vec![WpReply::Status(413)]);
    let outcome = send(&s, &sub, 60).await;
    assert!(
        matches!(outcome, PushOutcome::Failed { ref reason } if reason.contains("413")),
        "{outcome:?}"
    );
    assert_eq!(s.mock.requests_for(&sub.id), 1);
}

#[tokio::test]
async fn slow_down_waits_for_that_endpoint_only() {
    let s = setup();
    let slow = s.mock.subscribe();
    let other = s.mock.subscribe();
    s.mock.script(&slow, vec![WpReply::RetryAfter(429, 1)]);
    let start = Instant::now();
    let slow_send = async {
        let outcome = send(&s, &slow, 60).await;
        (outcome, start.elapsed())
    };
    let other_sends = async {
        // The slowed endpoint is asked first; the other one is pushed meanwhile, unaffected.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut times = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            assert_eq!(send(&s, &other, 60).await, PushOutcome::Delivered);
            times.push(t.elapsed());
        }
        times
    };
    let ((slow_outcome, slow_took), other_times) = tokio::join!(slow_send, other_sends);
    assert_eq!(slow_outcome, PushOutcome::Delivered);
    assert!(
        slow_took >= Duration::from_secs(1),
        "Retry-After honoured: {slow_took:?}"
    );
    assert_eq!(s.mock.requests_for(&slow.id), 2);
    assert!(
        other_times.iter().all(|t| *t < Duration::from_millis(800)),
        "{other_times:?}"
    );

    // A second push to the slowed endpoint during its wait waits too, rather than hammering it.
    s.mock.script(&slow, vec![WpReply::RetryAfter(429, 1)]);
    let first = send(&s, &slow, 60);
    let second = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t = Instant::now();
        let outcome = send(&s, &slow, 60).await;
        (outcome, t.elapsed())
    };
    let (a, (b, waited)) = tokio::join!(first, second);
    assert_eq!((a, b), (PushOutcome::Delivered, PushOutcome::Delivered));
    assert!(waited >= Duration::from_millis(600), "{waited:?}");
}

#[tokio::test]
async fn slow_down_past_the_session_expiry_fails_at_once() {
    let s = setup();
    let sub = s.mock.subscribe();
    s.mock.script(&sub, vec![WpReply::RetryAfter(429, 3600)]);
    let start = Instant::now();
    let outcome = send(&s, &sub, 30).await;
    assert!(
        matches!(outcome, PushOutcome::Failed { ref reason } if reason.contains("429")),
        "{outcome:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn server_errors_are_retried() {
    let s = setup();
    let sub = s.mock.subscribe();
    s.mock
        .script(&sub, vec![WpReply::Status(500), WpReply::Status(503)]);
    assert_eq!(send(&s, &sub, 60).await, PushOutcome::Delivered);
    assert_eq!(s.mock.requests_for(&sub.id), 3);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let s = setup();
    let sub = s.mock.subscribe();
    s.mock
        .script(&sub, vec![WpReply::Redirect("/push/elsewhere")]);
    let outcome = send(&s, &sub, 60).await;
    assert!(
        matches!(outcome, PushOutcome::Failed { ref reason } if reason.contains("redirect")),
        "{outcome:?}"
    );
    assert_eq!(s.mock.requests_for("elsewhere"), 0);
}

#[tokio::test]
async fn a_vapid_key_other_than_the_subscriptions_is_refused() {
    let s = setup();
    let other_key = tapprove_protocol::SoftwareKey::generate().expect("key");
    let sub = s
        .mock
        .subscribe_for(Some(&other_key.public_key().to_base64url()));
    let outcome = send(&s, &sub, 60).await;
    assert!(
        matches!(outcome, PushOutcome::Failed { ref reason } if reason.contains("403")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn loopback_endpoints_need_the_allow_list() {
    let s = setup_with(|c| c.webpush.as_mut().expect("webpush").allow_addresses.clear());
    let sub = s.mock.subscribe();
    // At send time: the literal address is refused without a request.
    let outcome = send(&s, &sub, 60).await;
    assert!(
        matches!(outcome, PushOutcome::DeadToken { .. }),
        "{outcome:?}"
    );
    assert_eq!(s.mock.total_requests(), 0);
    // At registration: the sender (and a router without Web Push configured) refuse it.
    let why =
        tapprove_push::PushSender::check_registration(&s.sender, PushPlatform::Webpush, &sub.token)
            .expect_err("refused");
    assert!(
        why.contains("loopback") && why.contains("allow_addresses"),
        "{why}"
    );
    assert!(
        Router::default()
            .check_registration(PushPlatform::Webpush, &sub.token)
            .is_err()
    );
    // A name that resolves to loopback is refused on the resolved address (the connection
    // never reaches the server either).
    let via_name = sub.token.replace("https://127.0.0.1", "https://localhost");
    assert!(
        Router::default()
            .check_registration(PushPlatform::Webpush, &via_name)
            .is_err()
    );

    let allowed = setup();
    let sub = allowed.mock.subscribe();
    tapprove_push::PushSender::check_registration(
        &allowed.sender,
        PushPlatform::Webpush,
        &sub.token,
    )
    .expect("admitted by the allow-list");
    // FCM/APNs tokens are not this sender's business.
    assert!(
        Router::default()
            .check_registration(PushPlatform::Fcm, "anything")
            .is_ok()
    );
}

#[tokio::test]
async fn a_malformed_registration_is_dead_without_a_request() {
    let s = setup();
    let mut target = s.mock.subscribe().target("acc_1");
    target.token =
        r#"{"endpoint":"https://127.0.0.1:1/push/x","keys":{"p256dh":"AAAA","auth":"AAAA"}}"#
            .into();
    assert!(matches!(
        s.sender.send(&target, &message(60)).await,
        PushOutcome::DeadToken { .. }
    ));
    assert_eq!(s.mock.total_requests(), 0);
}

/// Python's `http_ece` decrypts what the sender sent and `py_vapid` verifies its VAPID header:
/// implementations independent of this crate and of the loopback server. Needs a Python with
/// both (`TAPPROVE_WEBPUSH_PYTHON`); `cargo xtask test rust` installs them in a venv under
/// target/ and runs this.
#[tokio::test]
#[ignore = "needs http_ece and py_vapid: run by `cargo xtask test rust`"]
async fn python_http_ece_decrypts_and_py_vapid_verifies() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let python = std::env::var("TAPPROVE_WEBPUSH_PYTHON")
        .expect("TAPPROVE_WEBPUSH_PYTHON: a Python with http_ece and py_vapid");
    let s = setup();
    let sub = s.mock.subscribe_for(Some(&s.vapid_public));
    for sealed in [false, true] {
        let mut msg = message(300);
        if sealed {
            msg.sealed = Some(SealedChallenge {
                account_id: "acc_1".into(),
                sealed: "c2VhbGVk".into(),
            });
        }
        assert_eq!(
            s.sender.send(&sub.target("acc_1"), &msg).await,
            PushOutcome::Delivered
        );
        let record = s.mock.records_for(&sub).pop().expect("record");
        let case = serde_json::json!({
            "body": URL_SAFE_NO_PAD.encode(&record.body),
            "private_key": URL_SAFE_NO_PAD.encode(sub.private_key()),
            "auth": URL_SAFE_NO_PAD.encode(sub.auth()),
            "authorization": record.authorization,
            "aud": s.mock.url,
            "expected_plaintext": record.plaintext.to_string(),
        });
        let path = s._dir.path().join("case.json");
        std::fs::write(&path, case.to_string()).expect("write case");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/webpush_peers.py");
        let out = std::process::Command::new(&python)
            .arg(script)
            .arg(&path)
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "python peers refused the push: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let decrypted: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("plaintext JSON");
        assert_eq!(decrypted, record.plaintext);
    }
}
