//! Shutdown owns the background work: stopped while sessions are being created and pushed,
//! the service waits for every delivery it started, so none is left running and none is cut
//! off before it wrote its outcome.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use futures_util::future::BoxFuture;
use serde_json::json;
use tapprove_push::{PushMessage, PushOutcome, PushSender, PushTarget};
use tapprove_server::Service;

/// A provider that takes a while and then fails, counting pushes under way.
#[derive(Default)]
struct SlowFailingPush {
    started: AtomicUsize,
    in_flight: AtomicUsize,
}

impl PushSender for SlowFailingPush {
    fn send<'a>(&'a self, _: &'a PushTarget, _: &'a PushMessage) -> BoxFuture<'a, PushOutcome> {
        Box::pin(async move {
            self.started.fetch_add(1, Ordering::SeqCst);
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(600)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            PushOutcome::Failed {
                reason: "provider down".into(),
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_mid_load_leaves_no_task_and_nothing_half_written() {
    let push = Arc::new(SlowFailingPush::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path()).await;
    let service = Service::start_with_push(config.clone(), push.clone())
        .await
        .expect("start");
    let mut h = Harness::finish(dir, config, service).await;
    let users: Vec<String> = (0..6).map(|i| format!("user{i}")).collect();
    for user in &users {
        let mut phone = SoftwareDevice::new(&h.project.sdk_key);
        phone.push = Some(json!({"platform": "apns", "token": format!("abcd{:04}", user.len())}));
        let (status, body) = phone.pair(&h, user, PAIRING_CODE).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    // Logins keep coming while the service stops: each is answered whole or refused.
    let url = h.url("/v1/push/sessions");
    let logins = users.iter().map(|user| {
        let (http, url, key) = (h.http.clone(), url.clone(), h.api_key().to_owned());
        let user = user.clone();
        async move {
            let mut created = Vec::new();
            for _ in 0..3 {
                let sent = http
                    .post(&url)
                    .header("x-api-key", &key)
                    .json(&json!({
                        "user": user,
                        "notification": {"title": "Log in?", "body": "Demo Bank"}
                    }))
                    .send()
                    .await;
                // Refused once the listener closed; never a half answer.
                let Ok(response) = sent else { continue };
                let (status, body) = status_json(response).await;
                if status == StatusCode::CREATED {
                    created.push(body["id"].as_str().expect("id").to_owned());
                } else {
                    assert!(status.is_client_error(), "{status} {body}");
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            created
        }
    });
    let load = tokio::spawn(futures_util::future::join_all(logins));
    tokio::time::sleep(Duration::from_millis(120)).await;
    let running = h.service.take().expect("running");
    let state = running.state().clone();
    running.shutdown().await.expect("shutdown");

    // No task left: every push the service started has come back, and its tracker is empty.
    assert_eq!(push.in_flight.load(Ordering::SeqCst), 0);
    assert_eq!(state.background_tasks(), 0);
    let created: Vec<String> = load.await.expect("load").into_iter().flatten().collect();
    assert!(
        !created.is_empty(),
        "the load created no session before the stop"
    );
    assert!(push.started.load(Ordering::SeqCst) >= created.len());

    // Nothing half-written: every session created was pushed, failed, and recorded `error`
    // (a delivery cut off by the stop would leave it `sent`).
    let restarted = Service::start_with_push(h.config.clone(), push.clone())
        .await
        .expect("restart");
    h.base = format!("http://{}", restarted.local_addr());
    h.service = Some(restarted);
    let superseded = |view: &serde_json::Value| view["reason"] == "superseded";
    for id in &created {
        let (status, view) = h.get_session(id, None).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert!(
            (view["status"] == "error" && view["reason"] == "delivery_failed") || superseded(&view),
            "session {id} was left {view}"
        );
    }
    h.service
        .take()
        .expect("running")
        .shutdown()
        .await
        .expect("shutdown");
}
