//! Storage: every SQL statement of the service lives under this module, one file per table
//! (`projects`, `api_keys`, `keys`, `accounts`, `sessions/`, `guards` for `user_guards`,
//! `audit` for `audit_log`, `site_events`, `display_acks`, `shared`), behind [`Store`]. The store executes
//! what the domain decided (e.g. a session's `Outcome`); it never chooses one.
//!
//! Every statement is a single statement in portable SQL (`$n` parameters, TEXT/BIGINT
//! columns, `RETURNING`, `ON CONFLICT`, no SQLite-only syntax), so SQLite and PostgreSQL run
//! the same text, written once; each query is compiled once per driver ([`with_conn!`],
//! [`with_tx!`]). Statements written per backend, each for a reason:
//! - `sqlite.rs`: connections (one writer, readers), `BEGIN IMMEDIATE`, WAL checkpoints, the
//!   old migration history;
//! - `postgres.rs`: the pool, NOTIFY/LISTEN between instances;
//! - `sqlite_direct.rs`: SQLite's login path (a session's creation, an answer's decision, and
//!   the reads of a login) runs on the calling thread on synchronous connections (rusqlite) to
//!   the same file, writes in the writer's turn: no thread hand-off per statement (the
//!   measured reason is in its module doc); the statements are the shared text;
//! - `sessions/sqlite.rs` and `sessions/postgres.rs`: creating a session (guard, budget,
//!   supersede, insert, the devices' challenges, audit rows) on each backend's connection;
//!   `sessions/decide.rs` likewise for an answer's decision;
//! - `guards.rs`: `update_guard`'s transaction is opened per backend (`BEGIN IMMEDIATE` on
//!   SQLite), the statements inside are shared.
//!
//! The schema is `server/migrations`, applied with sqlx's migrator.

mod accounts;
mod api_keys;
mod audit;
mod display_acks;
mod guards;
mod keys;
mod postgres;
mod projects;
mod sessions;
mod shared;
mod site_events;
mod sqlite;
mod sqlite_direct;
mod stored;

pub(crate) use accounts::{AccountRow, REPEAT_PAIRING_WINDOW};
pub(crate) use audit::{AuditFilter, AuditRow};
pub(crate) use guards::GuardRow;
pub(crate) use keys::{Rotation, ServiceKeyRow};
pub(crate) use postgres::RemoteEvents;
pub(crate) use projects::ProjectRow;
pub(crate) use sessions::{
    AnswerContext, Budget, CreateOutcome, Decision, Outcome, PolicyColumns, SessionDeviceRow,
    SessionRow, UserDevices,
};
pub(crate) use site_events::{SiteEventOutcome, SiteEventRow};
pub(crate) use stored::Stored;

use crate::error::ServiceError;

/// The schema, embedded at build time from `server/migrations`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The service database, SQLite or PostgreSQL as the URL says. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// Seconds each statement of [`with_conn!`] / [`with_tx!`] waited for its connection (the
    /// service exports it as `tapprove_db_wait_seconds`).
    db_wait: prometheus_client::metrics::histogram::Histogram,
    /// What the store has done so far (for measuring the cost of a request).
    counts: std::sync::Arc<Counters>,
}

/// Always-on counters: one relaxed atomic add per write, nothing per read.
#[derive(Debug, Default)]
struct Counters {
    write_transactions: std::sync::atomic::AtomicU64,
}

/// How many write transactions the store has run since it opened: each explicit transaction
/// and each write statement run on its own (which commits by itself) counts one. Reads are
/// not counted. A benchmark divides the difference over a run by its logins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Write transactions committed or attempted.
    pub write_transactions: u64,
    /// Statements run on SQLite's synchronous writer connection (`sqlite_direct`), which
    /// sqlx's statement events do not see; 0 on PostgreSQL.
    pub direct_statements: u64,
}

#[derive(Clone)]
enum Backend {
    Sqlite(std::sync::Arc<sqlite::Connections>),
    Postgres(sqlx::PgPool),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        };
        f.debug_struct("Store")
            .field("backend", &backend)
            .finish_non_exhaustive()
    }
}

/// Runs `$body` with `$c` bound to a `read` or `write` connection of the store's backend:
/// the same statement text and binds for both, compiled once per driver.
macro_rules! with_conn {
    ($store:expr, $kind:ident, |$c:ident| $body:expr) => {{
        if stringify!($kind) == "write" {
            $store.count_write_transaction();
        }
        match &$store.backend {
            $crate::store::Backend::Sqlite(db) => {
                let waited = std::time::Instant::now();
                let mut held = db.$kind().await?;
                $store.db_wait.observe(waited.elapsed().as_secs_f64());
                let $c = &mut *held;
                $body
            }
            $crate::store::Backend::Postgres(pool) => {
                let waited = std::time::Instant::now();
                let mut held = pool.acquire().await?;
                $store.db_wait.observe(waited.elapsed().as_secs_f64());
                let $c = &mut *held;
                $body
            }
        }
    }};
}
pub(crate) use with_conn;

/// Runs `$body` with `$c` bound to a write transaction of the store's backend (SQLite:
/// `BEGIN IMMEDIATE` on the writer; PostgreSQL: a pooled transaction) and commits it when
/// `$body` succeeds; an early `?` drops the transaction, which rolls it back. For writes that
/// must land together; each statement in `$body` is still a single portable statement.
macro_rules! with_tx {
    ($store:expr, |$c:ident| $body:expr) => {{
        $store.count_write_transaction();
        match &$store.backend {
            $crate::store::Backend::Sqlite(db) => {
                let waited = std::time::Instant::now();
                let mut held = db.write().await?;
                $store.db_wait.observe(waited.elapsed().as_secs_f64());
                let mut tx = $crate::store::sqlite::begin_write(&mut held).await?;
                let $c = &mut *tx;
                let out = $body;
                tx.commit().await?;
                out
            }
            $crate::store::Backend::Postgres(pool) => {
                let waited = std::time::Instant::now();
                let mut tx = pool.begin().await?;
                $store.db_wait.observe(waited.elapsed().as_secs_f64());
                let $c = &mut *tx;
                let out = $body;
                tx.commit().await?;
                out
            }
        }
    }};
}
pub(crate) use with_tx;

/// [`with_tx!`] holding a lock on `$key` until commit, for a count-then-insert limit: on
/// PostgreSQL concurrent transactions do not see each other's inserts, so without it each one
/// counts the same rows and several pass the last place (a transaction-scoped advisory lock
/// on the key's hash; other keys are not held up). SQLite's write transaction already holds
/// the one writer.
macro_rules! with_key_lock {
    ($store:expr, $key:expr, |$c:ident| $body:expr) => {
        $crate::store::with_tx!($store, |$c| {
            if matches!(&$store.backend, $crate::store::Backend::Postgres(_)) {
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind($key)
                    .execute(&mut *$c)
                    .await?;
            }
            $body
        })
    };
}
pub(crate) use with_key_lock;

fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

impl Store {
    /// Opens (creating if the URL says so) and migrates the database: `sqlite://PATH?mode=rwc`
    /// or `postgres://user:password@host/db`.
    pub async fn open(database_url: &str) -> Result<Self, ServiceError> {
        let unavailable = |reason: String| ServiceError::DatabaseUnavailable {
            url: redact_url(database_url),
            reason,
        };
        let backend = if database_url.starts_with("sqlite:") {
            Backend::Sqlite(std::sync::Arc::new(
                sqlite::Connections::open(database_url)
                    .await
                    .map_err(unavailable)?,
            ))
        } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
            Backend::Postgres(postgres::open(database_url).await.map_err(unavailable)?)
        } else {
            return Err(ServiceError::Config(format!(
                "database URL {:?} is not supported: use sqlite://PATH?mode=rwc or \
                 postgres://USER:PASSWORD@HOST/DATABASE",
                redact_url(database_url)
            )));
        };
        Ok(Self {
            backend,
            db_wait: Self::new_db_wait_histogram(),
            counts: std::sync::Arc::default(),
        })
    }

    /// What the store has done since it opened.
    pub fn counts(&self) -> StoreCounts {
        StoreCounts {
            write_transactions: self
                .counts
                .write_transactions
                .load(std::sync::atomic::Ordering::Relaxed),
            direct_statements: match &self.backend {
                Backend::Sqlite(db) => db.direct_statements(),
                Backend::Postgres(_) => 0,
            },
        }
    }

    /// Counts a write transaction about to begin (see [`StoreCounts`]).
    pub(crate) fn count_write_transaction(&self) {
        self.counts
            .write_transactions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// A new histogram of the time a statement waits for a database connection, seconds (the
    /// store owns its buckets; the service registers it).
    pub(crate) fn new_db_wait_histogram() -> prometheus_client::metrics::histogram::Histogram {
        prometheus_client::metrics::histogram::Histogram::new([
            0.000_1, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
        ])
    }

    /// The histogram of connection waits (a shared handle).
    pub(crate) fn db_wait(&self) -> prometheus_client::metrics::histogram::Histogram {
        self.db_wait.clone()
    }

    /// Keeps the database file tidy (SQLite: copies the WAL into the file); called every
    /// sweep.
    pub(crate) async fn checkpoint(&self) -> Result<(), sqlx::Error> {
        match &self.backend {
            Backend::Sqlite(db) => db.checkpoint().await.map(|_| ()),
            Backend::Postgres(_) => Ok(()),
        }
    }

    /// Sends a bus event to the other instances on this database (PostgreSQL NOTIFY). SQLite
    /// serves one process: nothing to send.
    pub(crate) async fn publish(&self, payload: &str) -> Result<(), sqlx::Error> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(pool) => postgres::notify(pool, payload).await,
        }
    }

    /// The other instances' bus events (PostgreSQL LISTEN); `None` for SQLite.
    pub(crate) async fn remote_events(&self) -> Result<Option<RemoteEvents>, sqlx::Error> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(pool) => RemoteEvents::listen(pool).await.map(Some),
        }
    }

    /// Closes every connection (after the last request); later calls fail with
    /// `PoolClosed`.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(db) => db.close().await,
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}

#[cfg(test)]
mod tests;
