//! The SQLite backend: one connection that does every write, a few read-only ones, and one
//! that checkpoints the WAL.
//!
//! SQLite runs one write transaction at a time: writes queue in-process on one connection
//! instead of taking turns in the busy handler. Connections are held directly, not pooled,
//! because a pooled statement costs two more round trips to the connection's thread.

use std::ops::{Deref, DerefMut};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _, Row as _, Sqlite, SqliteConnection, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use super::MIGRATOR;
use super::sqlite_direct::Direct;

/// Read connections next to the one writer. Readers never wait for the writer (WAL), and
/// two keep both cores busy with room for a long read.
const READERS: usize = 2;

/// WAL frames (pages) beyond which a checkpoint truncates the WAL: 16 MB of 4 KB pages, four
/// times SQLite's own automatic checkpoint, a few seconds of writes at full load.
pub(super) const WAL_TRUNCATE_FRAMES: i64 = 4096;

/// The open connections.
pub(super) struct Connections {
    writer: Mutex<Option<SqliteConnection>>,
    /// How the writer was opened, to open it again (see [`Connections::write`]).
    writer_options: SqliteConnectOptions,
    checkpointer: Mutex<Option<SqliteConnection>>,
    pub(super) readers: Vec<Mutex<Option<SqliteConnection>>>,
    next_reader: AtomicUsize,
    /// The writer's hot transactions on the calling thread (see [`Connections::write_direct`]).
    direct: Direct,
}

/// A connection held for one statement or transaction.
pub(super) struct Conn<'a>(MutexGuard<'a, Option<SqliteConnection>>);

impl<'a> Conn<'a> {
    pub(super) fn new(
        guard: MutexGuard<'a, Option<SqliteConnection>>,
    ) -> Result<Self, sqlx::Error> {
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

/// Starts a write transaction that takes the write lock at once (no upgrade deadlocks with
/// other processes writing the same file).
pub(super) async fn begin_write<'c>(
    conn: &'c mut Conn<'_>,
) -> Result<Transaction<'c, Sqlite>, sqlx::Error> {
    (**conn).begin_with("BEGIN IMMEDIATE").await
}

/// Runs a write that changes nothing, then rolls it back: fails when the database file is
/// read-only for this process (SQLite then opened it read-only and refuses every write).
async fn probe_write(writer: &mut SqliteConnection) -> Result<(), String> {
    let readonly = |e: sqlx::Error| match e.as_database_error() {
        Some(db) if db.message().contains("readonly") => {
            format!("the database file is read-only for this process ({db})")
        }
        _ => e.to_string(),
    };
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(readonly)?;
    sqlx::query("UPDATE sessions SET id = id WHERE 0")
        .execute(&mut *tx)
        .await
        .map_err(readonly)?;
    tx.rollback().await.map_err(|e| e.to_string())
}

impl Connections {
    /// Opens (creating if the URL says so) and migrates the database file. The error is
    /// what the driver said.
    pub(super) async fn open(database_url: &str) -> Result<Self, String> {
        let options = SqliteConnectOptions::from_str(database_url)
            .map_err(|e| e.to_string())?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // The writer does not checkpoint after its commits (that would hold every queued
        // write behind a checkpoint's fsyncs); `checkpoint` does it on its own connection.
        let writer_options = options.clone().pragma("wal_autocheckpoint", "0");
        let mut writer = writer_options.connect().await.map_err(|e| e.to_string())?;
        if let Err(e) = migrate(&mut writer).await {
            let _ = writer.close().await;
            return Err(e);
        }
        // An up-to-date database migrates without writing: take the write lock once, so a file
        // this process may not write is refused now, not on every login after "listening".
        if let Err(e) = probe_write(&mut writer).await {
            let _ = writer.close().await;
            return Err(e);
        }
        let direct = match Direct::open(writer_options.get_filename(), READERS) {
            Ok(d) => d,
            Err(e) => {
                let _ = writer.close().await;
                return Err(e);
            }
        };
        let mut opened = Vec::with_capacity(READERS + 1);
        // Readers open after the migrations, when the file, its tables and WAL mode exist.
        let read_options = options.clone().read_only(true).create_if_missing(false);
        let checkpoint_options = options.create_if_missing(false);
        for i in 0..=READERS {
            let options = if i == 0 {
                &checkpoint_options
            } else {
                &read_options
            };
            match options.connect().await {
                Ok(c) => opened.push(c),
                Err(e) => {
                    let _ = writer.close().await;
                    for c in opened {
                        let _ = c.close().await;
                    }
                    return Err(e.to_string());
                }
            }
        }
        let mut opened = opened.into_iter();
        let checkpointer = opened.next();
        Ok(Self {
            writer: Mutex::new(Some(writer)),
            writer_options,
            checkpointer: Mutex::new(checkpointer),
            readers: opened.map(|c| Mutex::new(Some(c))).collect(),
            next_reader: AtomicUsize::new(0),
            direct,
        })
    }

    /// The write connection (every INSERT/UPDATE, write transactions), in arrival order.
    ///
    /// No transaction outlives the call that began it, so one still open here is a leftover:
    /// after SQLITE_FULL SQLite has already rolled back, sqlx's own ROLLBACK then fails and
    /// sqlx keeps counting the transaction as open, failing every later write ("non-zero
    /// transaction depth") until a restart. Such a writer is replaced by a fresh connection.
    pub(super) async fn write(&self) -> Result<Conn<'_>, sqlx::Error> {
        let mut guard = self.writer.lock().await;
        if let Some(conn) = guard.as_mut()
            && conn.is_in_transaction()
        {
            // A dropped transaction's rollback may still be queued: let it run first.
            let _ = conn.ping().await;
            if conn.is_in_transaction() {
                tracing::warn!(
                    "the database writer was left inside a failed transaction; reopening it"
                );
                let fresh = self.writer_options.connect().await?;
                if let Some(stuck) = guard.replace(fresh) {
                    let _ = stuck.close().await;
                }
            }
        }
        Conn::new(guard)
    }

    /// Runs `work` as one write transaction on the calling thread (`crate::store::sqlite_direct`),
    /// in its turn with every other write of this process (it holds the writer meanwhile);
    /// `waited` observes how long that turn took.
    pub(super) async fn write_direct<T>(
        &self,
        waited: &prometheus_client::metrics::histogram::Histogram,
        work: impl FnOnce(&super::sqlite_direct::Sql<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, sqlx::Error> {
        let asked = std::time::Instant::now();
        let _turn = self.write().await?;
        waited.observe(asked.elapsed().as_secs_f64());
        self.direct.write(work).await
    }

    /// Runs `read` as one read on a synchronous read connection, on the calling thread
    /// (`crate::store::sqlite_direct`): the hot reads of a login.
    pub(super) async fn read_direct<T>(
        &self,
        read: impl FnMut(&super::sqlite_direct::Sql<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, sqlx::Error> {
        self.direct.read(read).await
    }

    /// Statements run on the synchronous connections so far.
    pub(super) fn direct_statements(&self) -> u64 {
        self.direct.statements()
    }

    /// The writer's synchronous connection (tests).
    #[cfg(test)]
    pub(super) fn direct(&self) -> &Direct {
        &self.direct
    }

    /// A read connection: a free one, else wait in turn for one of them.
    pub(super) async fn read(&self) -> Result<Conn<'_>, sqlx::Error> {
        if self.readers.is_empty() {
            return self.write().await;
        }
        for r in &self.readers {
            if let Ok(guard) = r.try_lock() {
                return Conn::new(guard);
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        Conn::new(self.readers[i].lock().await)
    }

    /// Copies the WAL's committed pages into the database file (PASSIVE: never waits for
    /// readers or the writer), on its own connection so that writes never queue behind it.
    /// Once the WAL holds [`WAL_TRUNCATE_FRAMES`], it also truncates it (TRUNCATE: waits, up to
    /// the busy timeout, until no reader uses the WAL). A passive checkpoint alone never
    /// resets a WAL that some reader is always using, and under steady load one always is:
    /// the file grew by about 25 MB a second and every read had to search its index. Returns
    /// the WAL's frames and how many of them are now in the database file.
    pub(super) async fn checkpoint(&self) -> Result<(i64, i64), sqlx::Error> {
        let mut conn = Conn::new(self.checkpointer.lock().await)?;
        let passive = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut *conn)
            .await?;
        let row = if passive.try_get::<i64, _>(1)? < WAL_TRUNCATE_FRAMES {
            passive
        } else {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&mut *conn)
                .await?
        };
        Ok((row.try_get(1)?, row.try_get(2)?))
    }

    /// Closes every connection; later calls fail with `PoolClosed`.
    pub(super) async fn close(&self) {
        self.direct.close();
        let slots = [&self.writer, &self.checkpointer]
            .into_iter()
            .chain(self.readers.iter());
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
    let has_legacy: bool = sqlx::query_scalar(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'tapprove_migrations'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| e.to_string())?;
    if has_legacy {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM tapprove_migrations")
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| e.to_string())?;
        MIGRATOR
            .skip(&mut *conn, version)
            .await
            .map_err(|e| e.to_string())?;
        sqlx::query("DROP TABLE tapprove_migrations")
            .execute(&mut *conn)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(?version, "adopted the schema's migration history");
    }
    MIGRATOR.run(&mut *conn).await.map_err(|e| e.to_string())
}
