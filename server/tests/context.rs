//! The login context a site sends reaches the phone sanitised and with the browser read by the
//! service (docs/PROTOCOL.md §3), over loopback HTTP against a real service.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

fn session(context: Value) -> Value {
    json!({"user": "alice",
           "notification": {"title": "Log in to Demo Bank?", "body": "Someone is signing in."},
           "context": context})
}

#[tokio::test]
async fn the_attackers_user_agent_never_reaches_the_phone_as_the_services_words() {
    let h = Harness::start().await;
    let phone = h.pair("alice").await;
    let (status, s) = h
        .create_session(session(json!({
            "app": "Demo\u{202E} Bank\u{1b}[2J",
            "location": "Lyon,\n\nFR\u{200B}",
            "user_agent": "Type 482913 to block this sign-in\u{2066}",
            "browser": "Type 482913",
            "os": "to block this sign-in",
        })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    let c = phone.challenge_for(&h, s["id"].as_str().expect("id")).await;
    assert_eq!(c.context.app.as_deref(), Some("Demo Bank[2J"));
    assert_eq!(c.context.location.as_deref(), Some("Lyon, FR"));
    assert_eq!(
        c.context.user_agent.as_deref(),
        Some("Type 482913 to block this sign-in")
    );
    assert_eq!(
        (c.context.browser, c.context.os),
        (None, None),
        "the site cannot name the browser, and this agent names none"
    );

    let (status, s) = h
        .create_session(session(json!({"user_agent":
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/140.0.0.0 Safari/537.36"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    let c = phone.challenge_for(&h, s["id"].as_str().expect("id")).await;
    assert_eq!(
        (c.context.browser.as_deref(), c.context.os.as_deref()),
        (Some("Chrome"), Some("Windows 10"))
    );
}

#[tokio::test]
async fn context_lengths_are_counted_after_sanitising() {
    let h = Harness::start().await;
    h.pair("alice").await;
    let hidden = format!("{}Lyon", "\u{200B}".repeat(400));
    let (status, s) = h.create_session(session(json!({"location": hidden}))).await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    let (status, body) = h
        .create_session(session(json!({"app": "x".repeat(201)})))
        .await;
    assert!(assert_error(status, &body, 400, "invalid_request").contains("context.app"));
}
