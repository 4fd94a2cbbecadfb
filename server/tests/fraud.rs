//! "Not me" cannot be lost: the decision, the user's lock and the site's fraud event are one
//! transaction, so a decision never stands without its lock. Over loopback HTTP against a real
//! service; SQLite, or PostgreSQL under `cargo xtask test postgres`.

mod common;

use axum::http::StatusCode;
use common::*;
use tapprove_protocol::{Decision, DenyReason};

async fn sql_exec(db: &str, sql: &str) {
    use sqlx::Connection as _;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    if db.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(db).await.expect("db");
        sqlx::query(sql).execute(&mut c).await.expect("statement");
    } else {
        let mut c = sqlx::PgConnection::connect(db).await.expect("db");
        sqlx::query(sql).execute(&mut c).await.expect("statement");
    }
}

#[tokio::test]
async fn a_not_me_whose_lock_cannot_be_written_is_not_decided_and_the_retry_locks() {
    let h = Harness::start().await;
    let db = h.config.database_url.clone();
    let phone = h.pair("alice").await;
    let s = h.login("alice").await;
    let id = s["id"].as_str().expect("id").to_owned();
    let c = phone.challenge_for(&h, &id).await;
    // Every write of a guard row fails (SQLite: triggers; PostgreSQL: a constraint no row meets).
    let (break_it, repair): (&[&str], &[&str]) = if db.starts_with("sqlite:") {
        (
            &[
                "CREATE TRIGGER guards_down_i BEFORE INSERT ON user_guards \
                 BEGIN SELECT RAISE(ABORT, 'guards down'); END",
                "CREATE TRIGGER guards_down_u BEFORE UPDATE ON user_guards \
                 BEGIN SELECT RAISE(ABORT, 'guards down'); END",
            ],
            &["DROP TRIGGER guards_down_i", "DROP TRIGGER guards_down_u"],
        )
    } else {
        (
            &["ALTER TABLE user_guards ADD CONSTRAINT guards_down CHECK (failures < 0) NOT VALID"],
            &["ALTER TABLE user_guards DROP CONSTRAINT guards_down"],
        )
    };
    for sql in break_it {
        sql_exec(&db, sql).await;
    }
    let token = phone.sign_answer(&c, Decision::Deny, None, Some(DenyReason::NotMe));
    let (status, body) = phone.send_answer(&h, &token).await;
    assert_error(status, &body, 500, "internal");
    let (_, view) = h.get_session(&id, None).await;
    assert_eq!(
        view["status"], "sent",
        "no decision without its lock: {view}"
    );

    for sql in repair {
        sql_exec(&db, sql).await;
    }
    // The phone sends the same answer again (as it does after a failed call).
    let (status, body) = phone.send_answer(&h, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reason"], "fraud_reported");
    let (status, body) = h
        .create_session(tapprove_test_support::fixture::create_session_body("alice"))
        .await;
    assert_error(status, &body, 423, "locked");
}

/// A Demo Bank login for `user` with more options.
fn login_body(user: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut body = tapprove_test_support::fixture::create_session_body(user);
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn unanswered_superseded_and_canceled_pushes_start_the_cooldown() {
    let h = Harness::start_with(|c| c.limits.sessions_per_minute = 20).await;
    h.pair("alice").await;
    // Restarting the login twice (each new push supersedes the last), then canceling it.
    h.login("alice").await;
    h.login("alice").await;
    let s = h.login("alice").await;
    let (status, _) = h
        .rp_client()
        .cancel_raw(s["id"].as_str().expect("id"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = h
        .create_session(login_body("alice", serde_json::json!({})))
        .await;
    let msg = assert_error(status, &body, 429, "rate_limited");
    assert!(msg.contains("in a row"), "{msg}");
}

#[tokio::test]
async fn a_retry_that_joins_the_pending_session_sends_no_new_push_and_counts_nothing() {
    let h = Harness::start_with(|c| c.limits.sessions_per_minute = 20).await;
    let phone = h.pair("alice").await;
    let first = h.login("alice").await;
    for _ in 0..5 {
        let (status, again) = h
            .create_session(login_body(
                "alice",
                serde_json::json!({"join_pending": true}),
            ))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{again}");
        assert_eq!(again["id"], first["id"]);
        assert_eq!(again["presence_code"], first["presence_code"]);
    }
    assert_eq!(phone.pending(&h).await.len(), 1, "one push, not six");
    let (_, view) = h.get_session(first["id"].as_str().expect("id"), None).await;
    assert_eq!(view["status"], "sent");
    // Nothing pending: join_pending starts a new session.
    h.rp_client()
        .cancel_raw(first["id"].as_str().expect("id"))
        .await;
    let (status, fresh) = h
        .create_session(login_body(
            "alice",
            serde_json::json!({"join_pending": true}),
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{fresh}");
    assert_ne!(fresh["id"], first["id"]);
}

#[tokio::test]
async fn a_late_not_me_on_a_push_that_ended_unanswered_locks_and_reports_but_keeps_the_outcome() {
    let h = Harness::start_with(|c| c.limits.sessions_per_minute = 20).await;
    let phone = h.pair("alice").await;
    let s1 = h.login("alice").await;
    let id1 = s1["id"].as_str().expect("id").to_owned();
    let c1 = phone.challenge_for(&h, &id1).await;
    // The attacker restarts the login: the first push ends superseded before the user answers.
    let s2 = h.login("alice").await;
    let c2 = phone
        .challenge_for(&h, s2["id"].as_str().expect("id"))
        .await;
    let (status, body) = phone
        .answer(&h, &c1, Decision::Deny, None, Some(DenyReason::NotMe))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["reason"].as_str()),
        (Some("canceled"), Some("superseded")),
        "the outcome stays"
    );
    let (_, view) = h.get_session(&id1, None).await;
    assert_eq!(view["reason"], "superseded");
    let (status, body) = h
        .create_session(login_body("alice", serde_json::json!({})))
        .await;
    assert_error(status, &body, 423, "locked");
    let r = h
        .http
        .get(h.url("/v1/audit?user=alice"))
        .header("x-api-key", h.api_key())
        .send()
        .await
        .expect("send");
    let (_, page) = status_json(r).await;
    let late = page["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["action"] == "session.fraud_reported_late")
        .unwrap_or_else(|| panic!("no late fraud report in {page}"));
    assert_eq!(late["subject"], id1.as_str());
    assert_eq!(late["actor"], format!("device:{}", phone.account_id()));

    // An answered session is not reopened for "not me".
    h.lift_lock("alice").await;
    let code = s2["presence_code"].as_str().expect("code").to_owned();
    let (status, _) = phone
        .answer(
            &h,
            &c2,
            Decision::Approve,
            Some(&right_option(&c2, &code)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = phone
        .answer(&h, &c2, Decision::Deny, None, Some(DenyReason::NotMe))
        .await;
    assert_error(status, &body, 409, "already_decided");
}
