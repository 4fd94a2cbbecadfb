//! The audit log over loopback HTTP: each action leaves exactly its rows,
//! the relying party reads only its own project's (`GET /v1/audit`, paginated), no secret is
//! ever stored, the retention job ages rows out, and a failed audit write does not fail the
//! user's request. SQLite, or PostgreSQL with
//! `TAPPROVE_TEST_POSTGRES_URL` (`cargo xtask test postgres`).

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};
use tapprove_protocol::{Decision, DenyReason};
use tapprove_server::admin;

/// (actor, action, subject, user, outcome, reason) of a row, with `device:<acc>` and ids kept.
type Brief = (String, String, String, String, String, String);

fn brief(row: &Value) -> Brief {
    let s = |k: &str| row[k].as_str().unwrap_or("-").to_owned();
    (
        s("actor"),
        s("action"),
        s("subject"),
        s("user"),
        s("outcome"),
        s("reason"),
    )
}

fn b(actor: &str, action: &str, subject: &str, user: &str, outcome: &str, reason: &str) -> Brief {
    (
        actor.into(),
        action.into(),
        subject.into(),
        user.into(),
        outcome.into(),
        reason.into(),
    )
}

impl Harness {
    /// `GET /v1/audit?<query>` with `api_key`.
    async fn audit_page(&self, api_key: &str, query: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(self.url(&format!("/v1/audit?{query}")))
            .header("x-api-key", api_key)
            .send()
            .await
            .expect("send");
        status_json(r).await
    }

    /// Every row the project's API key can read, walking the pages.
    async fn audit_all(&self, api_key: &str, query: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = format!("limit=1000&{query}");
            if let Some(c) = &cursor {
                q.push_str(&format!("&cursor={c}"));
            }
            let (status, page) = self.audit_page(api_key, &q).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            rows.extend(page["events"].as_array().expect("events").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return rows,
            }
        }
    }

    /// The rows added since the last call (`seen` counts what was already checked).
    async fn new_rows(&self, seen: &mut usize) -> Vec<Brief> {
        let rows = self.audit_all(self.api_key(), "").await;
        let fresh: Vec<Brief> = rows[*seen..].iter().map(brief).collect();
        *seen = rows.len();
        fresh
    }
}

/// Runs `sql` on the service's database (SQLite file or PostgreSQL), returning the first
/// column of each row as text.
async fn sql_texts(db: &str, sql: &str) -> Vec<String> {
    use sqlx::Connection as _;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    if db.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(db).await.expect("db");
        sqlx::query_scalar(sql).fetch_all(&mut c).await
    } else {
        let mut c = sqlx::PgConnection::connect(db).await.expect("db");
        sqlx::query_scalar(sql).fetch_all(&mut c).await
    }
    .expect("query")
}

async fn sql_exec(db: &str, sql: &str) -> u64 {
    use sqlx::Connection as _;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    if db.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(db).await.expect("db");
        sqlx::query(sql)
            .execute(&mut c)
            .await
            .map(|r| r.rows_affected())
    } else {
        let mut c = sqlx::PgConnection::connect(db).await.expect("db");
        sqlx::query(sql)
            .execute(&mut c)
            .await
            .map(|r| r.rows_affected())
    }
    .expect("statement")
}

/// Every stored column of every audit row, as one text per row.
async fn every_row_text(db: &str) -> Vec<String> {
    sql_texts(
        db,
        "SELECT id || '|' || CAST(at AS TEXT) || '|' || COALESCE(project_id, '') || '|' || \
         actor || '|' || action || '|' || subject || '|' || COALESCE(user_name, '') || '|' || \
         outcome || '|' || COALESCE(reason, '') || '|' || COALESCE(source_ip, '') || '|' || \
         COALESCE(request_id, '') FROM audit_log",
    )
    .await
}

#[tokio::test]
async fn each_action_leaves_exactly_its_rows() {
    let h = Harness::start_with(|c| c.limits.sessions_per_minute = 2).await;
    let pid = h.project.project_id.clone();
    let mut seen = 0;
    assert_eq!(
        h.new_rows(&mut seen).await,
        vec![b("operator", "project.created", &pid, "-", "ok", "-")]
    );

    // A pairing, and one the site refuses.
    let phone = h.pair("alice").await;
    let acc = phone.account_id().to_owned();
    let dev = format!("device:{acc}");
    let (status, _) = SoftwareDevice::new(&h.project.sdk_key)
        .pair(&h, "alice", "WRONG-CODE")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        h.new_rows(&mut seen).await,
        vec![
            b(&dev, "device.pairing", &acc, "alice", "ok", "-"),
            b(
                "device",
                "device.pairing",
                "alice",
                "alice",
                "rejected",
                "rejected"
            ),
        ]
    );

    // A login accepted, with the site's request id.
    let r = h
        .http
        .post(h.url("/v1/push/sessions"))
        .header("x-api-key", h.api_key())
        .header("x-request-id", "site-req-42")
        .json(&json!({"user": "alice", "notification": {"title": "Log in?", "body": "b"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("site-req-42"),
        "the request id is echoed"
    );
    let (status, created) = status_json(r).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let sid = created["id"].as_str().expect("id").to_owned();
    let code = created["presence_code"].as_str().expect("code").to_owned();
    let c = phone.challenge_for(&h, &sid).await;
    let (status, _) = phone
        .answer(
            &h,
            &c,
            Decision::Approve,
            Some(&right_option(&c, &code)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h.new_rows(&mut seen).await,
        vec![
            b("rp", "session.created", &sid, "alice", "ok", "-"),
            b(
                &dev,
                "session.decided",
                &sid,
                "alice",
                "accepted",
                "approved"
            ),
        ]
    );
    let rows = h.audit_all(h.api_key(), "").await;
    let created_row = rows.iter().find(|r| r["subject"] == sid).expect("row");
    assert_eq!(created_row["request_id"], "site-req-42");
    assert_eq!(created_row["source_ip"], "127.0.0.1");
    assert_eq!(created_row["project_id"], json!(pid));
    let answered = rows
        .iter()
        .find(|r| r["subject"] == sid && r["action"] == "session.decided")
        .expect("row");
    let generated = answered["request_id"].as_str().expect("a request id");
    assert!(generated.starts_with("req_"), "{generated}");

    // "Not me": the decision by the device and the lock it starts; the site lifts it.
    let s = h.login("alice").await;
    let sid2 = s["id"].as_str().expect("id").to_owned();
    let c = phone.challenge_for(&h, &sid2).await;
    let (_, body) = phone
        .answer(&h, &c, Decision::Deny, None, Some(DenyReason::NotMe))
        .await;
    assert_eq!(body["reason"], "fraud_reported");
    // Refused twice: a flood of refusals is one row a minute.
    for _ in 0..2 {
        let (status, _) = h
            .create_session(json!({"user": "alice", "notification": {"title": "t", "body": "b"}}))
            .await;
        assert_eq!(status, StatusCode::LOCKED);
    }
    assert_eq!(h.lift_lock("alice").await, StatusCode::NO_CONTENT);
    assert_eq!(
        h.new_rows(&mut seen).await,
        vec![
            b("rp", "session.created", &sid2, "alice", "ok", "-"),
            b(
                &dev,
                "session.decided",
                &sid2,
                "alice",
                "rejected",
                "fraud_reported"
            ),
            b(
                "service",
                "user.locked",
                "alice",
                "alice",
                "ok",
                "fraud_reported"
            ),
            b(
                "rp",
                "rate_limited",
                "alice",
                "alice",
                "refused",
                "fraud_lock"
            ),
            b("rp", "user.lock_lifted", "alice", "alice", "ok", "-"),
        ]
    );

    // The push budget (2 a minute here): the third login request is refused and recorded;
    // the pending one is superseded, then canceled by the site.
    let carol = h.pair("carol").await;
    let s3 = h.login("carol").await;
    let s4 = h.login("carol").await;
    let (status, _) = h
        .create_session(json!({"user": "carol", "notification": {"title": "t", "body": "b"}}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (sid3, sid4) = (
        s3["id"].as_str().expect("id"),
        s4["id"].as_str().expect("id"),
    );
    let r = h
        .http
        .delete(h.url(&format!("/v1/push/sessions/{sid4}")))
        .header("x-api-key", h.api_key())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        h.new_rows(&mut seen).await,
        vec![
            b(
                &format!("device:{}", carol.account_id()),
                "device.pairing",
                carol.account_id(),
                "carol",
                "ok",
                "-"
            ),
            b("rp", "session.created", sid3, "carol", "ok", "-"),
            b(
                "rp",
                "session.decided",
                sid3,
                "carol",
                "canceled",
                "superseded"
            ),
            b("rp", "session.created", sid4, "carol", "ok", "-"),
            b(
                "rp",
                "rate_limited",
                "carol",
                "carol",
                "refused",
                "sessions_per_minute"
            ),
            b(
                "rp",
                "session.decided",
                sid4,
                "carol",
                "canceled",
                "canceled_by_relying_party"
            ),
        ]
    );

    // A revocation by the site, and a repeated one that finds nothing.
    let (status, _) = h
        .rp_delete(&format!("/v1/devices/{acc}"), h.api_key())
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h.rp_delete("/v1/users/alice/devices", h.api_key()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        h.new_rows(&mut seen).await,
        vec![
            b("rp", "device.revoked", &acc, "alice", "ok", "-"),
            b(
                "rp",
                "device.revoked",
                "alice",
                "alice",
                "noop",
                "nothing_left_to_revoke"
            ),
        ]
    );

    // A device's own unpairing.
    let tablet = h.pair("bob").await;
    let (status, _) = tablet.call(&h, "DELETE", "/v1/device", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let tab = tablet.account_id();
    let tab_actor = format!("device:{tab}");
    assert_eq!(
        h.new_rows(&mut seen).await,
        vec![
            b(&tab_actor, "device.pairing", tab, "bob", "ok", "-"),
            b(&tab_actor, "device.unpaired", tab, "bob", "ok", "-"),
        ]
    );

    // A login nobody answers: the sweeper expires it (the service's row, outside a request).
    let dave = h.pair("dave").await;
    let (status, s5) = h
        .create_session(json!({"user": "dave", "ttl_seconds": 1,
                               "notification": {"title": "t", "body": "b"}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s5}");
    let sid5 = s5["id"].as_str().expect("id").to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rows = h.audit_all(h.api_key(), "user=dave").await;
        if rows.len() == 3 {
            assert_eq!(rows[2]["request_id"], Value::Null, "{rows:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not expired: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dave_actor = format!("device:{}", dave.account_id());
    assert_eq!(
        h.new_rows(&mut seen).await,
        vec![
            b(
                &dave_actor,
                "device.pairing",
                dave.account_id(),
                "dave",
                "ok",
                "-"
            ),
            b("rp", "session.created", &sid5, "dave", "ok", "-"),
            b(
                "service",
                "session.decided",
                &sid5,
                "dave",
                "expired",
                "timeout"
            ),
        ]
    );

    // An operator's API-key rotation and revocation, and webhook rotation; the new key reads
    // the log, the revoked one cannot.
    let rotated = admin::rotate_api_key(&h.config.database_url, &pid, Duration::ZERO)
        .await
        .expect("rotate");
    let new_key = rotated.api_key.expose().to_owned();
    admin::rotate_webhook_credentials(
        &h.config.database_url,
        h.config.seal_key.as_ref().expect("seal"),
        &pid,
    )
    .await
    .expect("rotate webhook");
    let (status, _) = h.audit_page(h.api_key(), "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let rows = h.audit_all(&new_key, "").await;
    let fresh: Vec<Brief> = rows[seen..].iter().map(brief).collect();
    assert_eq!(fresh.len(), 2, "{fresh:?}");
    assert_eq!(
        (&fresh[0].0, &fresh[0].1, &fresh[0].4),
        (
            &"operator".to_owned(),
            &"api_key.revoked".to_owned(),
            &"ok".to_owned()
        )
    );
    assert!(
        fresh[0].2.starts_with("key_") && fresh[0].2.len() == 16,
        "{fresh:?}"
    );
    assert_eq!(
        fresh[1],
        b("operator", "webhook.rotated", &pid, "-", "ok", "-")
    );
    // Operator rows have no request id or source IP.
    assert_eq!(rows.last().expect("row")["source_ip"], Value::Null);
    assert_eq!(rows.last().expect("row")["request_id"], Value::Null);
}

impl Harness {
    async fn rp_delete(&self, path: &str, api_key: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .delete(self.url(path))
            .header("x-api-key", api_key)
            .send()
            .await
            .expect("send");
        status_json(r).await
    }
}

#[tokio::test]
async fn the_site_reads_only_its_own_project_a_page_at_a_time() {
    let h = Harness::start().await;
    let other = admin::create_project(
        &h.config.database_url,
        h.config.seal_key.as_ref().expect("seal"),
        "Other Shop",
        &h.rp.trust_url(),
    )
    .await
    .expect("project");
    // Rows in both projects: the other's pairing is refused (its webhook credentials are not
    // the fake site's), ours succeed.
    let (status, _) = SoftwareDevice::new(&other.sdk_key)
        .pair(&h, "alice", PAIRING_CODE)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for user in ["alice", "bob", "alice"] {
        h.pair(user).await;
    }
    let ours = h.audit_all(h.api_key(), "").await;
    assert_eq!(ours.len(), 4, "project.created + 3 pairings: {ours:?}");
    assert!(
        ours.iter()
            .all(|r| r["project_id"] == json!(h.project.project_id))
    );
    let theirs = h.audit_all(other.api_key.expose(), "").await;
    assert_eq!(theirs.len(), 2, "{theirs:?}");
    assert!(
        theirs
            .iter()
            .all(|r| r["project_id"] == json!(other.project_id))
    );
    // The operator sees both.
    let q = admin::AuditQuery {
        limit: 100,
        ..admin::AuditQuery::default()
    };
    let all = admin::read_audit(&h.config.database_url, &q)
        .await
        .expect("read");
    assert_eq!(all.len(), 6);

    // Pages of 1 walk the same rows in the same order.
    let mut paged = Vec::new();
    let mut query = "limit=1".to_owned();
    loop {
        let (status, page) = h.audit_page(h.api_key(), &query).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let events = page["events"].as_array().expect("events");
        assert!(events.len() <= 1);
        paged.extend(events.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, ours);
    // By user, and since a time.
    let alice = h.audit_all(h.api_key(), "user=alice").await;
    assert_eq!(alice.len(), 2);
    assert!(alice.iter().all(|r| r["user"] == "alice"));
    let (_, page) = h
        .audit_page(h.api_key(), &format!("since={}", now() + 3600))
        .await;
    assert_eq!(page, json!({"events": [], "next_cursor": null}));
    // Bad queries: typed errors.
    for q in [
        "limit=0",
        "limit=1001",
        "cursor=nonsense",
        "since=yesterday",
    ] {
        let (status, body) = h.audit_page(h.api_key(), q).await;
        assert_error(status, &body, 400, "invalid_request");
    }
    let (status, body) = h.audit_page("", "").await;
    assert_error(status, &body, 401, "unauthorized");
}

#[tokio::test]
async fn no_secret_is_ever_stored_in_the_log() {
    let h = Harness::start_with(|c| c.limits.pairings_per_minute_per_ip = 3).await;
    let db = h.config.database_url.clone();
    let pid = h.project.project_id.clone();
    // Bob's tablet registers a push token (no push provider here: his logins would fail).
    let mut tablet = SoftwareDevice::new(&h.project.sdk_key);
    tablet.push = Some(json!({"platform": "fcm", "token": "fcm-secret-token-123"}));
    let (status, body) = tablet.pair(&h, "bob", PAIRING_CODE).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let phone = h.pair("alice").await;
    let wrong = "SECRET-GUESS-99";
    SoftwareDevice::new(&h.project.sdk_key)
        .pair(&h, "alice", wrong)
        .await;
    // Three attempts a minute from one IP: the fourth is refused by the limit.
    let (status, _) = SoftwareDevice::new(&h.project.sdk_key)
        .pair(&h, "alice", wrong)
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let s = h.login("alice").await;
    let code = s["presence_code"].as_str().expect("code").to_owned();
    let c = phone.challenge_for(&h, s["id"].as_str().expect("id")).await;
    phone
        .answer(
            &h,
            &c,
            Decision::Approve,
            Some(&right_option(&c, &code)),
            None,
        )
        .await;
    let rotated = admin::rotate_api_key(&db, &pid, Duration::from_secs(60))
        .await
        .expect("rotate");
    let webhook =
        admin::rotate_webhook_credentials(&db, h.config.seal_key.as_ref().expect("seal"), &pid)
            .await
            .expect("rotate webhook");

    let rows = every_row_text(&db).await;
    let actions: Vec<String> = h
        .audit_all(rotated.api_key.expose(), "")
        .await
        .iter()
        .map(|r| r["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(actions.contains(&"rate_limited".to_owned()), "{actions:?}");
    let secrets = [
        ("pairing code", PAIRING_CODE.to_owned()),
        ("guessed code", wrong.to_owned()),
        ("API key", h.project.api_key.expose().to_owned()),
        ("new API key", rotated.api_key.expose().to_owned()),
        (
            "webhook password",
            h.project.webhook_password.expose().to_owned(),
        ),
        (
            "webhook secret",
            h.project.webhook_secret.expose().to_owned(),
        ),
        (
            "new webhook password",
            webhook.webhook_password.expose().to_owned(),
        ),
        (
            "new webhook secret",
            webhook.webhook_secret.expose().to_owned(),
        ),
        ("push token", "fcm-secret-token-123".to_owned()),
        ("device key", phone.key_b64()),
        ("presence code", format!("|{code}|")),
    ];
    let hash_of_key = sql_texts(&db, "SELECT key_hash FROM api_keys").await;
    for row in &rows {
        for (what, secret) in &secrets {
            assert!(
                !row.contains(secret.as_str()),
                "the {what} is in an audit row: {row}"
            );
        }
        for hash in &hash_of_key {
            assert!(
                !row.contains(hash.as_str()),
                "a whole API-key hash is in: {row}"
            );
        }
    }
    // Every action above left its row, so the search looked at each of them.
    assert_eq!(rows.len(), 9, "{rows:?}");
}

#[tokio::test]
async fn retention_deletes_rows_older_than_the_setting() {
    let mut h = Harness::start().await;
    let db = h.config.database_url.clone();
    h.pair("alice").await;
    h.pair("bob").await;
    // The retention job runs once at start: on a loaded machine the first instance's run can
    // come after the rows below are aged, so no instance with the default runs while they are.
    h.config.audit_retention_days = 500;
    h.restart().await;
    // Age the pairings 400 days (the log is append-only for the service: only a test does this).
    let aged = sql_exec(
        &db,
        "UPDATE audit_log SET at = at - 400 * 86400 WHERE action = 'device.pairing'",
    )
    .await;
    assert_eq!(aged, 2);
    let count = || async { sql_texts(&db, "SELECT id FROM audit_log").await.len() };
    assert_eq!(count().await, 3);

    // Kept 500 days: the job (at start, then hourly) leaves them.
    h.restart().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(count().await, 3, "rows younger than the setting stay");

    // The default, 365 days: they go, the fresh row stays.
    h.config.audit_retention_days = 365;
    h.restart().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count().await != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "old rows were not deleted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = h.audit_all(h.api_key(), "").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["action"], "project.created");
}

#[tokio::test]
async fn a_failed_audit_write_does_not_fail_the_users_request() {
    let h = Harness::start().await;
    let db = h.config.database_url.clone();
    // Make every new audit row fail to insert (SQLite: a trigger; PostgreSQL: a constraint
    // no new row meets).
    let break_it = if db.starts_with("sqlite:") {
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'audit down'); END"
    } else {
        "ALTER TABLE audit_log ADD CONSTRAINT audit_down CHECK (at < 0) NOT VALID"
    };
    sql_exec(&db, break_it).await;
    let phone = h.pair("alice").await;
    let s = h.login("alice").await;
    let code = s["presence_code"].as_str().expect("code").to_owned();
    let c = phone.challenge_for(&h, s["id"].as_str().expect("id")).await;
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
        sql_texts(&db, "SELECT id FROM audit_log").await.len(),
        1,
        "only the project's row, from before"
    );
    // Repaired: the next action is recorded again.
    let repair = if db.starts_with("sqlite:") {
        "DROP TRIGGER audit_down"
    } else {
        "ALTER TABLE audit_log DROP CONSTRAINT audit_down"
    };
    sql_exec(&db, repair).await;
    h.pair("bob").await;
    let rows = h.audit_all(h.api_key(), "user=bob").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
}
