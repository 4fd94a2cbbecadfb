//! The device core against the real `tapprove serve`: what a phone reports and re-sends on its
//! own. (1) The push registration: the FCM loopback of push/tests/support refuses the token
//! once (`UNREGISTERED`), the service forgets it and says so on `GET /v1/device/pending`
//! (`push_token_missing`), the core sends the registration again, and the next login is
//! pushed. (2) Key protection: the signer's answer reaches the site's device list. (3) A push
//! that ended unanswered (superseded) stays on the phone as ended: approving it is refused
//! locally, "not me" still locks the user and is audited as a late report.

// Shared helpers (push_world) this file uses only in part.
#![allow(dead_code)]

mod common;
mod faults_support;
#[path = "../../push/tests/support/mod.rs"]
mod push_support;
mod push_world;

use std::sync::Arc;
use std::time::Duration;

use common::{FakeRp, TrustMode};
use faults_support::*;
use push_support::{FcmReply, fcm_token};
use push_world::PushWorld;
use serde_json::{Value, json};
use tapprove_core::{
    Authenticator, Config, CoreError, Decision, DenyReason, DeviceSigner, KeyProtection,
    MemoryStore, PublicKey, PushPlatform, PushRegistration, RequestEvent, SessionStatus,
    SignerError, SoftwareSigner,
};

fn phone(
    url: &str,
    sdk: &str,
    signer: Arc<dyn DeviceSigner>,
    store: Arc<MemoryStore>,
) -> Authenticator {
    Authenticator::new(Config::new(url, sdk).expect("config"), store, signer)
        .expect("authenticator")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_token_the_service_lost_is_sent_again() {
    let world = PushWorld::start(1).await;
    let token = fcm_token(41);
    world.fcm.script(
        &token,
        vec![FcmReply::Error {
            http: 404,
            status: "NOT_FOUND",
            code: Some("UNREGISTERED"),
            retry_after: None,
        }],
    );
    let store = Arc::new(MemoryStore::new());
    let auth = phone(
        &world.service.url,
        &world.sdk,
        Arc::new(SoftwareSigner::new(store.clone())),
        store,
    );
    let push = PushRegistration {
        platform: PushPlatform::Fcm,
        token: token.clone(),
        environment: None,
    };
    auth.pair("lost-token", CODE, Some(push.clone()))
        .await
        .expect("pair");

    // First login: the provider says the token is dead; the service forgets it (and the
    // login fails: no device could be reached).
    let first = world.site.login("lost-token", json!({})).await;
    let first_id = first["id"].as_str().expect("id").to_owned();
    let mut status = String::new();
    for _ in 0..100 {
        status = world.site.get(&first_id, None).await["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status == "error" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "error", "the dead token failed the first login");
    assert_eq!(world.fcm.requests_for(&token), 1);
    // The app's start-up call changes nothing: the registration is the one already sent.
    auth.update_push_token(push).await.expect("update");
    // The phone polls; the service says it has no token; the core sends it again.
    auth.pending(None).await.expect("pending");

    // Second login: pushed to the token again, and the phone opens it.
    let second = world.site.login("lost-token", json!({})).await;
    let second_id = second["id"].as_str().expect("id");
    let mut data = None;
    for _ in 0..100 {
        data = world
            .fcm
            .records()
            .into_iter()
            .filter(|r| r.body["message"]["token"] == token.as_str())
            .map(|r| r.body["message"]["data"].to_string())
            .last();
        if data.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let data = data.expect("the second login was pushed to the re-sent token");
    let request = auth.handle_push(&data).expect("opens").expect("ours");
    assert_eq!(request.id, second_id);
}

/// A signer that keeps its keys "in hardware": a software signer that says so, as the
/// platform signers (StrongBox, Secure Enclave) do.
struct HardwareSigner(SoftwareSigner);

impl DeviceSigner for HardwareSigner {
    fn create_key(&self, alias: &str) -> Result<PublicKey, SignerError> {
        self.0.create_key(alias)
    }
    fn public_key(&self, alias: &str) -> Result<PublicKey, SignerError> {
        self.0.public_key(alias)
    }
    fn sign(&self, alias: &str, msg: &[u8]) -> Result<[u8; 64], SignerError> {
        self.0.sign(alias, msg)
    }
    fn delete_key(&self, alias: &str) -> Result<(), SignerError> {
        self.0.delete_key(alias)
    }
    fn key_protection(&self) -> KeyProtection {
        KeyProtection::Hardware
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_site_sees_how_each_phone_keeps_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = Service::start(dir.path(), dir.path(), &[]);
    let hook = FakeRp::start(TrustMode::Accept(CODE.into())).await;
    let project = service.create_project(&hook.trust_url()).await;
    hook.set_credentials_json(&project);
    let sdk = project["sdk_key"].as_str().expect("sdk");

    let soft_store = Arc::new(MemoryStore::new());
    let software = phone(
        &service.url,
        sdk,
        Arc::new(SoftwareSigner::new(soft_store.clone())),
        soft_store,
    );
    software.pair("kp-user", CODE, None).await.expect("pair");
    let hard_store = Arc::new(MemoryStore::new());
    let hardware = phone(
        &service.url,
        sdk,
        Arc::new(HardwareSigner(SoftwareSigner::new(hard_store.clone()))),
        hard_store,
    );
    hardware.pair("kp-user", CODE, None).await.expect("pair");

    let list: Value = tapprove_test_support::endpoint::http_client()
        .get(format!("{}/v1/users/kp-user/devices", service.url))
        .header("X-API-Key", project["api_key"].as_str().expect("api key"))
        .send()
        .await
        .expect("devices")
        .json()
        .await
        .expect("json");
    let seen: Vec<&str> = list["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| d["key_protection"].as_str().expect("key_protection"))
        .collect();
    assert_eq!(seen, vec!["software", "hardware"], "{list}");
}

/// The next event of `stream`, within 10 s.
async fn next_event(stream: &mut tapprove_core::EventStream) -> RequestEvent {
    use futures_util::StreamExt;
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event in time")
        .expect("the stream goes on")
        .expect("not an error")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_superseded_push_can_still_be_reported_as_not_me_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = Service::start(dir.path(), dir.path(), &[]);
    let hook = FakeRp::start(TrustMode::Accept(CODE.into())).await;
    let project = service.create_project(&hook.trust_url()).await;
    hook.set_credentials_json(&project);
    let sdk = project["sdk_key"].as_str().expect("sdk");
    let rp = common::rp_client(&service.url, &project);
    let store = Arc::new(MemoryStore::new());
    let auth = phone(
        &service.url,
        sdk,
        Arc::new(SoftwareSigner::new(store.clone())),
        store,
    );
    auth.pair("late-user", CODE, None).await.expect("pair");
    let mut events = auth.events(None);

    let first = rp.login("late-user", json!({})).await;
    let first_id = first["id"].as_str().expect("id").to_owned();
    let seen = loop {
        if let RequestEvent::Request(r) = next_event(&mut events).await {
            break r;
        }
    };
    assert_eq!(seen.id, first_id);
    // The attacker restarts the login before the user answers: the first push ends superseded.
    rp.login("late-user", json!({})).await;
    loop {
        if let RequestEvent::Decided { request_id, status } = next_event(&mut events).await
            && request_id == first_id
        {
            assert_eq!(status, SessionStatus::Canceled);
            break;
        }
    }
    let ended = auth.ended_requests(None);
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(
        (ended[0].request.id.as_str(), ended[0].status),
        (first_id.as_str(), SessionStatus::Canceled)
    );
    assert!(
        auth.pending(None)
            .await
            .expect("pending")
            .iter()
            .all(|r| r.id != first_id),
        "an ended request is never pending"
    );

    // Approving or plainly denying it is refused on the phone.
    for decision in [
        Decision::Approve {
            presence_answer: Some("123456".into()),
        },
        Decision::Deny {
            reason: DenyReason::Cancelled,
        },
    ] {
        match auth.respond(&first_id, decision).await {
            Err(CoreError::RequestEnded {
                status: SessionStatus::Canceled,
            }) => {}
            other => panic!("expected RequestEnded, got {other:?}"),
        }
    }

    // "This wasn't me" goes through: the outcome stays, the user is locked, the audit says so.
    let outcome = auth
        .respond(
            &first_id,
            Decision::Deny {
                reason: DenyReason::NotMe,
            },
        )
        .await
        .expect("a late not me");
    assert_eq!(outcome.status, SessionStatus::Canceled);
    assert!(
        auth.ended_requests(None).is_empty(),
        "reported: no longer listed"
    );
    let (status, body) = rp
        .create_raw(&tapprove_test_support::fixture::create_session_body(
            "late-user",
        ))
        .await;
    assert_eq!(status.as_u16(), 423, "{body}");
    let page: Value = tapprove_test_support::endpoint::http_client()
        .get(format!("{}/v1/audit?user=late-user", service.url))
        .header("X-API-Key", project["api_key"].as_str().expect("api key"))
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    let late = page["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["action"] == "session.fraud_reported_late")
        .unwrap_or_else(|| panic!("no late fraud report in {page}"));
    assert_eq!(late["subject"], first_id.as_str());
}
