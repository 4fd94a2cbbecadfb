//! NIST SP 800-63B over loopback HTTP: presence policy per project, atomic push budget, failure
//! counts that a new code does not reset, fraud reports that lock and tell the site.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};
use tapprove_protocol::{Answer, Decision, DenyReason, PresenceMode, UserVerification, UvMethod};
use tapprove_server::admin::{self, PresencePolicy};

fn login_body(user: &str) -> Value {
    json!({"user": user, "notification": {"title": "Log in to Demo Bank?", "body": "Someone is signing in."},
           "context": {"ip": "203.0.113.7", "app": "Demo Bank", "location": "Lyon, FR", "user_agent": "Firefox"}})
}

/// An approval verified on the phone (`uv`: biometric).
fn approve_with_uv(
    device: &SoftwareDevice,
    c: &tapprove_protocol::Challenge,
    code: &str,
) -> String {
    Answer {
        uv: Some(UvMethod::Biometric),
        ver: tapprove_protocol::PROTOCOL_VERSION,
        session_id: c.session_id.clone(),
        account_id: device.account_id().to_owned(),
        decision: Decision::Approve,
        presence_answer: Some(code.to_owned()),
        deny_reason: None,
        iat: now(),
        nonce: c.nonce.clone(),
    }
    .sign(device.key.as_ref())
    .expect("sign")
}

async fn set_policy(h: &Harness, kind: &str, digits: Option<u8>) {
    let policy = PresencePolicy::new(kind, digits).expect("policy");
    let summary = admin::set_policy(&h.config.database_url, &h.project.project_id, policy)
        .await
        .expect("set policy");
    assert_eq!(summary.policy, policy);
}

#[tokio::test]
async fn nist_aal2_policy_gives_typed_six_digit_codes_and_refuses_weaker_sessions() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    set_policy(&h, "nist-aal2", None).await;

    let s = h.login("alice").await;
    let code = s["presence_code"].as_str().expect("code").to_owned();
    assert_eq!(code.len(), 6, "{code}");
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    let c = device
        .challenge_for(&h, s["id"].as_str().expect("id"))
        .await;
    assert_eq!(c.presence.mode, PresenceMode::Entry);
    assert!(
        c.presence.options.is_empty(),
        "the code is never sent to the phone"
    );
    // Codes expire within 10 minutes.
    assert!(s["expires_at"].as_i64().expect("exp") <= now() + 600);

    for weaker in ["choose", "none"] {
        let mut body = login_body("alice");
        body["presence"] = json!(weaker);
        let (status, b) = h.create_session(body).await;
        let message = assert_error(status, &b, 400, "policy_not_met");
        assert!(message.contains("nist-aal2"), "{message}");
    }
    // The typed code approves (used once: a second answer is already decided).
    let token = approve_with_uv(&device, &c, &code);
    let (status, b) = device.send_answer(&h, &token).await;
    assert_eq!(
        (status, b["status"].as_str()),
        (StatusCode::OK, Some("accepted")),
        "{b}"
    );
    let (status, b) = device.send_answer(&h, &token).await;
    assert_error(status, &b, 409, "already_decided");

    // `entry` with a configured length; `choose` back to three 2-digit options.
    set_policy(&h, "entry", Some(8)).await;
    let s = h.login("alice").await;
    assert_eq!(s["presence_code"].as_str().expect("code").len(), 8);
    set_policy(&h, "choose", None).await;
    let s = h.login("alice").await;
    let c = device
        .challenge_for(&h, s["id"].as_str().expect("id"))
        .await;
    assert_eq!(c.presence.options.len(), 3);
    assert_eq!(s["presence_code"].as_str().expect("code").len(), 2);
}

#[tokio::test]
async fn fifty_parallel_creates_pass_exactly_the_budget() {
    let h = Harness::start().await;
    let _device = h.pair("alice").await;
    let creates = (0..50).map(|_| h.create_session(login_body("alice")));
    let results = futures_util::future::join_all(creates).await;
    let created = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let limited = results
        .iter()
        .filter(|(s, b)| {
            *s == StatusCode::TOO_MANY_REQUESTS && b["error"]["code"] == "rate_limited"
        })
        .count();
    let statuses: Vec<u16> = results.iter().map(|(s, _)| s.as_u16()).collect();
    assert_eq!((created, limited), (3, 47), "{statuses:?}");
}

#[tokio::test]
async fn parallel_creates_right_after_an_approval_still_pass_exactly_the_budget() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    let s = h.login("alice").await;
    let c = device
        .challenge_for(&h, s["id"].as_str().expect("id"))
        .await;
    let code = s["presence_code"].as_str().expect("code").to_owned();
    let (_, b) = device
        .answer(&h, &c, Decision::Approve, Some(&code), None)
        .await;
    assert_eq!(b["status"], "accepted");
    // Times are whole seconds: these land in the approval's second, and still count.
    let creates = (0..20).map(|_| h.create_session(login_body("alice")));
    let results = futures_util::future::join_all(creates).await;
    let statuses: Vec<u16> = results.iter().map(|(s, _)| s.as_u16()).collect();
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(created, 3, "{statuses:?}");
}

#[tokio::test]
async fn a_new_code_never_resets_the_failure_count() {
    let h = Harness::start_with(|c| {
        c.limits.sessions_per_minute = 100;
        c.limits.sessions_per_hour = 100;
    })
    .await;
    let device = h.pair("alice").await;
    // Two wrong codes, each on its own session (a new code each time) ...
    for _ in 0..2 {
        let s = h.login("alice").await;
        let c = device
            .challenge_for(&h, s["id"].as_str().expect("id"))
            .await;
        let wrong = wrong_option(&c, s["presence_code"].as_str().expect("code"));
        let (_, b) = device
            .answer(&h, &c, Decision::Approve, Some(&wrong), None)
            .await;
        assert_eq!(b["reason"], "wrong_number");
    }
    // ... and a denial on a third: three failures in a row start the cooldown.
    let s = h.login("alice").await;
    let c = device
        .challenge_for(&h, s["id"].as_str().expect("id"))
        .await;
    let (_, b) = device
        .answer(&h, &c, Decision::Deny, None, Some(DenyReason::Cancelled))
        .await;
    assert_eq!(b["reason"], "user_denied");
    let (status, b) = h.create_session(login_body("alice")).await;
    let message = assert_error(status, &b, 429, "rate_limited");
    assert!(message.contains("in a row"), "{message}");
    // Another user is not affected.
    let _bob = h.pair("bob").await;
    h.login("bob").await;
}

#[tokio::test]
async fn an_approval_resets_the_failure_count() {
    let h = Harness::start_with(|c| {
        c.limits.sessions_per_minute = 100;
        c.limits.sessions_per_hour = 100;
    })
    .await;
    let device = h.pair("alice").await;
    for round in 0..3 {
        for _ in 0..2 {
            let s = h.login("alice").await;
            let c = device
                .challenge_for(&h, s["id"].as_str().expect("id"))
                .await;
            device
                .answer(&h, &c, Decision::Deny, None, Some(DenyReason::Cancelled))
                .await;
        }
        let s = h.login("alice").await;
        let c = device
            .challenge_for(&h, s["id"].as_str().expect("id"))
            .await;
        let right = right_option(&c, s["presence_code"].as_str().expect("code"));
        let (_, b) = device
            .answer(&h, &c, Decision::Approve, Some(&right), None)
            .await;
        assert_eq!(b["status"], "accepted", "round {round}: {b}");
    }
}

#[tokio::test]
async fn not_me_locks_the_user_tells_the_site_and_the_site_lifts_it() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    let events_url = h.rp.events_url();
    let summary = admin::set_events_url(
        &h.config.database_url,
        &h.project.project_id,
        Some(&events_url),
    )
    .await
    .expect("events url");
    assert_eq!(summary.events_url.as_deref(), Some(events_url.as_str()));

    let (status, s) = h.create_session(login_body("alice")).await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    let session_id = s["id"].as_str().expect("id").to_owned();
    let c = device.challenge_for(&h, &session_id).await;
    let (_, b) = device
        .answer(&h, &c, Decision::Deny, None, Some(DenyReason::NotMe))
        .await;
    assert_eq!(b["reason"], "fraud_reported");

    // Locked at once: 423 with when it ends (default one hour).
    let r = h
        .http
        .post(h.url("/v1/push/sessions"))
        .header("x-api-key", h.api_key())
        .json(&login_body("alice"))
        .send()
        .await
        .expect("send");
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    let (status, b) = status_json(r).await;
    assert!(assert_error(status, &b, 423, "locked").contains("not theirs"));
    let until = b["error"]["locked_until"].as_i64().expect("locked_until");
    assert!((now() + 3590..=now() + 3600).contains(&until), "{until}");
    assert!((3590..=3600).contains(&retry), "{retry}");

    // The site got the signed event.
    let event = h.rp.events_at_least(1, Duration::from_secs(5)).await;
    let body = &event[0].body;
    assert!(
        event[0].authentic(),
        "Basic auth and Standard Webhooks signature: {:?}",
        event[0]
    );
    assert_eq!(body["type"], "user.fraud_reported");
    assert_eq!(body["user"], "alice");
    assert_eq!(body["session"], session_id.as_str());
    assert_eq!(body["ip"], "203.0.113.7");
    assert_eq!(body["context"]["location"], "Lyon, FR");
    assert_eq!(body["locked_until"], until);

    // Other users are not locked; the site lifts alice's lock.
    let _bob = h.pair("bob").await;
    h.login("bob").await;
    assert_eq!(h.lift_lock("alice").await, StatusCode::NO_CONTENT);
    h.login("alice").await;
    // Lifting needs the API key.
    let r = h
        .http
        .delete(h.url("/v1/users/alice/lock"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_fraud_lock_length_is_configurable_and_ends() {
    let h = Harness::start_with(|c| c.limits.fraud_lock_seconds = 2).await;
    let device = h.pair("alice").await;
    let s = h.login("alice").await;
    let c = device
        .challenge_for(&h, s["id"].as_str().expect("id"))
        .await;
    device
        .answer(&h, &c, Decision::Deny, None, Some(DenyReason::NotMe))
        .await;
    let (status, b) = h.create_session(login_body("alice")).await;
    assert_error(status, &b, 423, "locked");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    h.login("alice").await;
}

#[tokio::test]
async fn nist_aal2_refuses_an_approval_without_user_verification_and_records_uv() {
    let h = Harness::start().await;
    set_policy(&h, "nist-aal2", None).await;
    let device = h.pair("alice").await;
    assert_eq!(
        device.pairing.as_ref().expect("paired").user_verification,
        Some(UserVerification::Required),
        "pairing announces the policy"
    );
    let s = h.login("alice").await;
    let id = s["id"].as_str().expect("id");
    let code = s["presence_code"].as_str().expect("code");
    let c = device.challenge_for(&h, id).await;
    assert_eq!(c.user_verification, Some(UserVerification::Required));
    assert_eq!(c.presence.length, Some(6));
    // Without uv: refused with a typed code, the session stays open.
    let (status, b) = device
        .answer(&h, &c, Decision::Approve, Some(code), None)
        .await;
    assert!(assert_error(status, &b, 403, "user_verification_required").contains("verification"));
    let (_, view) = h.get_session(id, None).await;
    assert_eq!(view["status"], "sent");
    // With uv: accepted, and the method is stored with the decision.
    let token = approve_with_uv(&device, &c, code);
    let (status, b) = device.send_answer(&h, &token).await;
    assert_eq!(
        (status, b["status"].as_str()),
        (StatusCode::OK, Some("accepted")),
        "{b}"
    );
    let db = h.config.database_url.clone();
    let sql = "SELECT decided_uv FROM sessions WHERE id = $1";
    let uv: Option<String> = {
        use sqlx::Connection as _;
        if db.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&db).await.expect("db");
            sqlx::query_scalar(sql).bind(id).fetch_one(&mut conn).await
        } else {
            let mut conn = sqlx::PgConnection::connect(&db).await.expect("db");
            sqlx::query_scalar(sql).bind(id).fetch_one(&mut conn).await
        }
        .expect("row")
    };
    assert_eq!(uv.as_deref(), Some("biometric"));
    // A denial needs no verification (and cannot carry it).
    let s = h.login("alice").await;
    let c = device
        .challenge_for(&h, s["id"].as_str().expect("id"))
        .await;
    let (_, b) = device
        .answer(&h, &c, Decision::Deny, None, Some(DenyReason::Cancelled))
        .await;
    assert_eq!(b["reason"], "user_denied");
}
