//! The site-event outbox over loopback HTTP: a "not me" event reaches a site that was failing
//! or down, with one `webhook-id` over every attempt, also across a restart of the service.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::*;
use serde_json::{Value, json};
use tapprove_protocol::webhook;
use tapprove_protocol::{Decision, DenyReason};
use tapprove_server::admin;

/// The site's events endpoint: answers 503 while `failing` > 0 (counting down), then 204.
/// Records (webhook-id, signature ok, body) of every call.
#[derive(Clone, Default)]
struct Site {
    failing: Arc<AtomicU32>,
    calls: Arc<Mutex<Vec<(String, bool, Value)>>>,
}

async fn start_site(h: &Harness, site: Site) -> String {
    let secret = h.project.webhook_secret.expose().to_owned();
    let app =
        axum::Router::new()
            .route(
                "/events",
                axum::routing::post(
                    |State((site, secret)): State<(Site, String)>,
                     headers: HeaderMap,
                     body: Bytes| async move {
                        let get = |n: &str| {
                            headers
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        let signed = webhook::WebhookKey::from_secret(&secret)
                            .expect("secret")
                            .verify(
                                &get(webhook::ID_HEADER),
                                &get(webhook::TIMESTAMP_HEADER),
                                &get(webhook::SIGNATURE_HEADER),
                                &body,
                                now(),
                            )
                            .is_ok();
                        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        site.calls.lock().expect("lock").push((
                            get(webhook::ID_HEADER),
                            signed,
                            value,
                        ));
                        let fail = site
                            .failing
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                        if fail {
                            StatusCode::SERVICE_UNAVAILABLE
                        } else {
                            StatusCode::NO_CONTENT
                        }
                    },
                ),
            )
            .with_state((site, secret));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{addr}/events");
    admin::set_events_url(&h.config.database_url, &h.project.project_id, Some(&url))
        .await
        .expect("events url");
    url
}

async fn not_me(h: &Harness, device: &SoftwareDevice) -> String {
    let (status, s) = h
        .create_session(
            json!({"user": "alice", "notification": {"title": "t", "body": "b"},
                               "context": {"ip": "203.0.113.7"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    let id = s["id"].as_str().expect("id").to_owned();
    let c = device.challenge_for(h, &id).await;
    let (_, b) = device
        .answer(h, &c, Decision::Deny, None, Some(DenyReason::NotMe))
        .await;
    assert_eq!(b["reason"], "fraud_reported");
    id
}

/// Waits (up to 30 s) until the site accepted an event; returns every call it saw.
async fn until_delivered(site: &Site, calls_needed: usize) -> Vec<(String, bool, Value)> {
    for _ in 0..300 {
        let calls = site.calls.lock().expect("lock").clone();
        if calls.len() >= calls_needed {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the event was not delivered: {:?}",
        site.calls.lock().expect("lock")
    );
}

#[tokio::test]
async fn a_failing_site_gets_the_fraud_event_on_a_retry_with_the_same_webhook_id() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    let site = Site::default();
    site.failing.store(1, Ordering::SeqCst);
    start_site(&h, site.clone()).await;
    let session = not_me(&h, &device).await;

    let calls = until_delivered(&site, 2).await;
    let (first_id, _, _) = &calls[0];
    assert!(first_id.starts_with("evt_"), "{first_id}");
    for (id, signed, body) in &calls {
        assert_eq!(id, first_id, "one webhook-id for every attempt");
        assert!(signed, "every attempt signed afresh");
        assert_eq!(body["type"], "user.fraud_reported");
        assert_eq!(body["session"], session.as_str());
    }
    // Delivered: never sent again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(site.calls.lock().expect("lock").len(), 2);
}

#[tokio::test]
async fn the_event_survives_a_restart_while_the_site_is_down() {
    let mut h = Harness::start().await;
    let device = h.pair("alice").await;
    let site = Site::default();
    site.failing.store(u32::MAX, Ordering::SeqCst);
    start_site(&h, site.clone()).await;
    not_me(&h, &device).await;
    until_delivered(&site, 1).await; // the first attempt failed (503)

    h.restart().await;
    site.failing.store(0, Ordering::SeqCst);
    let calls = until_delivered(&site, 2).await;
    let ids: std::collections::HashSet<_> = calls.iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(
        ids.len(),
        1,
        "the restarted service sent the same event: {calls:?}"
    );
    assert_eq!(calls.last().expect("call").2["user"], "alice");
}
