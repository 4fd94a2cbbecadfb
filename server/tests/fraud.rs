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
    assert_eq!(view["status"], "sent", "no decision without its lock: {view}");

    for sql in repair {
        sql_exec(&db, sql).await;
    }
    // The phone sends the same answer again (as it does after a failed call).
    let (status, body) = phone.send_answer(&h, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reason"], "fraud_reported");
    let (status, body) = h.create_session(tapprove_test_support::fixture::create_session_body("alice")).await;
    assert_error(status, &body, 423, "locked");
}
