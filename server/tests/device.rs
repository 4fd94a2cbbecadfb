//! Device API beyond answers (event stream, push token, unpair, request proofs), push
//! delivery outcomes, and service lifecycle errors.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use futures_util::future::BoxFuture;
use serde_json::json;
use tapprove_protocol::Decision;
use tapprove_protocol::api::PushPlatform;
use tapprove_push::{PushMessage, PushOutcome, PushSender, PushTarget};
use tapprove_server::{Service, ServiceError, admin};

#[tokio::test]
async fn event_stream_delivers_pending_then_live_challenges_and_decisions() {
    let h = Harness::start_with(|c| c.event_keep_alive = Duration::from_millis(300)).await;
    let device = h.pair("alice").await;
    let first = h.login("alice").await;

    let mut events = device.events(&h).await;
    // The pending challenge first.
    let (name, data) = events
        .next_event(Duration::from_secs(5))
        .await
        .expect("pending challenge");
    assert_eq!(name, "challenge");
    assert_eq!(device.verify(&data).session_id, first["id"]);
    // Keep-alive comments.
    let (name, text) = events
        .next_raw(Duration::from_secs(3))
        .await
        .expect("keep-alive");
    assert_eq!((name.as_str(), text.as_str()), ("comment", "keep-alive"));

    // A new session: the old one is superseded (decided), the new one arrives live.
    let second = h.login("alice").await;
    let mut seen_challenge = None;
    let mut seen_decided = None;
    while seen_challenge.is_none() || seen_decided.is_none() {
        let (name, data) = events
            .next_event(Duration::from_secs(5))
            .await
            .expect("event");
        match name.as_str() {
            "challenge" => seen_challenge = Some(device.verify(&data)),
            "decided" => {
                seen_decided = Some(serde_json::from_str::<serde_json::Value>(&data).expect("json"))
            }
            other => panic!("unexpected event {other}"),
        }
    }
    let c = seen_challenge.expect("challenge");
    assert_eq!(c.session_id, second["id"]);
    assert_eq!(
        seen_decided.expect("decided"),
        json!({"session_id": first["id"], "status": "canceled"})
    );

    // Answering emits `decided` to the device too.
    let (status, _) = device
        .answer(
            &h,
            &c,
            Decision::Approve,
            second["presence_code"].as_str(),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (name, data) = events
        .next_event(Duration::from_secs(5))
        .await
        .expect("decided");
    assert_eq!(name, "decided");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&data).expect("json"),
        json!({"session_id": second["id"], "status": "accepted"})
    );

    // Expiry by the sweeper is announced as well.
    let (_, third) = h
        .create_session(
            json!({"user": "alice", "notification": {"title": "t", "body": "b"}, "ttl_seconds": 1}),
        )
        .await;
    let (name, _) = events
        .next_event(Duration::from_secs(5))
        .await
        .expect("challenge");
    assert_eq!(name, "challenge");
    let (name, data) = events
        .next_event(Duration::from_secs(5))
        .await
        .expect("expired");
    assert_eq!(name, "decided");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&data).expect("json"),
        json!({"session_id": third["id"], "status": "expired"})
    );
}

#[tokio::test]
async fn request_proofs_are_checked() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    // Missing proof.
    let r = h
        .http
        .get(h.url("/v1/device/pending"))
        .send()
        .await
        .expect("send");
    assert!(
        r.headers().contains_key("date"),
        "devices correct their clock with Date"
    );
    let (status, body) = status_json(r).await;
    assert_error(status, &body, 401, "unauthorized");
    // A proof for another path.
    let auth = device.proof("GET", "/v1/device/events", b"");
    let r = h
        .http
        .get(h.url("/v1/device/pending"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("send");
    let (status, body) = status_json(r).await;
    assert_error(status, &body, 401, "unauthorized");
    // A proof for another body.
    let auth = device.proof("PUT", "/v1/device/push-token", b"{}");
    let r = h
        .http
        .put(h.url("/v1/device/push-token"))
        .header("authorization", &auth)
        .json(&json!({"platform": "none"}))
        .send()
        .await
        .expect("send");
    let (status, body) = status_json(r).await;
    assert_error(status, &body, 401, "unauthorized");
    // A replayed proof.
    let auth = device.proof("GET", "/v1/device/pending", b"");
    let r = h
        .http
        .get(h.url("/v1/device/pending"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let r = h
        .http
        .get(h.url("/v1/device/pending"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("send");
    let (status, body) = status_json(r).await;
    assert!(assert_error(status, &body, 401, "unauthorized").contains("already used"));
    // Signed by another key.
    let other = SoftwareDevice::new(&h.project.sdk_key)
        .with_pairing(device.pairing.clone().expect("paired"));
    let (status, body) = other.call(&h, "GET", "/v1/device/pending", None).await;
    assert_error(status, &body, 401, "unauthorized");
}

#[tokio::test]
async fn push_token_update_and_unpair() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    let (status, body) = device
        .call(
            &h,
            "PUT",
            "/v1/device/push-token",
            Some(json!({"platform": "fcm", "token": "fcm-token-1"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = device
        .call(
            &h,
            "PUT",
            "/v1/device/push-token",
            Some(json!({"platform": "apns"})),
        )
        .await;
    assert_error(status, &body, 400, "invalid_request");
    let (status, body) = device
        .call(
            &h,
            "PUT",
            "/v1/device/push-token",
            Some(json!({"platform": "none"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let s = h.login("alice").await;
    let c = device
        .challenge_for(&h, s["id"].as_str().expect("id"))
        .await;
    let mut events = device.events(&h).await;
    let (name, _) = events
        .next_event(Duration::from_secs(5))
        .await
        .expect("pending");
    assert_eq!(name, "challenge");

    let (status, body) = device.call(&h, "DELETE", "/v1/device", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(
        events.next_event(Duration::from_secs(3)).await.is_none(),
        "the stream ends on unpair"
    );
    let (status, body) = device.call(&h, "GET", "/v1/device/pending", None).await;
    assert_error(status, &body, 401, "not_paired");
    let (status, body) = device
        .answer(&h, &c, Decision::Approve, s["presence_code"].as_str(), None)
        .await;
    assert_error(status, &body, 401, "not_paired");
    let (status, body) = h
        .create_session(json!({"user": "alice", "notification": {"title": "t", "body": "b"}}))
        .await;
    assert_error(status, &body, 422, "no_device");
}

/// A push sender that answers from a script and records what it was asked.
#[derive(Default)]
struct ScriptedPush {
    outcome: Mutex<Option<PushOutcome>>,
    sent: Mutex<Vec<(PushTarget, PushMessage)>>,
}

impl PushSender for ScriptedPush {
    fn send<'a>(
        &'a self,
        target: &'a PushTarget,
        message: &'a PushMessage,
    ) -> BoxFuture<'a, PushOutcome> {
        Box::pin(async move {
            self.sent
                .lock()
                .expect("lock")
                .push((target.clone(), message.clone()));
            self.outcome
                .lock()
                .expect("lock")
                .clone()
                .unwrap_or(PushOutcome::Delivered)
        })
    }
}

async fn push_harness(push: Arc<ScriptedPush>) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path()).await;
    let service = Service::start_with_push(config.clone(), push)
        .await
        .expect("start");
    Harness::finish(dir, config, service).await
}

async fn wait_status(h: &Harness, id: &str, want: &str) -> serde_json::Value {
    for _ in 0..50 {
        let (_, view) = h.get_session(id, None).await;
        if view["status"] == want {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("session {id} never became {want}");
}

#[tokio::test]
async fn push_delivery_outcomes() {
    let push = Arc::new(ScriptedPush::default());
    let h = push_harness(push.clone()).await;
    let mut phone = SoftwareDevice::new(&h.project.sdk_key);
    phone.push = Some(json!({"platform": "apns", "token": "abcd1234", "environment": "sandbox"}));
    let (status, body) = phone.pair(&h, "alice", PAIRING_CODE).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let phone = phone.with_pairing(serde_json::from_value(body).expect("pair"));

    // Delivered: the push carries this device's challenge; the session stays sent.
    let s = h.login("alice").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    {
        let sent = push.sent.lock().expect("lock");
        assert_eq!(sent.len(), 1);
        let (target, message) = &sent[0];
        assert_eq!(target.platform, PushPlatform::Apns);
        assert_eq!(target.token, "abcd1234");
        assert_eq!(target.device_id, phone.account_id());
        // The collapse id is an opaque per-device value, never the session id.
        assert_eq!(message.collapse_id.len(), 32, "{}", message.collapse_id);
        assert!(message.collapse_id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(message.collapse_id, s["id"].as_str().expect("id"));
        assert_ne!(message.collapse_id, phone.account_id());
        assert_eq!(message.title, "Log in to Demo Bank?");
        assert_eq!(phone.verify(&message.challenge).session_id, s["id"]);
    }
    let (_, view) = h.get_session(s["id"].as_str().expect("id"), None).await;
    assert_eq!(view["status"], "sent");

    // Failed, with no other way to reach the user: error / delivery_failed.
    *push.outcome.lock().expect("lock") = Some(PushOutcome::Failed {
        reason: "InternalServerError".into(),
    });
    let s = h.login("alice").await;
    let view = wait_status(&h, s["id"].as_str().expect("id"), "error").await;
    assert_eq!(view["reason"], "delivery_failed");

    // Dead token: forgotten, so the next login is not even attempted (and fails).
    *push.outcome.lock().expect("lock") = Some(PushOutcome::DeadToken {
        reason: "Unregistered".into(),
    });
    let s = h.login("alice").await;
    wait_status(&h, s["id"].as_str().expect("id"), "error").await;

    // An event-stream listener makes the device reachable without push.
    let (status, _) = phone
        .call(
            &h,
            "PUT",
            "/v1/device/push-token",
            Some(json!({"platform": "apns", "token": "fresh-token"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut bob = SoftwareDevice::new(&h.project.sdk_key);
    bob.push = Some(json!({"platform": "fcm", "token": "bob-token"}));
    let (status, body) = bob.pair(&h, "bob", PAIRING_CODE).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let bob = bob.with_pairing(serde_json::from_value(body).expect("pair"));
    let mut events = bob.events(&h).await;
    *push.outcome.lock().expect("lock") = Some(PushOutcome::Failed {
        reason: "Unavailable".into(),
    });
    let s = h.login("bob").await;
    let (name, data) = events
        .next_event(Duration::from_secs(5))
        .await
        .expect("challenge");
    assert_eq!(name, "challenge");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, view) = h.get_session(s["id"].as_str().expect("id"), None).await;
    assert_eq!(view["status"], "sent", "a listening device is reachable");
    let c = bob.verify(&data);
    let (status, _) = bob
        .answer(&h, &c, Decision::Approve, s["presence_code"].as_str(), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn dead_token_is_cleared() {
    let push = Arc::new(ScriptedPush::default());
    *push.outcome.lock().expect("lock") = Some(PushOutcome::DeadToken {
        reason: "Unregistered".into(),
    });
    let h = push_harness(push.clone()).await;
    let mut phone = SoftwareDevice::new(&h.project.sdk_key);
    phone.push = Some(json!({"platform": "fcm", "token": "dead-token"}));
    let (status, body) = phone.pair(&h, "alice", PAIRING_CODE).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let s = h.login("alice").await;
    wait_status(&h, s["id"].as_str().expect("id"), "error").await;
    assert_eq!(push.sent.lock().expect("lock").len(), 1);
    // The token is gone: the next session does not push at all.
    let s = h.login("alice").await;
    wait_status(&h, s["id"].as_str().expect("id"), "error").await;
    assert_eq!(
        push.sent.lock().expect("lock").len(),
        1,
        "no push to a forgotten token"
    );
}

#[tokio::test]
async fn lifecycle_errors_are_actionable() {
    // Missing seal key.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path()).await;
    config.seal_key = None;
    let err = Service::start(config).await.expect_err("no seal key");
    assert!(matches!(err, ServiceError::MissingSealKey));
    assert!(err.to_string().contains("TAPPROVE_SEAL_KEY"));

    // A push provider whose key file is missing stops the start with a clear message.
    let mut config = test_config(dir.path()).await;
    config.push = tapprove_server::ServiceConfig::from_toml_str(
        "[push.apns]\nkey_path = \"/nonexistent/AuthKey_ABCDE12345.p8\"\nkey_id = \"ABCDE12345\"\n\
         team_id = \"TEAM123456\"\ntopic = \"com.example.bank\"\n",
    )
    .expect("toml")
    .push;
    assert!(config.push.apns.is_some());
    let err = Service::start(config).await.expect_err("bad push config");
    assert!(matches!(err, ServiceError::Push(_)), "{err}");
    assert!(
        err.to_string()
            .contains("/nonexistent/AuthKey_ABCDE12345.p8"),
        "{err}"
    );

    // Port in use.
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mut config = test_config(dir.path()).await;
    config.listen = taken.local_addr().expect("addr");
    let err = Service::start(config).await.expect_err("port in use");
    assert!(matches!(err, ServiceError::AddressInUse { .. }), "{err}");
    assert!(err.to_string().contains("already in use"));

    // Database directory missing.
    let mut config = test_config(dir.path()).await;
    config.database_url = format!(
        "sqlite://{}/missing/dir/t.db?mode=rwc",
        dir.path().display()
    );
    let err = Service::start(config).await.expect_err("bad db");
    assert!(
        matches!(err, ServiceError::DatabaseUnavailable { .. }),
        "{err}"
    );

    // Wrong seal key for an existing database.
    let config = test_config(dir.path()).await;
    let running = Service::start(config.clone()).await.expect("start");
    let created = admin::create_project(
        &config.database_url,
        config.seal_key.as_ref().expect("k"),
        "Shop",
        "https://shop.example/trust",
    )
    .await
    .expect("project");
    running.shutdown().await.expect("stop");
    let mut wrong = config.clone();
    wrong.seal_key = Some(tapprove_server::SealKey::generate().expect("key"));
    let err = Service::start(wrong).await.expect_err("wrong seal key");
    assert!(matches!(err, ServiceError::SealKeyMismatch), "{err}");

    // Admin list shows the project without secrets.
    let list = admin::list_projects(&config.database_url)
        .await
        .expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].project_id, created.project_id);
    assert_eq!(list[0].sdk_key, created.sdk_key);
    let json = serde_json::to_string(&list).expect("json");
    assert!(
        !json.contains(created.api_key.expose())
            && !json.contains(created.webhook_password.expose())
    );
    // Credentials serialise with exactly the documented keys; Debug is redacted.
    let v = serde_json::to_value(&created).expect("json");
    let mut keys: Vec<_> = v.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "api_key",
            "project_id",
            "sdk_key",
            "webhook_password",
            "webhook_secret",
            "webhook_username"
        ]
    );
    assert!(
        created.api_key.expose().starts_with("tap_api_")
            && created.api_key.expose().len() == 8 + 43
    );
    assert!(created.sdk_key.starts_with("tap_sdk_") && created.sdk_key.len() == 8 + 22);
    let dbg = format!("{created:?}");
    assert!(
        !dbg.contains(created.api_key.expose()) && !dbg.contains(created.webhook_secret.expose())
    );
    // Plain-http trust URLs are refused for non-loopback hosts.
    let err = admin::create_project(
        &config.database_url,
        config.seal_key.as_ref().expect("k"),
        "X",
        "http://shop.example/trust",
    )
    .await
    .expect_err("http");
    assert!(err.to_string().contains("https"));
}
