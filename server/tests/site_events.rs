//! The site-event outbox over loopback HTTP: a "not me" event reaches a site that was failing
//! or down, with one `webhook-id` over every attempt, also across a restart of the service.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use serde_json::json;
use tapprove_protocol::{Decision, DenyReason};
use tapprove_server::admin;

/// Points the project's site events at the fake site's events URL.
async fn start_site(h: &Harness) {
    admin::set_events_url(
        &h.config.database_url,
        &h.project.project_id,
        Some(&h.rp.events_url()),
    )
    .await
    .expect("events url");
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

/// Waits (up to 30 s) until the site saw `calls_needed` event calls; returns them all.
async fn until_delivered(h: &Harness, calls_needed: usize) -> Vec<WebhookCall> {
    h.rp.events_at_least(calls_needed, Duration::from_secs(30))
        .await
}

#[tokio::test]
async fn a_failing_site_gets_the_fraud_event_on_a_retry_with_the_same_webhook_id() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    h.rp.fail_events(1);
    start_site(&h).await;
    let session = not_me(&h, &device).await;

    let calls = until_delivered(&h, 2).await;
    let first_id = &calls[0].msg_id;
    assert!(first_id.starts_with("evt_"), "{first_id}");
    for call in &calls {
        assert_eq!(&call.msg_id, first_id, "one webhook-id for every attempt");
        assert!(call.authentic(), "every attempt signed afresh: {call:?}");
        assert_eq!(call.body["type"], "user.fraud_reported");
        assert_eq!(call.body["session"], session.as_str());
    }
    // Delivered: never sent again.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(h.rp.events().len(), 2);
}

#[tokio::test]
async fn the_event_survives_a_restart_while_the_site_is_down() {
    let mut h = Harness::start().await;
    let device = h.pair("alice").await;
    h.rp.fail_events(u32::MAX);
    start_site(&h).await;
    not_me(&h, &device).await;
    until_delivered(&h, 1).await; // the first attempt failed (503)

    h.restart().await;
    h.rp.fail_events(0);
    let calls = until_delivered(&h, 2).await;
    let ids: std::collections::HashSet<_> = calls.iter().map(|c| c.msg_id.clone()).collect();
    assert_eq!(
        ids.len(),
        1,
        "the restarted service sent the same event: {calls:?}"
    );
    assert_eq!(calls.last().expect("call").body["user"], "alice");
}
