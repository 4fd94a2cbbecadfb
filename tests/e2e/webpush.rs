//! Web Push end to end: a real `tapprove serve` with `[push.webpush]` pushes a login to the
//! loopback push service of push/tests/support (which enforces the UnifiedPush contract and
//! decrypts every message with the subscription's key, as the phone's connector does); the
//! core opens the decrypted message as it does an FCM data map and approves. Registration
//! refuses endpoints outside the address rule, and a subscription the distributor forgot is
//! dropped and asked for again.

mod common;
mod faults_support;
#[path = "../../push/tests/support/mod.rs"]
mod push_support;

use std::sync::Arc;
use std::time::Duration;

use common::{FakeRp, TrustMode, rp_client};
use faults_support::{CODE, CONFIG, Service};
use push_support::TestPki;
use push_support::webpush::{MockWebPush, TestSubscription, webpush_config};
use serde_json::{Value, json};
use tapprove_core::{
    Authenticator, Config, Decision, MemoryStore, PushPlatform, PushRegistration, SessionStatus,
    SoftwareSigner,
};
use tapprove_protocol::Es256Signer as _;
use tapprove_test_support::device::SoftwareDevice;
use tapprove_test_support::endpoint::Endpoint;

const TITLE: &str = "Log in to Web Push Bank?";
const IP: &str = "198.51.100.99";

struct World {
    site: tapprove_test_support::rp::RpClient,
    sdk: String,
    vapid_public: String,
    service: Service,
    _hook: FakeRp,
    push: MockWebPush,
    _pki: TestPki,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new();
    let push = MockWebPush::start(&pki);
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("ca");
    let (webpush, key) = webpush_config(dir.path());
    let config = format!(
        "{CONFIG}\n[push]\nca_file = {ca:?}\n\n[push.retry]\nmax_attempts = 2\ninitial_backoff_ms = 20\nmax_backoff_ms = 100\nrequest_timeout_ms = 5000\n\n[push.webpush]\nvapid_key_path = {key:?}\nsubject = \"mailto:ops@example.com\"\nallow_addresses = [\"127.0.0.0/8\"]\n",
        ca = ca.display().to_string(),
        key = webpush.vapid_key_path.display().to_string(),
    );
    let service = Service::start_with(dir.path(), dir.path(), &[], &config);
    let hook = FakeRp::start(TrustMode::Accept(CODE.into())).await;
    let project = service.create_project(&hook.trust_url()).await;
    hook.set_credentials_json(&project);
    World {
        site: rp_client(&service.url, &project),
        sdk: project["sdk_key"].as_str().expect("sdk").to_owned(),
        vapid_public: key.public_key().to_base64url(),
        service,
        _hook: hook,
        push,
        _pki: pki,
        _dir: dir,
    }
}

fn phone(url: &str, sdk: &str) -> Authenticator {
    let store = Arc::new(MemoryStore::new());
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    Authenticator::new(Config::new(url, sdk).expect("config"), store, signer)
        .expect("authenticator")
}

fn registration(sub: &TestSubscription) -> PushRegistration {
    PushRegistration {
        platform: PushPlatform::Webpush,
        token: sub.token.clone(),
        environment: None,
    }
}

async fn login(w: &World, user: &str) -> Value {
    let (status, v) = w
        .site
        .create_raw(
            &json!({"user": user, "notification": {"title": TITLE, "body": "b"},
            "context": {"ip": IP}}),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "create session: {v}");
    v
}

/// The decrypted message the push service received for `sub`, once it has.
async fn received(w: &World, sub: &TestSubscription, count: usize) -> Value {
    for _ in 0..100 {
        let records = w.push.records_for(sub);
        if records.len() >= count {
            return records[count - 1].plaintext.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no push reached the endpoint: {:?}", w.push.refusals());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_pushed_over_web_push_is_opened_by_the_core_and_approved() {
    let w = world().await;
    // The pairing answer carries the VAPID key the connector registers with.
    let device = SoftwareDevice::new(&w.sdk);
    let endpoint = Endpoint::new(&w.service.url);
    let (status, body) = device.pair(&endpoint, "raw-user", CODE).await;
    assert_eq!(status.as_u16(), 201, "{body}");
    assert_eq!(body["vapid_public_key"], w.vapid_public.as_str());

    // A subscription bound to that key (the distributor refuses any other, 403).
    let sub = w.push.subscribe_for(Some(&w.vapid_public));
    let auth = phone(&w.service.url, &w.sdk);
    let account = auth
        .pair("alice", CODE, Some(registration(&sub)))
        .await
        .expect("pair");
    // The core hands the key on: the app registers with its distributor from the account.
    assert_eq!(
        account.vapid_public_key.as_deref(),
        Some(w.vapid_public.as_str())
    );
    let session = login(&w, "alice").await;
    let id = session["id"].as_str().expect("id");
    let message = received(&w, &sub, 1).await;
    // Sealed (the core gave a push key): the distributor could not read it even decrypted.
    assert_eq!(message["account"], account.id.as_str());
    assert!(message["tapprove_sealed"].is_string());
    let text = message.to_string();
    assert!(
        !text.contains("alice") && !text.contains(IP) && !text.contains(TITLE),
        "{text}"
    );

    let request = auth
        .handle_push(&text)
        .expect("opens")
        .expect("a Tapprove push");
    assert_eq!(request.id, id);
    assert_eq!(request.title, TITLE);
    let done = auth
        .respond(
            id,
            Decision::Approve {
                presence_answer: session["presence_code"].as_str().map(str::to_owned),
            },
        )
        .await
        .expect("answer");
    assert_eq!(done.status, SessionStatus::Accepted);
    assert_eq!(
        w.site.outcome(id).await,
        ("accepted".into(), "approved".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_refuses_endpoints_outside_the_address_rule() {
    let w = world().await;
    let device = SoftwareDevice::new(&w.sdk);
    let endpoint = Endpoint::new(&w.service.url);
    let (status, body) = device.pair(&endpoint, "bob", CODE).await;
    assert_eq!(status.as_u16(), 201, "{body}");
    let device = device.with_pairing(serde_json::from_value(body).expect("pair response"));
    let sub = w.push.subscribe();
    let lan = sub.token.replace("https://127.0.0.1", "https://10.1.2.3");
    for (token, why) in [
        (lan.as_str(), "allow_addresses"),
        (
            r#"{"endpoint":"http://push.example.net/x","keys":{"p256dh":"x","auth":"y"}}"#,
            "https",
        ),
        ("not json", "endpoint"),
    ] {
        let (status, body) = device
            .call(
                &endpoint,
                "PUT",
                "/v1/device/push-token",
                Some(json!({"platform": "webpush", "token": token})),
            )
            .await;
        assert_eq!(status.as_u16(), 400, "{token}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(why),
            "{body}"
        );
    }
    let (status, body) = device
        .call(
            &endpoint,
            "PUT",
            "/v1/device/push-token",
            Some(json!({"platform": "webpush", "token": sub.token})),
        )
        .await;
    assert_eq!(
        status.as_u16(),
        204,
        "the allow-list admits loopback here: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forgotten_subscription_is_dropped_and_asked_for_again() {
    let w = world().await;
    let mut device = SoftwareDevice::new(&w.sdk);
    let endpoint = Endpoint::new(&w.service.url);
    let sub = w.push.subscribe();
    device.push = Some(json!({"platform": "webpush", "token": sub.token}));
    let (status, body) = device.pair(&endpoint, "carol", CODE).await;
    assert_eq!(status.as_u16(), 201, "{body}");
    let device = device.with_pairing(serde_json::from_value(body).expect("pair response"));
    w.push.unsubscribe(&sub);
    login(&w, "carol").await;
    for _ in 0..100 {
        let (_, pending) = device
            .call(&endpoint, "GET", "/v1/device/pending", None)
            .await;
        if pending["push_token_missing"] == true {
            assert_eq!(w.push.requests_for(&sub.id), 1, "410 is not retried");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the dead subscription was not dropped");
}
