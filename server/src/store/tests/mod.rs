//! Store tests against a real SQLite file, or a real PostgreSQL database when
//! `TAPPROVE_TEST_POSTGRES_URL` names a server (`cargo xtask test postgres`).

use std::str::FromStr as _;

use super::sessions::Budget;
use super::*;
use tapprove_protocol::PresenceMode;
use tapprove_protocol::api::{KeyProtection, PushPlatform, SessionReason, SessionStatus};

mod sqlite_only;

/// A fresh database: an SQLite file in `dir`, or a new database on the test PostgreSQL
/// server.
async fn test_url(dir: &std::path::Path) -> String {
    tapprove_test_support::postgres::database_url(dir, "t.db").await
}

async fn store_with_session() -> (tempfile::TempDir, Store, SessionRow) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = test_url(dir.path()).await;
    store_with_session_at(dir, &url).await
}

/// A project row `id` with API key hash `key_hash` (its other keys derived from `id`).
fn project_row(id: &str, key_hash: &str) -> ProjectRow {
    ProjectRow {
        id: id.into(),
        name: "P".into(),
        trust_url: "https://example.com/t".into(),
        api_key_hash: key_hash.into(),
        sdk_key: format!("tap_sdk_{id}"),
        webhook_username: id.into(),
        webhook_password_sealed: "v1.x".into(),
        webhook_secret_sealed: "v1.y".into(),
        created_at: 1,
        presence_policy: "choose".into(),
        entry_digits: 6,
        events_url: None,
        allow_approve_only: 0,
    }
}

/// [`store_with_session`] on the database at `url`.
async fn store_with_session_at(
    dir: tempfile::TempDir,
    url: &str,
) -> (tempfile::TempDir, Store, SessionRow) {
    let store = Store::open(url).await.expect("open");
    store
        .insert_project(&project_row("prj_1", "h"))
        .await
        .expect("project");
    let session = SessionRow {
        id: "ses_1".into(),
        project_id: "prj_1".into(),
        user_name: "alice".into(),
        title: "t".into(),
        body: "b".into(),
        context_json: "{}".into(),
        presence_mode: Stored(PresenceMode::Choose),
        presence_code: Some("42".into()),
        status: Stored(SessionStatus::Sent),
        reason: None,
        created_at: crate::now(),
        expires_at: crate::now() + 120,
        decided_at: None,
    };
    store.create_session(&session, &[]).await.expect("session");
    (dir, store, session)
}

fn account(i: usize, created_at: i64, unpaired_at: Option<i64>) -> AccountRow {
    AccountRow {
        id: format!("acc_{i}"),
        project_id: "prj_1".into(),
        user_name: "alice".into(),
        public_key: format!("key{i}"),
        device_name: Some(format!("phone {i}")),
        push_platform: Stored(PushPlatform::Apns),
        push_token: format!("tok{i}"),
        push_environment: None,
        push_registered_at: 1,
        created_at,
        unpaired_at,
        key_protection: Stored(KeyProtection::Unknown),
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
        pairing_code_hash: None,
        service_kid: None,
        push_key: None,
    }
}

/// Stores `n` devices of alice in prj_1; returns their session rows.
async fn alice_devices(store: &Store, n: usize) -> Vec<SessionDeviceRow> {
    let mut devices = Vec::new();
    for i in 0..n {
        store
            .insert_account(&account(i, 1, None))
            .await
            .expect("account");
        devices.push(SessionDeviceRow {
            account_id: format!("acc_{i}"),
            nonce: format!("nonce{i}"),
            challenge: format!("jws{i}"),
        });
    }
    devices
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_decisions_on_one_session_have_one_winner() {
    let (_dir, store, session) = store_with_session().await;
    // The deciding devices must be paired (the UPDATE rechecks it).
    alice_devices(&store, 32).await;
    let now = crate::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32 {
        let store = store.clone();
        let id = session.id.clone();
        tasks.spawn(async move {
            let reason = if i % 2 == 0 {
                SessionReason::Approved
            } else {
                SessionReason::UserDenied
            };
            let status = reason.status();
            let by = format!("acc_{i}");
            let won = store
                .decide(&id, Outcome::new(reason, now), Some((&by, None)), Some(now))
                .await
                .expect("decide");
            // A read right after the write sees a final status (readers are other
            // connections; WAL shows them every committed write).
            let seen = store.session(&id).await.expect("read").expect("row");
            assert_ne!(seen.status.0, SessionStatus::Sent);
            (won, status)
        });
    }
    let mut winners = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (won, status) = r.expect("task");
        if won {
            winners.push(status);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let row = store
        .session(&session.id)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(row.status.0, winners[0]);
    store.close().await;
    assert!(matches!(
        store.session(&session.id).await,
        Err(sqlx::Error::PoolClosed)
    ));
}

#[tokio::test]
async fn create_session_supersedes_and_stores_every_device_atomically() {
    let (_dir, store, first) = store_with_session().await;
    let devices = alice_devices(&store, 3).await;
    let second = SessionRow {
        id: "ses_2".into(),
        title: "t2".into(),
        created_at: first.created_at + 1,
        ..first.clone()
    };
    let superseded = store
        .create_session(&second, &devices)
        .await
        .expect("create");
    assert_eq!(superseded, ["ses_1"]);
    let old = store.session("ses_1").await.expect("read").expect("row");
    assert_eq!(
        (old.status.0, old.reason.map(|r| r.0), old.decided_at),
        (
            SessionStatus::Canceled,
            Some(SessionReason::Superseded),
            Some(second.created_at)
        )
    );
    let row = store.session("ses_2").await.expect("read").expect("row");
    assert_eq!(
        (row.status.0, row.title.as_str()),
        (SessionStatus::Sent, "t2")
    );
    assert_eq!(row.presence_code.as_deref(), Some("42"));
    assert_eq!(row.presence_mode.0, PresenceMode::Choose);
    assert_eq!(
        (row.created_at, row.expires_at),
        (second.created_at, second.expires_at)
    );
    let mut accounts = store.session_accounts("ses_2").await.expect("accounts");
    accounts.sort();
    assert_eq!(accounts, ["acc_0", "acc_1", "acc_2"]);
    for i in 0..3 {
        let pending = store
            .pending_challenges(&format!("acc_{i}"), crate::now())
            .await
            .expect("pending");
        assert_eq!(pending, [format!("jws{i}")]);
    }
    // A failing create (the id exists) changes nothing: ses_2 is not superseded, and the
    // writer is left outside any transaction.
    let dup = SessionRow {
        created_at: second.created_at + 1,
        ..second.clone()
    };
    assert!(store.create_session(&dup, &devices[..1]).await.is_err());
    let row = store.session("ses_2").await.expect("read").expect("row");
    assert_eq!(row.status.0, SessionStatus::Sent);
    assert!(
        store
            .decide(
                "ses_2",
                Outcome::new(SessionReason::Approved, crate::now()),
                None,
                None
            )
            .await
            .expect("decide")
    );
    let row = store.session("ses_2").await.expect("read").expect("row");
    assert_eq!(row.status.0, SessionStatus::Accepted);
    store.close().await;
}

#[tokio::test]
async fn user_devices_lists_paired_devices_with_the_push_budget() {
    let (_dir, store, first) = store_with_session().await;
    for (i, unpaired) in [(0, None), (1, Some(5)), (2, None)] {
        store
            .insert_account(&account(i, 10 - i as i64, unpaired))
            .await
            .expect("account");
    }
    let now = first.created_at;
    let budget = |per_minute, per_hour| Budget {
        per_minute,
        per_hour,
    };
    // Paired devices only, oldest first, all columns.
    let got = store
        .user_devices("prj_1", "alice", now, budget(3, 10))
        .await
        .expect("read");
    let ids: Vec<&str> = got.accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["acc_2", "acc_0"]);
    assert_eq!(got.accounts[0].push_token, "tok2");
    assert_eq!(got.accounts[1].device_name.as_deref(), Some("phone 0"));
    assert_eq!(got.accounts[0].push_platform.0, PushPlatform::Apns);
    // One session in the last minute: a budget of 3 is not full, a budget of 1 is.
    assert_eq!((got.minute_blocker, got.hour_blocker), (None, None));
    let full = store
        .user_devices("prj_1", "alice", now, budget(1, 10))
        .await
        .expect("read");
    assert_eq!(full.minute_blocker, Some(first.created_at));
    // A second session an hour-minus-a-bit ago counts for the hour, not the minute.
    let older = SessionRow {
        id: "ses_0".into(),
        created_at: now - 1800,
        status: Stored(SessionStatus::Rejected),
        ..first.clone()
    };
    store.create_session(&older, &[]).await.expect("create");
    let got = store
        .user_devices("prj_1", "alice", now, budget(2, 2))
        .await
        .expect("read");
    assert_eq!(
        (got.minute_blocker, got.hour_blocker),
        (None, Some(now - 1800))
    );
    // An approved login a second later resets the budget.
    let approved = SessionRow {
        id: "ses_3".into(),
        ..first.clone()
    };
    store.create_session(&approved, &[]).await.expect("create");
    assert!(
        store
            .decide(
                "ses_3",
                Outcome::new(SessionReason::Approved, now + 1),
                None,
                None
            )
            .await
            .expect("decide")
    );
    let got = store
        .user_devices("prj_1", "alice", now + 1, budget(1, 1))
        .await
        .expect("read");
    assert_eq!((got.minute_blocker, got.hour_blocker), (None, None));
    // Times are whole seconds: in the approval's own second the ids (creation order) decide.
    // One made before the approved session does not count...
    let before = SessionRow {
        id: "ses_2z".into(),
        created_at: now + 1,
        status: Stored(SessionStatus::Rejected),
        ..first.clone()
    };
    store.create_session(&before, &[]).await.expect("create");
    let got = store
        .user_devices("prj_1", "alice", now + 1, budget(1, 1))
        .await
        .expect("read");
    assert_eq!(got.minute_blocker, None);
    // ... one made after it does (the approved one itself never does).
    let same_second = SessionRow {
        id: "ses_4".into(),
        created_at: now + 1,
        ..first.clone()
    };
    store
        .create_session(&same_second, &[])
        .await
        .expect("create");
    let got = store
        .user_devices("prj_1", "alice", now + 1, budget(1, 1))
        .await
        .expect("read");
    assert_eq!(got.minute_blocker, Some(now + 1));
    // No devices: nothing, whatever the budget.
    let none = store
        .user_devices("prj_1", "bob", now, budget(1, 1))
        .await
        .expect("read");
    assert!(none.accounts.is_empty() && none.minute_blocker.is_none());
    store.close().await;
}

#[tokio::test]
async fn answer_context_reads_the_account_and_the_session_with_its_devices() {
    let (_dir, store, first) = store_with_session().await;
    let devices = alice_devices(&store, 2).await;
    let second = SessionRow {
        id: "ses_2".into(),
        created_at: first.created_at + 1,
        ..first.clone()
    };
    store
        .create_session(&second, &devices)
        .await
        .expect("create");
    let got = store.answer_context("acc_1", "ses_2").await.expect("read");
    // The session's project policy comes with it (an approval without user verification
    // needs it, and reads nothing else).
    assert_eq!(
        got.policy,
        Some(PolicyColumns {
            presence_policy: "choose".into(),
            entry_digits: 6,
            allow_approve_only: 0
        })
    );
    let account = got.account.expect("account");
    assert_eq!(
        (account.id.as_str(), account.public_key.as_str()),
        ("acc_1", "key1")
    );
    let (row, mut devices) = got.session.expect("session");
    devices.sort();
    assert_eq!(
        devices,
        [
            ("acc_0".to_owned(), "nonce0".to_owned()),
            ("acc_1".to_owned(), "nonce1".to_owned())
        ]
    );
    assert_eq!(
        (
            row.id.as_str(),
            row.status.0,
            row.created_at,
            row.presence_code.as_deref(),
            row.presence_mode.0
        ),
        (
            "ses_2",
            SessionStatus::Sent,
            second.created_at,
            Some("42"),
            PresenceMode::Choose
        )
    );
    // A session without devices (superseded, so it carries a reason), an unknown session,
    // an unknown account.
    let got = store.answer_context("acc_0", "ses_1").await.expect("read");
    assert!(got.account.is_some());
    let (row, devices) = got.session.expect("session");
    assert_eq!((row.id.as_str(), devices.len()), ("ses_1", 0));
    assert_eq!(row.reason.map(|r| r.0), Some(SessionReason::Superseded));
    let got = store.answer_context("acc_0", "ses_x").await.expect("read");
    assert!(got.account.is_some() && got.session.is_none() && got.policy.is_none());
    let got = store.answer_context("acc_x", "ses_2").await.expect("read");
    assert!(got.account.is_none() && got.session.is_none());
    store.close().await;
}

#[tokio::test]
async fn retention_deletes_old_decided_sessions_only() {
    let (_dir, store, first) = store_with_session().await;
    let devices = alice_devices(&store, 1).await;
    let now = first.created_at;
    let day = 86_400;
    let old = SessionRow {
        id: "ses_old".into(),
        created_at: now - 40 * day,
        expires_at: now - 40 * day + 120,
        ..first.clone()
    };
    store.create_session(&old, &devices).await.expect("old");
    assert!(
        store
            .decide(
                "ses_old",
                Outcome::new(SessionReason::Approved, now - 40 * day),
                None,
                None
            )
            .await
            .expect("decide")
    );
    // Other users: one still pending since long ago, one decided just now.
    let pending = SessionRow {
        id: "ses_pending".into(),
        user_name: "bob".into(),
        created_at: now - 40 * day,
        expires_at: now + 120,
        ..first.clone()
    };
    store.create_session(&pending, &[]).await.expect("pending");
    let recent = SessionRow {
        id: "ses_recent".into(),
        user_name: "carol".into(),
        ..first.clone()
    };
    store.create_session(&recent, &[]).await.expect("recent");
    assert!(
        store
            .decide(
                "ses_recent",
                Outcome::new(SessionReason::UserDenied, now),
                None,
                None
            )
            .await
            .expect("decide")
    );
    // ses_old and ses_1 (superseded by ses_old, so decided 40 days ago) go.
    let deleted = store
        .delete_decided_before(now - 30 * day)
        .await
        .expect("retention");
    assert_eq!(deleted, 2);
    for gone in ["ses_old", "ses_1"] {
        assert!(store.session(gone).await.expect("read").is_none(), "{gone}");
    }
    assert!(
        store
            .session_accounts("ses_old")
            .await
            .expect("read")
            .is_empty()
    );
    for kept in ["ses_pending", "ses_recent"] {
        assert!(store.session(kept).await.expect("read").is_some(), "{kept}");
    }
    assert!(store.ready().await.expect("ready"));
    store.close().await;
}

#[tokio::test]
async fn an_approval_by_a_device_revoked_after_it_was_read_does_not_decide() {
    let (_dir, store, session) = store_with_session().await;
    alice_devices(&store, 2).await;
    let now = crate::now();
    // The answer was verified while acc_0 was paired; the revocation commits before the
    // deciding UPDATE.
    assert!(store.unpair("acc_0", now).await.expect("unpair"));
    let decided = store
        .decide(
            &session.id,
            Outcome::new(SessionReason::Approved, now),
            Some(("acc_0", None)),
            Some(now),
        )
        .await
        .expect("decide");
    assert!(!decided, "a revoked device's approval must lose");
    let row = store
        .session(&session.id)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(row.status.0, SessionStatus::Sent);
    // A device still paired decides it.
    assert!(
        store
            .decide(
                &session.id,
                Outcome::new(SessionReason::Approved, now),
                Some(("acc_1", None)),
                Some(now),
            )
            .await
            .expect("decide")
    );
}
