//! Storage: every SQL statement of the service lives under this module, one file per table
//! (`projects`, `keys`, `accounts`, `sessions`, `user_guards`), behind [`Store`].
//!
//! Every statement is a single statement in portable SQL (`$n` parameters, TEXT/BIGINT
//! columns, `RETURNING`, no SQLite-only syntax), so a PostgreSQL backend can prepare the same
//! queries. The schema is `server/migrations`, applied with sqlx's migrator.

mod accounts;
mod guards;
mod keys;
mod projects;
mod sessions;
mod stored;

use std::ops::{Deref, DerefMut};
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _, Row as _, SqliteConnection};
use tokio::sync::{Mutex, MutexGuard};

pub(crate) use accounts::AccountRow;
pub(crate) use guards::GuardRow;
pub(crate) use projects::ProjectRow;
pub(crate) use sessions::{Budget, CreateOutcome, SessionDeviceRow, SessionRow, UserDevices};
pub(crate) use stored::Stored;

use crate::error::ServiceError;

/// The schema, embedded at build time from `server/migrations`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Read connections next to the one writer. Readers never wait for the writer (WAL), and
/// two keep both cores busy with room for a long read.
const READERS: usize = 2;

/// The service database: one connection that does every write, and a few read-only ones.
///
/// SQLite runs one write transaction at a time: writes queue in-process on one connection
/// instead of taking turns in the busy handler. Connections are held directly, not pooled,
/// because a pooled statement costs two more round trips to the connection's thread.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Connections>,
}

struct Connections {
    writer: Mutex<Option<SqliteConnection>>,
    /// How the writer was opened, to open it again (see [`Store::write`]).
    writer_options: SqliteConnectOptions,
    checkpointer: Mutex<Option<SqliteConnection>>,
    readers: Vec<Mutex<Option<SqliteConnection>>>,
    next_reader: AtomicUsize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("readers", &self.inner.readers.len())
            .finish_non_exhaustive()
    }
}

/// A connection held for one statement or transaction.
struct Conn<'a>(MutexGuard<'a, Option<SqliteConnection>>);

impl<'a> Conn<'a> {
    fn new(guard: MutexGuard<'a, Option<SqliteConnection>>) -> Result<Self, sqlx::Error> {
        if guard.is_none() {
            return Err(sqlx::Error::PoolClosed);
        }
        Ok(Self(guard))
    }
}

impl Deref for Conn<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        // `Conn::new` refuses a closed (None) slot, and nothing empties it while held.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("checked in Conn::new"))
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.0
            .as_mut()
            .unwrap_or_else(|| unreachable!("checked in Conn::new"))
    }
}

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
    /// Opens (creating if the URL says so) and migrates the database.
    pub async fn open(database_url: &str) -> Result<Self, ServiceError> {
        let unavailable = |reason: String| ServiceError::DatabaseUnavailable {
            url: redact_url(database_url),
            reason,
        };
        if !database_url.starts_with("sqlite:") {
            return Err(ServiceError::Config(format!(
                "database URL {:?} is not supported by this build: use sqlite://PATH?mode=rwc",
                redact_url(database_url)
            )));
        }
        let options = SqliteConnectOptions::from_str(database_url)
            .map_err(|e| unavailable(e.to_string()))?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // The writer does not checkpoint after its commits (that would hold every queued
        // write behind a checkpoint's fsyncs); `checkpoint` does it on its own connection.
        let writer_options = options.clone().pragma("wal_autocheckpoint", "0");
        let mut writer = writer_options
            .connect()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if let Err(e) = migrate(&mut writer).await {
            let _ = writer.close().await;
            return Err(unavailable(e));
        }
        // Readers open after the migrations, when the file, its tables and WAL mode exist.
        let checkpointer = match options.clone().create_if_missing(false).connect().await {
            Ok(c) => c,
            Err(e) => {
                let _ = writer.close().await;
                return Err(unavailable(e.to_string()));
            }
        };
        let read_options = options.read_only(true).create_if_missing(false);
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            match read_options.connect().await {
                Ok(c) => readers.push(Mutex::new(Some(c))),
                Err(e) => {
                    let _ = writer.close().await;
                    let _ = checkpointer.close().await;
                    for r in readers {
                        if let Some(c) = r.into_inner() {
                            let _ = c.close().await;
                        }
                    }
                    return Err(unavailable(e.to_string()));
                }
            }
        }
        Ok(Self {
            inner: Arc::new(Connections {
                writer: Mutex::new(Some(writer)),
                writer_options,
                checkpointer: Mutex::new(Some(checkpointer)),
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    /// The write connection (every INSERT/UPDATE, write transactions), in arrival order.
    ///
    /// No transaction outlives the call that began it, so one still open here is a leftover:
    /// after SQLITE_FULL SQLite has already rolled back, sqlx's own ROLLBACK then fails and
    /// sqlx keeps counting the transaction as open, failing every later write ("non-zero
    /// transaction depth") until a restart. Such a writer is replaced by a fresh connection.
    async fn write(&self) -> Result<Conn<'_>, sqlx::Error> {
        let mut guard = self.inner.writer.lock().await;
        if let Some(conn) = guard.as_mut()
            && conn.is_in_transaction()
        {
            // A dropped transaction's rollback may still be queued: let it run first.
            let _ = conn.ping().await;
            if conn.is_in_transaction() {
                tracing::warn!(
                    "the database writer was left inside a failed transaction; reopening it"
                );
                let fresh = self.inner.writer_options.connect().await?;
                if let Some(stuck) = guard.replace(fresh) {
                    let _ = stuck.close().await;
                }
            }
        }
        Conn::new(guard)
    }

    /// A read connection: a free one, else wait in turn for one of them.
    async fn read(&self) -> Result<Conn<'_>, sqlx::Error> {
        let readers = &self.inner.readers;
        if readers.is_empty() {
            return self.write().await;
        }
        for r in readers {
            if let Ok(guard) = r.try_lock() {
                return Conn::new(guard);
            }
        }
        let i = self.inner.next_reader.fetch_add(1, Ordering::Relaxed) % readers.len();
        Conn::new(readers[i].lock().await)
    }

    /// Copies the WAL's committed pages into the database file (PASSIVE: never waits for
    /// readers or the writer), on its own connection so that writes never queue behind it.
    /// The service calls it every sweep; without it the WAL would only grow. Returns the
    /// WAL's frames and how many of them are now in the database file.
    pub(crate) async fn checkpoint(&self) -> Result<(i64, i64), sqlx::Error> {
        let mut conn = Conn::new(self.inner.checkpointer.lock().await)?;
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut *conn)
            .await?;
        Ok((row.try_get(1)?, row.try_get(2)?))
    }

    /// Closes every connection (after the last request); later calls fail with
    /// `PoolClosed`.
    pub async fn close(&self) {
        let slots = [&self.inner.writer, &self.inner.checkpointer]
            .into_iter()
            .chain(self.inner.readers.iter());
        for slot in slots {
            if let Some(c) = slot.lock().await.take() {
                let _ = c.close().await;
            }
        }
    }
}

/// Applies the migrations not applied yet (sqlx's migrator: each in a transaction, checked
/// against its checksum). A database made before the service used sqlx's migrator records
/// its versions in `tapprove_migrations`: those are marked applied first, once.
async fn migrate(conn: &mut SqliteConnection) -> Result<(), String> {
    // SQLite only: PostgreSQL databases never had the old table.
    let has_legacy: bool = sqlx::query_scalar(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'tapprove_migrations'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| e.to_string())?;
    let legacy: Option<i64> = if has_legacy {
        sqlx::query_scalar("SELECT MAX(version) FROM tapprove_migrations")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| e.to_string())?
    } else {
        None
    };
    if let Some(version) = legacy {
        MIGRATOR
            .skip(&mut *conn, Some(version))
            .await
            .map_err(|e| e.to_string())?;
        sqlx::query("DROP TABLE tapprove_migrations")
            .execute(&mut *conn)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(version, "adopted the schema's migration history");
    }
    MIGRATOR.run(&mut *conn).await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
