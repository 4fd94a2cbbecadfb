//! Store tests that only SQLite has: its connections, its WAL, its query plans, adopting a
//! database of the old migration runner, a full disk.

use super::*;

/// The sweep's checkpoint truncates a WAL past `WAL_TRUNCATE_FRAMES`: a passive checkpoint
/// alone never shrinks the file, and never even restarts it while some reader is always
/// reading (a soak grew it to 4 GB in three minutes). A small WAL is left to passive
/// checkpoints, which never wait.
#[tokio::test]
async fn a_checkpoint_truncates_a_big_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
    let store = Store::open(&url).await.expect("open");
    let Backend::Sqlite(db) = &store.backend else {
        unreachable!("an sqlite URL opens SQLite")
    };
    let wal = dir.path().join("t.db-wal");
    let wal_len = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let fill = |pages: i64| {
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
             INSERT INTO wal_filler SELECT zeroblob(3900) FROM n",
        )
        .bind(pages)
    };
    let mut writer = db.write().await.expect("writer");
    sqlx::query("CREATE TABLE wal_filler (b BLOB)")
        .execute(&mut *writer)
        .await
        .expect("table");
    fill(100)
        .execute(&mut *writer)
        .await
        .expect("a small write");
    drop(writer);
    let (frames, _) = db.checkpoint().await.expect("checkpoint");
    assert!(
        frames > 0 && frames < sqlite::WAL_TRUNCATE_FRAMES,
        "{frames}"
    );
    assert!(wal_len() > 0, "a small WAL is not truncated");

    let mut writer = db.write().await.expect("writer");
    fill(sqlite::WAL_TRUNCATE_FRAMES + 100)
        .execute(&mut *writer)
        .await
        .expect("a big write");
    drop(writer);
    assert!(wal_len() > 16 << 20, "{}", wal_len());
    let (frames, _) = db.checkpoint().await.expect("checkpoint");
    assert_eq!((frames, wal_len()), (0, 0), "the big WAL is truncated");
    // Still a working database.
    let mut writer = db.write().await.expect("writer");
    fill(1).execute(&mut *writer).await.expect("a write after");
    drop(writer);
    store.close().await;
}

#[tokio::test]
async fn sqlite_read_connections_cannot_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
    let store = Store::open(&url).await.expect("open");
    let Backend::Sqlite(db) = &store.backend else {
        unreachable!("an sqlite URL opens SQLite")
    };
    for reader in &db.readers {
        let mut conn = sqlite::Conn::new(reader.lock().await).expect("open");
        let r = sqlx::query("CREATE TABLE t (x TEXT)")
            .execute(&mut *conn)
            .await;
        assert!(r.is_err(), "a read connection wrote");
    }
    let mut writer = db.write().await.expect("writer");
    sqlx::query("CREATE TABLE t (x TEXT)")
        .execute(&mut *writer)
        .await
        .expect("the writer writes");
    drop(writer);
    store.close().await;
}

/// How much work SQLite does for the push-budget query (virtual-machine steps, in units of
/// 100) for alice, on the writer connection.
async fn budget_query_work(conn: &mut sqlx::SqliteConnection, now: i64) -> u64 {
    let work = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = work.clone();
    conn.lock_handle()
        .await
        .expect("handle")
        .set_progress_handler(100, move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            true
        });
    sqlx::query(sessions::BUDGET)
        .bind("prj_1")
        .bind("alice")
        .bind(now - 60)
        .bind(now - 3600)
        .bind(Stored(SessionStatus::Accepted))
        .bind(2_i64)
        .bind(9_i64)
        .fetch_one(&mut *conn)
        .await
        .expect("budget query");
    conn.lock_handle()
        .await
        .expect("handle")
        .remove_progress_handler();
    work.load(std::sync::atomic::Ordering::Relaxed)
}

/// The push budget is checked on every login: its cost must not grow with the user's history
/// of approved logins (a `MAX(id)` over all of them did: 17 ms per login at 50 000).
#[tokio::test]
async fn the_push_budget_query_does_not_read_the_whole_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
    let (_dir, store, _) = store_with_session_at(dir, &url).await;
    let Backend::Sqlite(db) = &store.backend else {
        unreachable!("an sqlite URL opens SQLite")
    };
    let now = crate::now();
    let mut writer = db.write().await.expect("writer");
    let approvals = |base: i64, n: i64, first: i64| {
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i < $2) \
             INSERT INTO sessions (id, project_id, user_name, title, body, context_json, \
               presence_mode, presence_code, status, reason, created_at, expires_at, decided_at) \
             SELECT printf('ses_old_%08d', i), 'prj_1', 'alice', 't', 'b', '{}', 'choose', '42', \
               'accepted', 'approved', $3 + i, $3 + i + 120, $3 + i FROM n",
        )
        .bind(first)
        .bind(first + n - 1)
        .bind(base)
    };
    approvals(now - 10 * 86_400, 10, 1)
        .execute(&mut *writer)
        .await
        .expect("10 approvals");
    approvals(now - 3000, 20, 30_001)
        .execute(&mut *writer)
        .await
        .expect("20 in the hour");
    // The last approval in the very second alice's pending session was created: the case
    // where the session ids decide, which is where the history was read.
    sqlx::query(
        "INSERT INTO sessions (id, project_id, user_name, title, body, context_json, \
           presence_mode, presence_code, status, reason, created_at, expires_at, decided_at) \
         VALUES ('ses_0_latest', 'prj_1', 'alice', 't', 'b', '{}', 'choose', '42', 'accepted', \
           'approved', $1 - 5, $1 + 115, (SELECT created_at FROM sessions WHERE id = 'ses_1'))",
    )
    .bind(now)
    .execute(&mut *writer)
    .await
    .expect("the latest approval");
    let few = budget_query_work(&mut writer, now).await;
    // Neither old approvals nor approvals inside the budget's hour (before the latest one)
    // make it grow: the lookup is a range starting after the latest approval.
    let more = [
        (now - 10 * 86_400, 20_000, 11, "20 000 more approvals"),
        (
            now - 3000,
            2_000,
            30_021,
            "2 000 more approvals in the hour",
        ),
    ];
    for (base, n, first, what) in more {
        approvals(base, n, first)
            .execute(&mut *writer)
            .await
            .expect(what);
        let work = budget_query_work(&mut writer, now).await;
        assert!(
            work <= few + 10,
            "the budget query's work grew from {few} to {work} (×100 VM steps) with {what}"
        );
    }
    drop(writer);
    store.close().await;
}

#[tokio::test]
async fn an_sqlite_database_from_the_old_migration_runner_is_adopted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/old.db?mode=rwc", dir.path().display());
    // What the service before sqlx's migrator left: the schema and its own history table.
    {
        use sqlx::{ConnectOptions as _, Connection as _};
        let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .expect("url")
            .connect()
            .await
            .expect("connect");
        sqlx::raw_sql(include_str!("../../../migrations/0001_init.sql"))
            .execute(&mut conn)
            .await
            .expect("v1");
        sqlx::raw_sql(
            "CREATE TABLE tapprove_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL); \
             INSERT INTO tapprove_migrations VALUES (1, 0); \
             INSERT INTO projects VALUES ('prj_old', 'Old', 'https://x/t', 'h', 's', 'prj_old', 'a', 'b', 1);",
        )
        .execute(&mut conn)
        .await
        .expect("legacy");
        conn.close().await.expect("close");
    }
    // Opening adopts version 1, applies the later ones, keeps the data; twice is a no-op.
    for _ in 0..2 {
        let store = Store::open(&url).await.expect("open");
        let p = store.project_by_id("prj_old").await.expect("read");
        assert_eq!(p.map(|p| p.name).as_deref(), Some("Old"));
        let Backend::Sqlite(db) = &store.backend else {
            unreachable!("an sqlite URL opens SQLite")
        };
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&mut *db.read().await.expect("conn"))
                .await
                .expect("history");
        assert_eq!(
            versions,
            [1, 2, 3, 4, 20, 21, 22, 23, 24, 25, 26, 27, 31, 32]
        );
        store.close().await;
    }
}

#[tokio::test]
async fn a_full_database_does_not_leave_the_writer_stuck() {
    // Found by the disk_full fault test (tests/e2e/faults.rs): after SQLITE_FULL inside a
    // transaction, sqlx kept counting the transaction as open and every later write failed
    // ("non-zero transaction depth") until a restart. `max_page_count` makes the database
    // "full" without a small disk, on both write connections: sqlx's writer (a project's
    // transaction) and the synchronous one of the login's transactions (a session's).
    let (_dir, store, first) = store_with_session().await;
    let Backend::Sqlite(db) = &store.backend else {
        eprintln!("skipped: SQLite's page limit; PostgreSQL has no such state");
        return;
    };
    let pages: i64 = {
        let mut w = db.write().await.expect("writer");
        let pages = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut *w)
            .await
            .expect("page_count");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA max_page_count = {pages}"
        )))
        .execute(&mut *w)
        .await
        .expect("limit");
        pages
    };
    db.direct().pragma("max_page_count", pages);
    let big = "x".repeat(64 * 1024);
    let project = |i: usize, name: &str| ProjectRow {
        name: name.into(),
        ..project_row(&format!("prj_big{i}"), &format!("h_big{i}"))
    };
    let mut full = false;
    for i in 0..64 {
        if let Err(e) = store.insert_project(&project(i, &big)).await {
            assert!(e.to_string().contains("full"), "{e}");
            full = true;
            break;
        }
    }
    assert!(
        full,
        "the page limit made the database full for sqlx's writer"
    );
    // The reopened writer no longer has the limit.
    store
        .insert_project(&project(100, "small"))
        .await
        .expect("sqlx's writer works again after a full database");

    let mut full = false;
    for i in 0..64 {
        let session = SessionRow {
            id: format!("ses_big{i}"),
            user_name: format!("user{i}"),
            body: big.clone(),
            ..first.clone()
        };
        if let Err(e) = store.create_session(&session, &[]).await {
            assert!(e.to_string().contains("full"), "{e}");
            full = true;
            break;
        }
    }
    assert!(
        full,
        "the page limit made the database full for the login's writes"
    );
    db.direct().pragma("max_page_count", 1 << 30);
    let session = SessionRow {
        id: "ses_after".into(),
        user_name: "bob".into(),
        ..first.clone()
    };
    store
        .create_session(&session, &[])
        .await
        .expect("the login's writes work again after a full database");
    assert!(
        store.session("ses_after").await.expect("read").is_some(),
        "committed"
    );
    store.close().await;
}
