//! SQLite's hot path runs on the calling thread: a login's two write transactions (create,
//! decide) and its reads (API key, devices with the budget, the answer's context, the session)
//! go to synchronous connections to the same file (rusqlite over sqlx's bundled SQLite): a
//! writer used for writes only while sqlx's writer is held, so writes still take turns
//! in-process, and for reads while it is free; else read-only connections taken in turn.
//!
//! Why not sqlx here: sqlx runs every statement on its connection's own thread, so each
//! statement, `BEGIN` and `COMMIT` costs two thread wake-ups, and on the measuring machine those
//! hand-offs were most of the service's CPU per login (docs/PERFORMANCE.md, "A login's SQL on
//! the calling thread"). Here a whole transaction is microseconds of SQLite on the thread that
//! asked for it, statements prepared once and cached. The statements are the same text as on
//! sqlx's connections (`$n` bound by number, as sqlx binds them); every other statement stays
//! on sqlx.
//!
//! Blocking: a transaction here touches only the page cache (WAL with `synchronous=NORMAL`
//! never syncs on commit, and these connections never checkpoint); a lock held by another
//! process (or a WAL being reset, for a reader) is not waited for in SQLite's busy handler on
//! the runtime's thread: the job runs again after an asynchronous pause, up to the busy timeout.

use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use rusqlite::types::ToSql;
use rusqlite::{CachedStatement, Connection, ErrorCode, OpenFlags, Row, TransactionBehavior};
use tokio::sync::Semaphore;

use super::AuditRow;
use super::audit::{INSERT_AUDIT, RELEASE, SAVEPOINT, UNDO, audit_write_failed};

/// How long a write waits for another process's write lock (sqlx's connections: the same).
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest pause between two attempts to take the write lock.
const MAX_PAUSE: Duration = Duration::from_millis(20);
/// Statements kept prepared (a login uses about ten).
const CACHED_STATEMENTS: usize = 32;

/// The synchronous connections (`None` once the store is closed): the writer, the readers
/// (a turn from `reading` is a free one), and the statements they ran.
pub(super) struct Direct {
    writer: Mutex<Option<Connection>>,
    readers: Vec<Mutex<Option<Connection>>>,
    reading: Semaphore,
    statements: AtomicU64,
}

/// One job's statements on a [`Direct`] connection (a write transaction or one read):
/// prepared once, bound by number, counted.
pub(super) struct Sql<'c> {
    conn: &'c Connection,
    statements: &'c AtomicU64,
    /// Set by [`Sql::discard`]: the write transaction rolls back instead of committing.
    discarded: Cell<bool>,
}

impl Direct {
    /// Opens the (migrated) database file at `path`: a writer with the sqlx writer's settings
    /// and `readers` read-only connections.
    pub(super) fn open(path: &Path, readers: usize) -> Result<Self, String> {
        let open = |write: bool| -> rusqlite::Result<Connection> {
            let access = if write {
                OpenFlags::SQLITE_OPEN_READ_WRITE
            } else {
                OpenFlags::SQLITE_OPEN_READ_ONLY
            };
            let conn = Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
            if write {
                conn.pragma_update(None, "foreign_keys", true)?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                // Checkpoints are the checkpointer's (see `Connections::checkpoint`).
                conn.pragma_update(None, "wal_autocheckpoint", 0)?;
            }
            // Lock waits are asynchronous pauses (see `Direct::write`), never a sleep here.
            conn.busy_timeout(Duration::ZERO)?;
            conn.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
            Ok(conn)
        };
        let opened = || -> rusqlite::Result<Self> {
            Ok(Self {
                writer: Mutex::new(Some(open(true)?)),
                readers: (0..readers)
                    .map(|_| open(false).map(|c| Mutex::new(Some(c))))
                    .collect::<rusqlite::Result<_>>()?,
                reading: Semaphore::new(readers),
                statements: AtomicU64::new(0),
            })
        };
        opened().map_err(|e| e.to_string())
    }

    /// Runs `work` in a write transaction (`BEGIN IMMEDIATE`) and commits it when `work`
    /// succeeds; an error rolls everything back. The caller holds the writer's lock; a read
    /// may still hold the writer's connection for its few microseconds (see [`Direct::read`]).
    pub(super) async fn write<T>(
        &self,
        work: impl FnOnce(&Sql<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, sqlx::Error> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        let mut work = Some(work);
        loop {
            {
                let mut slot = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
                let conn = slot.as_mut().ok_or(sqlx::Error::PoolClosed)?;
                match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
                    Ok(tx) => {
                        let work = work.take().unwrap_or_else(|| unreachable!("runs once"));
                        let sql = Sql {
                            conn: &tx,
                            statements: &self.statements,
                            discarded: Cell::new(false),
                        };
                        let out = work(&sql).map_err(into_sqlx)?;
                        if sql.discarded.get() {
                            tx.rollback().map_err(into_sqlx)?;
                        } else {
                            tx.commit().map_err(into_sqlx)?;
                        }
                        return Ok(out);
                    }
                    Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {}
                    Err(e) => return Err(into_sqlx(e)),
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    /// Sets a pragma on this connection (tests: a page limit).
    #[cfg(test)]
    pub(super) fn pragma(&self, name: &str, value: i64) {
        let slot = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(conn) = slot.as_ref() {
            conn.pragma_update(None, name, value).expect("pragma");
        }
    }

    /// Runs `read` on a free read connection (waiting in turn when all are busy); a read that
    /// meets a lock (rare in WAL: a WAL being reset) runs again after an asynchronous pause.
    pub(super) async fn read<T>(
        &self,
        mut read: impl FnMut(&Sql<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, sqlx::Error> {
        let _turn = self
            .reading
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            {
                // A turn means a free slot: only turn holders lock them (the writer's is one
                // more). The writer's connection first while it is free: its page cache holds
                // what it wrote, where a reader's cache is dropped after every write (~25 page
                // reads per login, docs/PERFORMANCE.md).
                let slot = std::iter::once(&self.writer)
                    .chain(&self.readers)
                    .find_map(|r| match r.try_lock() {
                        Ok(slot) => Some(slot),
                        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                        Err(TryLockError::WouldBlock) => None,
                    })
                    .ok_or(sqlx::Error::PoolClosed)?;
                let conn = slot.as_ref().ok_or(sqlx::Error::PoolClosed)?;
                let sql = Sql {
                    conn,
                    statements: &self.statements,
                    discarded: Cell::new(false),
                };
                match read(&sql) {
                    Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {}
                    done => return done.map_err(into_sqlx),
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    /// Statements run so far (without `BEGIN`, `COMMIT` and savepoints, as sqlx's count).
    pub(super) fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Closes the connection; later writes fail with `PoolClosed`.
    pub(super) fn close(&self) {
        self.reading.close();
        for slot in std::iter::once(&self.writer).chain(&self.readers) {
            drop(slot.lock().unwrap_or_else(PoisonError::into_inner).take());
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
}

/// The store's error type: SQLite's code and message, as sqlx would have reported them.
fn into_sqlx(e: rusqlite::Error) -> sqlx::Error {
    let message = match &e {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        other => other.to_string(),
    };
    sqlx::Error::Database(Box::new(DirectError(e, message)))
}

#[derive(Debug)]
struct DirectError(rusqlite::Error, String);

impl std::fmt::Display for DirectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for DirectError {}

impl sqlx::error::DatabaseError for DirectError {
    fn message(&self) -> &str {
        &self.1
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        match &self.0 {
            rusqlite::Error::SqliteFailure(e, _) => Some(e.extended_code.to_string().into()),
            _ => None,
        }
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        match &self.0 {
            rusqlite::Error::SqliteFailure(e, _) => match e.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    sqlx::error::ErrorKind::UniqueViolation
                }
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => sqlx::error::ErrorKind::ForeignKeyViolation,
                ffi::SQLITE_CONSTRAINT_NOTNULL => sqlx::error::ErrorKind::NotNullViolation,
                ffi::SQLITE_CONSTRAINT_CHECK => sqlx::error::ErrorKind::CheckViolation,
                _ => sqlx::error::ErrorKind::Other,
            },
            _ => sqlx::error::ErrorKind::Other,
        }
    }
}

impl Sql<'_> {
    /// Keeps nothing of this write transaction: it rolls back when the work returns (a
    /// refusal leaves the database as it found it, as an early return does on sqlx).
    pub(super) fn discard(&self) {
        self.discarded.set(true);
    }

    /// The prepared (cached) statement `sql` with `args` bound by number: `$n` takes
    /// `args[n-1]` wherever it appears, as sqlx binds the same text.
    fn bound(&self, sql: &str, args: &[&dyn ToSql]) -> rusqlite::Result<CachedStatement<'_>> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        let mut stmt = self.conn.prepare_cached(sql)?;
        for i in 1..=stmt.parameter_count() {
            let n = stmt
                .parameter_name(i)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| (1..=args.len()).contains(n))
                .ok_or(rusqlite::Error::InvalidParameterCount(i, args.len()))?;
            stmt.raw_bind_parameter(i, args[n - 1])?;
        }
        Ok(stmt)
    }

    /// Runs a statement that returns no rows; the rows it changed.
    pub(super) fn execute(&self, sql: &str, args: &[&dyn ToSql]) -> rusqlite::Result<usize> {
        self.bound(sql, args)?.raw_execute()
    }

    /// `read` of each row the statement returns (all of them: an `UPDATE … RETURNING` has
    /// made every change by its first row).
    pub(super) fn each_row(
        &self,
        sql: &str,
        args: &[&dyn ToSql],
        mut read: impl FnMut(&Row<'_>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        let mut stmt = self.bound(sql, args)?;
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            read(row)?;
        }
        Ok(())
    }

    /// `read` of the first row the statement returns, if any.
    pub(super) fn first_row<T>(
        &self,
        sql: &str,
        args: &[&dyn ToSql],
        read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Option<T>> {
        let mut stmt = self.bound(sql, args)?;
        let mut rows = stmt.raw_query();
        rows.next()?.map(read).transpose()
    }

    /// `read` of the one row the statement returns.
    pub(super) fn one_row<T>(
        &self,
        sql: &str,
        args: &[&dyn ToSql],
        read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.first_row(sql, args, read)?
            .ok_or(rusqlite::Error::QueryReturnedNoRows)
    }

    /// Appends audit rows under a savepoint, as `AuditRowsIn` does on PostgreSQL's: a
    /// failed audit write is logged and undone while the action commits.
    pub(super) fn insert_audit_rows(&self, rows: &[AuditRow]) -> rusqlite::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.conn.execute_batch(SAVEPOINT)?;
        let inserted = rows.iter().try_for_each(|row| {
            self.execute(
                INSERT_AUDIT,
                &[
                    &row.id,
                    &row.at,
                    &row.project_id,
                    &row.actor,
                    &row.action,
                    &row.subject,
                    &row.user_name,
                    &row.outcome,
                    &row.reason,
                    &row.source_ip,
                    &row.request_id,
                ],
            )
            .map(drop)
        });
        match inserted {
            Ok(()) => self.conn.execute_batch(RELEASE),
            Err(e) => {
                audit_write_failed(rows, &e);
                self.conn.execute_batch(UNDO)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated-enough database file: WAL, one table.
    fn database(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("d.db");
        let conn = Connection::open(&path).expect("create");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
            .expect("table");
        path
    }

    #[tokio::test]
    async fn numbered_parameters_bind_wherever_they_appear_and_statements_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let direct = Direct::open(&database(dir.path()), 1).expect("open");
        let text = direct
            .write(|tx| {
                tx.one_row("SELECT $2 || $1 || $2", &[&"a", &"b"], |r| {
                    r.get::<_, String>(0)
                })
            })
            .await
            .expect("select");
        assert_eq!(text, "bab");
        let missing = direct
            .write(|tx| tx.execute("INSERT INTO t (k, v) VALUES ($1, $3)", &[&"k", &1]))
            .await;
        assert!(missing.is_err(), "a number without its argument is refused");
        assert_eq!(direct.statements(), 2);
    }

    #[tokio::test]
    async fn errors_keep_sqlite_s_message_and_kind_and_roll_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let direct = Direct::open(&database(dir.path()), 1).expect("open");
        let insert = "INSERT INTO t (k, v) VALUES ($1, $2)";
        direct
            .write(|tx| tx.execute(insert, &[&"k", &1]))
            .await
            .expect("first");
        let twice = direct
            .write(|tx| {
                tx.execute(insert, &[&"other", &2])?;
                tx.execute(insert, &[&"k", &3])
            })
            .await
            .expect_err("a duplicate key");
        let db = twice.as_database_error().expect("a database error");
        assert_eq!(db.kind(), sqlx::error::ErrorKind::UniqueViolation);
        assert!(db.message().contains("UNIQUE"), "{}", db.message());
        let rows = direct
            .write(|tx| tx.one_row("SELECT COUNT(*) FROM t", &[], |r| r.get::<_, i64>(0)))
            .await
            .expect("count");
        assert_eq!(
            rows, 1,
            "the failed transaction's first insert was rolled back"
        );
    }

    #[tokio::test]
    // The writer is held across the read on purpose: the read must go to a reader.
    #[allow(clippy::await_holding_lock)]
    async fn reads_take_the_writer_s_connection_while_it_is_free_else_a_reader() {
        let dir = tempfile::tempdir().expect("tempdir");
        let direct = Direct::open(&database(dir.path()), 1).expect("open");
        direct
            .write(|tx| tx.execute("INSERT INTO t (k, v) VALUES ($1, $2)", &[&"k", &1]))
            .await
            .expect("insert");
        let read_only = |sql: &Sql<'_>| {
            let v = sql.one_row("SELECT v FROM t WHERE k = $1", &[&"k"], |r| {
                r.get::<_, i64>(0)
            })?;
            Ok((v, sql.conn.is_readonly(rusqlite::MAIN_DB)?))
        };
        assert_eq!(direct.read(read_only).await.expect("read"), (1, false));
        let busy = direct.writer.lock().expect("writer");
        assert_eq!(direct.read(read_only).await.expect("read"), (1, true));
        drop(busy);
    }

    /// Another process's write lock (here another connection's `BEGIN IMMEDIATE`) is waited
    /// for with asynchronous pauses: the runtime's one thread keeps running other tasks (the
    /// one that releases the lock), and the write then runs.
    #[tokio::test]
    async fn a_write_waits_for_a_foreign_lock_without_blocking_the_runtime() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = database(dir.path());
        let direct = std::sync::Arc::new(Direct::open(&path, 1).expect("open"));
        let other = Connection::open(&path).expect("other");
        other.execute_batch("BEGIN IMMEDIATE").expect("lock");
        let writing = tokio::spawn({
            let direct = direct.clone();
            async move {
                direct
                    .write(|tx| tx.execute("INSERT INTO t (k, v) VALUES ($1, $2)", &[&"k", &1]))
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!writing.is_finished(), "the write waits for the lock");
        other.execute_batch("COMMIT").expect("unlock");
        let changed = writing.await.expect("task").expect("the write ran");
        assert_eq!(changed, 1);
    }
}
