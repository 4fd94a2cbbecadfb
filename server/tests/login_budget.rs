//! The write budget of a login: creating a session is one write transaction and a device's
//! answer is one, each with its audit row inside it (the store counts its write
//! transactions, `Store::counts`). Superseding a pending session adds the user's guard
//! update (a missed push counts as a failure) in a transaction of its own. Over loopback HTTP
//! against a real service; SQLite, or PostgreSQL under `cargo xtask test postgres`. The sweep
//! (expiry, upkeep, outbox) writes on its own clock, so it runs once at start and the count
//! is read only once the store has been quiet for a while, after the request too: a write
//! the request leaves to a background task still counts.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;
use tapprove_protocol::Decision;

/// `(action, subject)` of the audit rows about `user`, oldest first.
async fn audit_of(h: &Harness, user: &str) -> Vec<(String, String)> {
    let r = h
        .http
        .get(h.url(&format!("/v1/audit?user={user}&limit=100")))
        .header("x-api-key", h.api_key())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.expect("json");
    page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (text("action"), text("subject"))
        })
        .collect()
}

/// The store's write-transaction count once it has not moved for half a second.
async fn settled(writes: impl Fn() -> u64) -> u64 {
    let mut last = writes();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = writes();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the store never went quiet: {last} write transactions and counting");
}

#[tokio::test]
async fn a_login_is_two_write_transactions_with_its_audit_rows_inside() {
    let h = Harness::start_with(|c| c.sweep_interval = Duration::from_secs(3600)).await;
    let phone = h.pair("alice").await;
    let store = h.service.as_ref().expect("running").state().store().clone();
    let writes = || store.counts().write_transactions;

    let before = settled(writes).await;
    let s = h.login("alice").await;
    assert_eq!(settled(writes).await - before, 1, "creating a session");
    let id = s["id"].as_str().expect("id").to_owned();

    let code = s["presence_code"].as_str().expect("code").to_owned();
    let c = phone.challenge_for(&h, &id).await;
    let before = settled(writes).await;
    let (status, body) = phone
        .answer(
            &h,
            &c,
            Decision::Approve,
            Some(&right_option(&c, &code)),
            None,
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("accepted"))
    );
    assert_eq!(
        settled(writes).await - before,
        1,
        "deciding by a device's answer"
    );

    let rows = audit_of(&h, "alice").await;
    let sessions: Vec<(&str, &str)> = rows
        .iter()
        .filter(|(action, _)| action.starts_with("session."))
        .map(|(a, s)| (a.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        sessions,
        vec![
            ("session.created", id.as_str()),
            ("session.decided", id.as_str()),
        ],
        "{rows:?}"
    );
}
