//! Code to phone (`"presence": "display"`) over loopback HTTP: the code reaches only the
//! phone, the site submits what the user typed (once), wrong codes count toward the user's
//! guard, `nist-aal2` needs the phone's signed acknowledgement first; and approve-only
//! (`none`) only where the project allows it.

mod common;

use common::*;
use serde_json::{Value, json};
use tapprove_protocol::api::{ErrorCode, SessionReason, SessionStatus};
use tapprove_protocol::{Decision, DenyReason, PresenceMode, UvMethod};
use tapprove_server::admin::{self, PresencePolicy};

fn login_body(user: &str, presence: &str) -> Value {
    json!({"user": user, "presence": presence,
           "notification": {"title": "Log in to Demo Bank?", "body": "Someone is signing in."}})
}

async fn set_policy(h: &Harness, kind: &str, approve_only: bool) {
    let policy = PresencePolicy::new(kind, None)
        .and_then(|p| p.with_approve_only(approve_only))
        .expect("policy");
    admin::set_policy(&h.config.database_url, &h.project.project_id, policy)
        .await
        .expect("set policy");
}

/// Creates a display session; checks the 201 and the view carry no code; returns (id, the
/// code the phone got).
async fn display_login(h: &Harness, device: &SoftwareDevice, user: &str) -> (String, String) {
    let (status, created) = h.create_session(login_body(user, "display")).await;
    assert_eq!(status.as_u16(), 201, "{created}");
    assert!(
        created["presence_code"].is_null(),
        "code in the 201: {created}"
    );
    let id = created["id"].as_str().expect("id").to_owned();
    let c = device.challenge_for(h, &id).await;
    assert_eq!(c.presence.mode, PresenceMode::Display);
    let code = c.presence.code.clone().expect("the phone gets the code");
    assert!(
        code.len() >= 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    let (_, view) = h.get_session(&id, None).await;
    assert!(view["presence_code"].is_null(), "code in the view: {view}");
    assert!(!view.to_string().contains(&code), "{view}");
    (id, code)
}

/// (HTTP status, error code) of a typed relying-party client error.
macro_rules! api {
    ($e:expr) => {{
        let e = &$e;
        (e.status(), e.code())
    }};
}

#[tokio::test]
async fn the_right_code_is_accepted_once_and_never_shown_to_the_site() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    let rp = h.rp_client();
    let (id, code) = display_login(&h, &device, "alice").await;
    // The phone cannot approve a display session itself.
    let c = device.challenge_for(&h, &id).await;
    let (status, b) = device
        .answer(&h, &c, Decision::Approve, Some(&code), None)
        .await;
    assert_error(status, &b, 400, "invalid_request");
    let view = rp
        .typed()
        .submit_code(&id, &format!(" {code} "))
        .await
        .expect("submit");
    assert_eq!(
        (view.status, view.reason),
        (SessionStatus::Accepted, Some(SessionReason::Approved))
    );
    assert_eq!(view.presence_code, None);
    // One decision only.
    let e = rp
        .typed()
        .submit_code(&id, &code)
        .await
        .expect_err("refused");
    assert_eq!(api!(e), (Some(409), Some(ErrorCode::AlreadyDecided)));
    let (_, after) = h.get_session(&id, None).await;
    assert_eq!(after["status"], "accepted");
    assert!(!after.to_string().contains(&code), "{after}");
    // Typed refusals: unknown id, not a display session.
    let e = rp
        .typed()
        .submit_code("ses_nope", &code)
        .await
        .expect_err("refused");
    assert_eq!(api!(e), (Some(404), Some(ErrorCode::NotFound)));
    let choose = h.login("alice").await;
    let e = rp
        .typed()
        .submit_code(choose["id"].as_str().expect("id"), "123456")
        .await
        .expect_err("refused");
    assert_eq!(api!(e), (Some(409), Some(ErrorCode::NotDisplaySession)));
    // The phone may still deny ("not me") a display session.
    let (id, _) = display_login(&h, &device, "alice").await;
    let c = device.challenge_for(&h, &id).await;
    let (_, b) = device
        .answer(&h, &c, Decision::Deny, None, Some(DenyReason::Cancelled))
        .await;
    assert_eq!(b["reason"], "user_denied");
}

#[tokio::test]
async fn an_expired_display_session_refuses_the_code() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    let mut body = login_body("alice", "display");
    body["ttl_seconds"] = json!(1);
    let (_, created) = h.create_session(body).await;
    let id = created["id"].as_str().expect("id").to_owned();
    let code = device
        .challenge_for(&h, &id)
        .await
        .presence
        .code
        .expect("code");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let e = h
        .rp_client()
        .typed()
        .submit_code(&id, &code)
        .await
        .expect_err("refused");
    assert_eq!(api!(e), (Some(410), Some(ErrorCode::Expired)));
}

#[tokio::test]
async fn wrong_codes_are_rejected_and_count_toward_the_cooldown() {
    let h = Harness::start_with(|c| {
        c.limits.sessions_per_minute = 100;
        c.limits.sessions_per_hour = 100;
    })
    .await;
    let device = h.pair("alice").await;
    let rp = h.rp_client();
    // Three wrong codes, each on a new session with a new secret: the count is not reset.
    for _ in 0..3 {
        let (id, code) = display_login(&h, &device, "alice").await;
        let wrong = if code.starts_with('0') { "1" } else { "0" }.repeat(code.len());
        let view = rp.typed().submit_code(&id, &wrong).await.expect("submit");
        assert_eq!(
            (view.status, view.reason),
            (SessionStatus::Rejected, Some(SessionReason::WrongNumber))
        );
        // Rejected for good: the right code after a wrong one does not pass.
        let e = rp
            .typed()
            .submit_code(&id, &code)
            .await
            .expect_err("refused");
        assert_eq!(api!(e), (Some(409), Some(ErrorCode::AlreadyDecided)));
    }
    let (status, b) = h.create_session(login_body("alice", "display")).await;
    let message = assert_error(status, &b, 429, "rate_limited");
    assert!(message.contains("in a row"), "{message}");
}

#[tokio::test]
async fn under_nist_aal2_the_code_counts_only_after_the_phone_acknowledged_it() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    set_policy(&h, "nist-aal2", false).await;
    let rp = h.rp_client();
    let (id, code) = display_login(&h, &device, "alice").await;
    let c = device.challenge_for(&h, &id).await;
    assert_eq!(
        c.user_verification,
        Some(tapprove_protocol::UserVerification::Required)
    );
    // Before the acknowledgement: a typed refusal, the session stays open.
    let e = rp
        .typed()
        .submit_code(&id, &code)
        .await
        .expect_err("refused");
    assert_eq!(api!(e), (Some(409), Some(ErrorCode::CodeNotShown)));
    let (_, view) = h.get_session(&id, None).await;
    assert_eq!(view["status"], "sent");
    // An acknowledgement for another session's nonce, or a non-display one, is refused.
    let mut forged = c.clone();
    forged.nonce = "not-the-nonce".into();
    let (status, b) = device.shown(&h, &forged, UvMethod::Biometric).await;
    assert_error(status, &b, 400, "bad_signature");
    let (status, b) = device.shown(&h, &c, UvMethod::Biometric).await;
    assert_eq!(
        (status.as_u16(), b["status"].as_str()),
        (200, Some("sent")),
        "{b}"
    );
    let view = rp.typed().submit_code(&id, &code).await.expect("submit");
    assert_eq!(view.status, SessionStatus::Accepted);
    // The acknowledgement is refused once the session is decided.
    let (status, b) = device.shown(&h, &c, UvMethod::Biometric).await;
    assert_error(status, &b, 409, "already_decided");
}

#[tokio::test]
async fn approve_only_needs_the_project_setting_and_never_under_nist_aal2() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    let (status, b) = h.create_session(login_body("alice", "none")).await;
    assert_error(status, &b, 400, "policy_not_met");
    set_policy(&h, "choose", true).await;
    let (status, b) = h.create_session(login_body("alice", "none")).await;
    assert_eq!(status.as_u16(), 201, "{b}");
    assert!(b["presence_code"].is_null());
    let c = device
        .challenge_for(&h, b["id"].as_str().expect("id"))
        .await;
    assert_eq!(c.presence.mode, PresenceMode::None);
    let (_, a) = device.answer(&h, &c, Decision::Approve, None, None).await;
    assert_eq!(a["status"], "accepted");
    let listed = admin::list_projects(&h.config.database_url)
        .await
        .expect("list");
    assert!(listed[0].policy.allow_approve_only);
    // nist-aal2 refuses the setting, and a project moved to it stops allowing approve-only.
    assert!(
        PresencePolicy::new("nist-aal2", None)
            .expect("policy")
            .with_approve_only(true)
            .is_err()
    );
    set_policy(&h, "nist-aal2", false).await;
    let (status, b) = h.create_session(login_body("alice", "none")).await;
    assert_error(status, &b, 400, "policy_not_met");
    // display passes every policy.
    display_login(&h, &device, "alice").await;
}
