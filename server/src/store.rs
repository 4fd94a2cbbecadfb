//! Storage: every SQL statement of the service lives here, behind [`Store`].
//!
//! The SQL is written to run unchanged on PostgreSQL (`$n` parameters, TEXT/BIGINT columns,
//! `RETURNING`, no SQLite-only syntax); this build ships the SQLite driver.

use std::ops::{Deref, DerefMut};
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteRow, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _, Row as _, SqliteConnection};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::ServiceError;

/// Embedded migrations, applied in order; each runs once, inside a transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (
        2,
        include_str!("../migrations/0002_sessions_by_user_status.sql"),
    ),
];

/// Read connections next to the one writer. Readers never wait for the writer (WAL), and
/// two keep both cores busy with room for a long read.
const READERS: usize = 2;

/// The service database: one connection that does every write, and a few read-only ones.
///
/// SQLite runs one write transaction at a time whatever the number of connections; writers
/// on several connections only take turns through the busy handler (sleeps) and throw away
/// each other's page caches. Queueing writes in-process on one connection makes them run
/// back to back. The connections are held directly (not through a pool): a pooled statement
/// costs two more round trips to the connection's thread (a ping on acquire and on release).
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

/// A project (relying party) row.
#[derive(Clone, Debug)]
pub(crate) struct ProjectRow {
    pub id: String,
    pub name: String,
    pub trust_url: String,
    pub api_key_hash: String,
    pub sdk_key: String,
    pub webhook_username: String,
    pub webhook_password_sealed: String,
    pub webhook_secret_sealed: String,
    pub created_at: i64,
}

/// A paired device (account) row.
#[derive(Clone, Debug)]
pub(crate) struct AccountRow {
    pub id: String,
    pub project_id: String,
    pub user_name: String,
    pub public_key: String,
    pub device_name: Option<String>,
    pub push_platform: String,
    pub push_token: String,
    pub push_environment: Option<String>,
    pub push_registered_at: i64,
    pub created_at: i64,
    pub unpaired_at: Option<i64>,
}

/// A push session row.
#[derive(Clone, Debug)]
pub(crate) struct SessionRow {
    pub id: String,
    pub project_id: String,
    pub user_name: String,
    pub title: String,
    pub body: String,
    pub context_json: String,
    pub presence_mode: String,
    pub presence_code: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub decided_at: Option<i64>,
}

/// One device's copy of a session's challenge.
#[derive(Clone, Debug)]
pub(crate) struct SessionDeviceRow {
    pub account_id: String,
    pub nonce: String,
    pub challenge: String,
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
            return Err(match e {
                ServiceError::Database(reason) => unavailable(reason),
                other => other,
            });
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

    // ------------------------------------------------------------ projects

    pub(crate) async fn insert_project(&self, p: &ProjectRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO projects (id, name, trust_url, api_key_hash, sdk_key, webhook_username, \
             webhook_password_sealed, webhook_secret_sealed, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.trust_url)
        .bind(&p.api_key_hash)
        .bind(&p.sdk_key)
        .bind(&p.webhook_username)
        .bind(&p.webhook_password_sealed)
        .bind(&p.webhook_secret_sealed)
        .bind(p.created_at)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    fn project_row(r: &SqliteRow) -> Result<ProjectRow, sqlx::Error> {
        Ok(ProjectRow {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            trust_url: r.try_get("trust_url")?,
            api_key_hash: r.try_get("api_key_hash")?,
            sdk_key: r.try_get("sdk_key")?,
            webhook_username: r.try_get("webhook_username")?,
            webhook_password_sealed: r.try_get("webhook_password_sealed")?,
            webhook_secret_sealed: r.try_get("webhook_secret_sealed")?,
            created_at: r.try_get("created_at")?,
        })
    }

    pub(crate) async fn project_by_api_key_hash(
        &self,
        hash: &str,
    ) -> Result<Option<ProjectRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, name, trust_url, api_key_hash, sdk_key, webhook_username, \
             webhook_password_sealed, webhook_secret_sealed, created_at \
             FROM projects WHERE api_key_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&mut *self.read().await?)
        .await?;
        row.as_ref().map(Self::project_row).transpose()
    }

    pub(crate) async fn project_by_sdk_key(
        &self,
        sdk_key: &str,
    ) -> Result<Option<ProjectRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, name, trust_url, api_key_hash, sdk_key, webhook_username, \
             webhook_password_sealed, webhook_secret_sealed, created_at \
             FROM projects WHERE sdk_key = $1",
        )
        .bind(sdk_key)
        .fetch_optional(&mut *self.read().await?)
        .await?;
        row.as_ref().map(Self::project_row).transpose()
    }

    pub(crate) async fn project_by_id(&self, id: &str) -> Result<Option<ProjectRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, name, trust_url, api_key_hash, sdk_key, webhook_username, \
             webhook_password_sealed, webhook_secret_sealed, created_at \
             FROM projects WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *self.read().await?)
        .await?;
        row.as_ref().map(Self::project_row).transpose()
    }

    pub(crate) async fn list_projects(&self) -> Result<Vec<ProjectRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, name, trust_url, api_key_hash, sdk_key, webhook_username, \
             webhook_password_sealed, webhook_secret_sealed, created_at \
             FROM projects ORDER BY created_at, id",
        )
        .fetch_all(&mut *self.read().await?)
        .await?;
        rows.iter().map(Self::project_row).collect()
    }

    pub(crate) async fn update_webhook_credentials(
        &self,
        project_id: &str,
        password_sealed: &str,
        secret_sealed: &str,
    ) -> Result<bool, sqlx::Error> {
        let r = sqlx::query(
            "UPDATE projects SET webhook_password_sealed = $1, webhook_secret_sealed = $2 \
             WHERE id = $3",
        )
        .bind(password_sealed)
        .bind(secret_sealed)
        .bind(project_id)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn update_trust_url(
        &self,
        project_id: &str,
        trust_url: &str,
    ) -> Result<bool, sqlx::Error> {
        let r = sqlx::query("UPDATE projects SET trust_url = $1 WHERE id = $2")
            .bind(trust_url)
            .bind(project_id)
            .execute(&mut *self.write().await?)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    // ------------------------------------------------------------ service key

    /// The service key (kid, sealed PKCS#8), oldest first if several exist.
    pub(crate) async fn service_key(&self) -> Result<Option<(String, String)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT kid, sealed_pkcs8 FROM service_keys ORDER BY created_at, kid LIMIT 1",
        )
        .fetch_optional(&mut *self.read().await?)
        .await?;
        row.map(|r| Ok((r.try_get("kid")?, r.try_get("sealed_pkcs8")?)))
            .transpose()
    }

    pub(crate) async fn insert_service_key(
        &self,
        kid: &str,
        public_key: &str,
        sealed_pkcs8: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO service_keys (kid, public_key, sealed_pkcs8, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (kid) DO NOTHING",
        )
        .bind(kid)
        .bind(public_key)
        .bind(sealed_pkcs8)
        .bind(crate::now())
        .execute(&mut *self.write().await?)
        .await?;
        Ok(())
    }

    // ------------------------------------------------------------ accounts

    fn account_row(r: &SqliteRow) -> Result<AccountRow, sqlx::Error> {
        Ok(AccountRow {
            id: r.try_get("id")?,
            project_id: r.try_get("project_id")?,
            user_name: r.try_get("user_name")?,
            public_key: r.try_get("public_key")?,
            device_name: r.try_get("device_name")?,
            push_platform: r.try_get("push_platform")?,
            push_token: r.try_get("push_token")?,
            push_environment: r.try_get("push_environment")?,
            push_registered_at: r.try_get("push_registered_at")?,
            created_at: r.try_get("created_at")?,
            unpaired_at: r.try_get("unpaired_at")?,
        })
    }

    pub(crate) async fn insert_account(&self, a: &AccountRow) -> Result<(), sqlx::Error> {
        let mut conn = self.write().await?;
        let mut tx = conn.begin().await?;
        sqlx::query(
            "INSERT INTO accounts (id, project_id, user_name, public_key, device_name, \
             push_platform, push_token, push_environment, push_registered_at, created_at, \
             unpaired_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&a.id)
        .bind(&a.project_id)
        .bind(&a.user_name)
        .bind(&a.public_key)
        .bind(&a.device_name)
        .bind(&a.push_platform)
        .bind(&a.push_token)
        .bind(&a.push_environment)
        .bind(a.push_registered_at)
        .bind(a.created_at)
        .bind(a.unpaired_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// An account by id, paired or not.
    pub(crate) async fn account(&self, id: &str) -> Result<Option<AccountRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, project_id, user_name, public_key, device_name, push_platform, \
             push_token, push_environment, push_registered_at, created_at, unpaired_at \
             FROM accounts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *self.read().await?)
        .await?;
        row.as_ref().map(Self::account_row).transpose()
    }

    /// The paired accounts of one user of one project, oldest first.
    #[cfg(test)] // the service uses `devices_and_budget`
    pub(crate) async fn active_accounts(
        &self,
        project_id: &str,
        user_name: &str,
    ) -> Result<Vec<AccountRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, project_id, user_name, public_key, device_name, push_platform, \
             push_token, push_environment, push_registered_at, created_at, unpaired_at \
             FROM accounts WHERE project_id = $1 AND user_name = $2 AND unpaired_at IS NULL \
             ORDER BY created_at, id",
        )
        .bind(project_id)
        .bind(user_name)
        .fetch_all(&mut *self.read().await?)
        .await?;
        rows.iter().map(Self::account_row).collect()
    }

    pub(crate) async fn update_push(
        &self,
        account_id: &str,
        platform: &str,
        token: &str,
        environment: Option<&str>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let r = sqlx::query(
            "UPDATE accounts SET push_platform = $1, push_token = $2, push_environment = $3, \
             push_registered_at = $4 WHERE id = $5 AND unpaired_at IS NULL",
        )
        .bind(platform)
        .bind(token)
        .bind(environment)
        .bind(now)
        .bind(account_id)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Forgets a push token the provider reported dead, unless the device replaced it since.
    pub(crate) async fn clear_push_token(
        &self,
        account_id: &str,
        token: &str,
    ) -> Result<bool, sqlx::Error> {
        let r =
            sqlx::query("UPDATE accounts SET push_token = '' WHERE id = $1 AND push_token = $2")
                .bind(account_id)
                .bind(token)
                .execute(&mut *self.write().await?)
                .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn unpair(&self, account_id: &str, now: i64) -> Result<bool, sqlx::Error> {
        let r = sqlx::query(
            "UPDATE accounts SET unpaired_at = $1, push_token = '' \
             WHERE id = $2 AND unpaired_at IS NULL",
        )
        .bind(now)
        .bind(account_id)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    // ------------------------------------------------------------ sessions

    fn session_row(r: &SqliteRow) -> Result<SessionRow, sqlx::Error> {
        Ok(SessionRow {
            id: r.try_get("id")?,
            project_id: r.try_get("project_id")?,
            user_name: r.try_get("user_name")?,
            title: r.try_get("title")?,
            body: r.try_get("body")?,
            context_json: r.try_get("context_json")?,
            presence_mode: r.try_get("presence_mode")?,
            presence_code: r.try_get("presence_code")?,
            status: r.try_get("status")?,
            reason: r.try_get("reason")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            decided_at: r.try_get("decided_at")?,
        })
    }

    /// In one transaction: cancels the user's pending sessions (`superseded`), stores the new
    /// session and each device's challenge. Returns the superseded session ids.
    pub(crate) async fn create_session(
        &self,
        s: &SessionRow,
        devices: &[SessionDeviceRow],
    ) -> Result<Vec<String>, sqlx::Error> {
        // The statements go to the connection's thread as one query (one round trip instead
        // of one per statement); `$N` is the N-th bound value in every statement. The
        // transaction makes them atomic and rolls back on error or cancellation. Only numbers
        // are formatted into the SQL: every value is bound.
        let mut sql = String::from(
            "UPDATE sessions SET status = 'canceled', reason = 'superseded', decided_at = $11 \
             WHERE project_id = $2 AND user_name = $3 AND status = 'sent' RETURNING id; \
             INSERT INTO sessions (id, project_id, user_name, title, body, context_json, \
             presence_mode, presence_code, status, reason, created_at, expires_at, decided_at, \
             decided_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL);",
        );
        for i in 0..devices.len() {
            let k = 14 + 3 * i;
            sql.push_str(&format!(
                " INSERT INTO session_devices (session_id, account_id, nonce, challenge) \
                 VALUES ($1, ${}, ${}, ${});",
                k,
                k + 1,
                k + 2
            ));
        }
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
            .bind(&s.id)
            .bind(&s.project_id)
            .bind(&s.user_name)
            .bind(&s.title)
            .bind(&s.body)
            .bind(&s.context_json)
            .bind(&s.presence_mode)
            .bind(&s.presence_code)
            .bind(&s.status)
            .bind(&s.reason)
            .bind(s.created_at)
            .bind(s.expires_at)
            .bind(s.decided_at);
        for d in devices {
            query = query.bind(&d.account_id).bind(&d.nonce).bind(&d.challenge);
        }
        let mut conn = self.write().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let superseded = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(superseded)
    }

    pub(crate) async fn session(&self, id: &str) -> Result<Option<SessionRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, project_id, user_name, title, body, context_json, presence_mode, \
             presence_code, status, reason, created_at, expires_at, decided_at \
             FROM sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *self.read().await?)
        .await?;
        row.as_ref().map(Self::session_row).transpose()
    }

    /// Sets a final status if (and only if) the session is still `sent` and, when
    /// `unexpired_at` is given, not past its expiry at that time. Returns whether this call
    /// decided it. This single conditional UPDATE is what makes racing answers yield one
    /// decision.
    pub(crate) async fn decide(
        &self,
        id: &str,
        status: &str,
        reason: &str,
        now: i64,
        decided_by: Option<&str>,
        unexpired_at: Option<i64>,
    ) -> Result<bool, sqlx::Error> {
        let r = sqlx::query(
            "UPDATE sessions SET status = $1, reason = $2, decided_at = $3, decided_by = $4 \
             WHERE id = $5 AND status = 'sent' AND ($6 IS NULL OR expires_at >= $6)",
        )
        .bind(status)
        .bind(reason)
        .bind(now)
        .bind(decided_by)
        .bind(id)
        .bind(unexpired_at)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Expires every `sent` session whose expiry has passed; returns their ids.
    pub(crate) async fn expire_due(&self, now: i64) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "UPDATE sessions SET status = 'expired', reason = 'timeout', decided_at = $1 \
             WHERE status = 'sent' AND expires_at < $1 RETURNING id",
        )
        .bind(now)
        .fetch_all(&mut *self.write().await?)
        .await
    }

    /// Expires one session if it is `sent` and past its expiry; returns whether it did.
    pub(crate) async fn expire_one(&self, id: &str, now: i64) -> Result<bool, sqlx::Error> {
        let r = sqlx::query(
            "UPDATE sessions SET status = 'expired', reason = 'timeout', decided_at = $1 \
             WHERE id = $2 AND status = 'sent' AND expires_at < $1",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *self.write().await?)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// A session with the devices it was sent to (`account_id`, `nonce`; no challenge), in
    /// one statement: what an answer needs to check and then announce.
    #[cfg(test)] // the service uses `account_and_session`
    pub(crate) async fn session_with_devices(
        &self,
        id: &str,
    ) -> Result<Option<(SessionRow, Vec<(String, String)>)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT s.id, s.project_id, s.user_name, s.title, s.body, s.context_json, \
             s.presence_mode, s.presence_code, s.status, s.reason, s.created_at, s.expires_at, \
             s.decided_at, d.account_id AS device_account_id, d.nonce AS device_nonce \
             FROM sessions s LEFT JOIN session_devices d ON d.session_id = s.id \
             WHERE s.id = $1",
        )
        .bind(id)
        .fetch_all(&mut *self.read().await?)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let session = Self::session_row(first)?;
        let mut devices = Vec::with_capacity(rows.len());
        for r in &rows {
            let account: Option<String> = r.try_get("device_account_id")?;
            let nonce: Option<String> = r.try_get("device_nonce")?;
            if let (Some(account), Some(nonce)) = (account, nonce) {
                devices.push((account, nonce));
            }
        }
        Ok(Some((session, devices)))
    }

    /// An answer's reads in one query (one round trip to a read connection): the answering
    /// account (as `account`) and the session with the devices it was sent to (as
    /// `session_with_devices`). Each statement reads on its own, as two calls would.
    pub(crate) async fn account_and_session(
        &self,
        account_id: &str,
        session_id: &str,
    ) -> Result<
        (
            Option<AccountRow>,
            Option<(SessionRow, Vec<(String, String)>)>,
        ),
        sqlx::Error,
    > {
        let rows = sqlx::query(
            "SELECT id, project_id, user_name, public_key, device_name, push_platform, \
             push_token, push_environment, push_registered_at, created_at, unpaired_at \
             FROM accounts WHERE id = $1; \
             SELECT s.id, s.project_id, s.user_name, s.title, s.body, s.context_json, \
             s.presence_mode, s.presence_code, s.status, s.reason, s.created_at, s.expires_at, \
             s.decided_at, d.account_id AS device_account_id, d.nonce AS device_nonce \
             FROM sessions s LEFT JOIN session_devices d ON d.session_id = s.id \
             WHERE s.id = $2",
        )
        .bind(account_id)
        .bind(session_id)
        .fetch_all(&mut *self.read().await?)
        .await?;
        let mut account = None;
        let mut session: Option<(SessionRow, Vec<(String, String)>)> = None;
        for r in &rows {
            // The session statement's rows are the ones with the device columns.
            if r.try_column("device_nonce").is_err() {
                account = Some(Self::account_row(r)?);
                continue;
            }
            let (_, devices) = match &mut session {
                Some(s) => s,
                None => session.insert((Self::session_row(r)?, Vec::new())),
            };
            let device: Option<String> = r.try_get("device_account_id")?;
            let nonce: Option<String> = r.try_get("device_nonce")?;
            if let (Some(device), Some(nonce)) = (device, nonce) {
                devices.push((device, nonce));
            }
        }
        Ok((account, session))
    }

    /// The accounts a session was sent to.
    pub(crate) async fn session_accounts(
        &self,
        session_id: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT account_id FROM session_devices WHERE session_id = $1")
            .bind(session_id)
            .fetch_all(&mut *self.read().await?)
            .await
    }

    /// Challenges still waiting for this account (session `sent`, not expired), oldest first.
    pub(crate) async fn pending_challenges(
        &self,
        account_id: &str,
        now: i64,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT d.challenge FROM session_devices d JOIN sessions s ON s.id = d.session_id \
             WHERE d.account_id = $1 AND s.status = 'sent' AND s.expires_at >= $2 \
             ORDER BY s.created_at, s.id",
        )
        .bind(account_id)
        .bind(now)
        .fetch_all(&mut *self.read().await?)
        .await
    }

    /// What creating a session reads, in one query (one round trip to a read connection):
    /// the user's paired devices (as `active_accounts`) and the push budget's
    /// session times (as `budget_session_times`). Each statement reads on its own,
    /// as two separate calls would.
    pub(crate) async fn devices_and_budget(
        &self,
        project_id: &str,
        user_name: &str,
        since: i64,
    ) -> Result<(Vec<AccountRow>, Vec<i64>), sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, project_id, user_name, public_key, device_name, push_platform, \
             push_token, push_environment, push_registered_at, created_at, unpaired_at \
             FROM accounts WHERE project_id = $1 AND user_name = $2 AND unpaired_at IS NULL \
             ORDER BY created_at, id; \
             SELECT created_at AS budget_created_at FROM sessions \
             WHERE project_id = $1 AND user_name = $2 AND created_at > $3 \
             AND created_at > COALESCE((SELECT MAX(decided_at) FROM sessions \
                 WHERE project_id = $1 AND user_name = $2 AND status = 'accepted'), $3) \
             ORDER BY created_at",
        )
        .bind(project_id)
        .bind(user_name)
        .bind(since)
        .fetch_all(&mut *self.read().await?)
        .await?;
        let mut accounts = Vec::new();
        let mut times = Vec::new();
        for r in &rows {
            // The budget statement's rows have its one column; the accounts' have theirs.
            if r.columns().len() == 1 {
                times.push(r.try_get("budget_created_at")?);
            } else {
                accounts.push(Self::account_row(r)?);
            }
        }
        Ok((accounts, times))
    }

    /// Creation times of the user's sessions after `since` and after the user's last
    /// approved login, oldest first (the push budget), in one statement.
    #[cfg(test)] // the service uses `devices_and_budget`
    pub(crate) async fn budget_session_times(
        &self,
        project_id: &str,
        user_name: &str,
        since: i64,
    ) -> Result<Vec<i64>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT created_at FROM sessions \
             WHERE project_id = $1 AND user_name = $2 AND created_at > $3 \
             AND created_at > COALESCE((SELECT MAX(decided_at) FROM sessions \
                 WHERE project_id = $1 AND user_name = $2 AND status = 'accepted'), $3) \
             ORDER BY created_at",
        )
        .bind(project_id)
        .bind(user_name)
        .bind(since)
        .fetch_all(&mut *self.read().await?)
        .await
    }
}

/// Applies the embedded migrations not applied yet, each in its own transaction.
async fn migrate(conn: &mut SqliteConnection) -> Result<(), ServiceError> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS tapprove_migrations \
         (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await
    .map_err(ServiceError::db)?;
    for (version, sql) in MIGRATIONS {
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(ServiceError::db)?;
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT version FROM tapprove_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(ServiceError::db)?;
        if applied.is_some() {
            continue;
        }
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .map_err(ServiceError::db)?;
        sqlx::query("INSERT INTO tapprove_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(crate::now())
            .execute(&mut *tx)
            .await
            .map_err(ServiceError::db)?;
        tx.commit().await.map_err(ServiceError::db)?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_with_session() -> (tempfile::TempDir, Store, SessionRow) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let store = Store::open(&url).await.expect("open");
        store
            .insert_project(&ProjectRow {
                id: "prj_1".into(),
                name: "P".into(),
                trust_url: "https://example.com/t".into(),
                api_key_hash: "h".into(),
                sdk_key: "tap_sdk_x".into(),
                webhook_username: "prj_1".into(),
                webhook_password_sealed: "v1.x".into(),
                webhook_secret_sealed: "v1.y".into(),
                created_at: 1,
            })
            .await
            .expect("project");
        let session = SessionRow {
            id: "ses_1".into(),
            project_id: "prj_1".into(),
            user_name: "alice".into(),
            title: "t".into(),
            body: "b".into(),
            context_json: "{}".into(),
            presence_mode: "choose".into(),
            presence_code: Some("42".into()),
            status: "sent".into(),
            reason: None,
            created_at: crate::now(),
            expires_at: crate::now() + 120,
            decided_at: None,
        };
        store.create_session(&session, &[]).await.expect("session");
        (dir, store, session)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_decisions_on_one_session_have_one_winner() {
        let (_dir, store, session) = store_with_session().await;
        let now = crate::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..32 {
            let store = store.clone();
            let id = session.id.clone();
            tasks.spawn(async move {
                let status = if i % 2 == 0 { "accepted" } else { "rejected" };
                let by = format!("acc_{i}");
                let won = store
                    .decide(&id, status, "r", now, Some(&by), Some(now))
                    .await
                    .expect("decide");
                // A read right after the write sees a final status (readers are other
                // connections; WAL shows them every committed write).
                let seen = store.session(&id).await.expect("read").expect("row");
                assert_ne!(seen.status, "sent");
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
        assert_eq!(row.status, winners[0]);
        store.close().await;
        assert!(matches!(
            store.session(&session.id).await,
            Err(sqlx::Error::PoolClosed)
        ));
    }

    #[tokio::test]
    async fn read_connections_cannot_write() {
        let (_dir, store, _session) = store_with_session().await;
        for reader in &store.inner.readers {
            let mut conn = Conn::new(reader.lock().await).expect("open");
            let r = sqlx::query("UPDATE sessions SET status = 'canceled'")
                .execute(&mut *conn)
                .await;
            assert!(r.is_err(), "a read connection wrote");
        }
        let row = store.session("ses_1").await.expect("read").expect("row");
        assert_eq!(row.status, "sent");
        store.close().await;
    }

    /// Stores `n` devices of alice in prj_1; returns their session rows.
    async fn alice_devices(store: &Store, n: usize) -> Vec<SessionDeviceRow> {
        let mut devices = Vec::new();
        for i in 0..n {
            store
                .insert_account(&AccountRow {
                    id: format!("acc_{i}"),
                    project_id: "prj_1".into(),
                    user_name: "alice".into(),
                    public_key: format!("key{i}"),
                    device_name: None,
                    push_platform: "apns".into(),
                    push_token: String::new(),
                    push_environment: None,
                    push_registered_at: 1,
                    created_at: 1,
                    unpaired_at: None,
                })
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
            (old.status.as_str(), old.reason.as_deref(), old.decided_at),
            ("canceled", Some("superseded"), Some(second.created_at))
        );
        let (row, stored) = store
            .session_with_devices("ses_2")
            .await
            .expect("read")
            .expect("row");
        assert_eq!((row.status.as_str(), row.title.as_str()), ("sent", "t2"));
        assert_eq!(row.presence_code.as_deref(), Some("42"));
        assert_eq!(
            (row.created_at, row.expires_at),
            (second.created_at, second.expires_at)
        );
        let mut stored = stored;
        stored.sort();
        let want: Vec<(String, String)> = (0..3)
            .map(|i| (format!("acc_{i}"), format!("nonce{i}")))
            .collect();
        assert_eq!(stored, want);
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
        assert_eq!(row.status, "sent");
        assert!(
            store
                .decide("ses_2", "accepted", "approved", crate::now(), None, None)
                .await
                .expect("decide")
        );
        let row = store.session("ses_2").await.expect("read").expect("row");
        assert_eq!(row.status, "accepted");
        store.close().await;
    }

    #[tokio::test]
    async fn devices_and_budget_match_the_separate_reads() {
        let (_dir, store, first) = store_with_session().await;
        for (i, unpaired) in [(0, None), (1, Some(5)), (2, None)] {
            store
                .insert_account(&AccountRow {
                    id: format!("acc_{i}"),
                    project_id: "prj_1".into(),
                    user_name: "alice".into(),
                    public_key: format!("key{i}"),
                    device_name: Some(format!("phone {i}")),
                    push_platform: "apns".into(),
                    push_token: format!("tok{i}"),
                    push_environment: None,
                    push_registered_at: 1,
                    created_at: 10 - i64::from(i),
                    unpaired_at: unpaired,
                })
                .await
                .expect("account");
        }
        let second = SessionRow {
            id: "ses_2".into(),
            created_at: first.created_at + 1,
            ..first.clone()
        };
        store.create_session(&second, &[]).await.expect("create");
        let since = first.created_at - 3600;
        let (accounts, times) = store
            .devices_and_budget("prj_1", "alice", since)
            .await
            .expect("read");
        let separate = store.active_accounts("prj_1", "alice").await.expect("read");
        let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["acc_2", "acc_0"]);
        assert_eq!(
            ids,
            separate.iter().map(|a| a.id.as_str()).collect::<Vec<_>>()
        );
        assert_eq!(accounts[0].push_token, "tok2");
        assert_eq!(accounts[1].device_name.as_deref(), Some("phone 0"));
        assert_eq!(times, [first.created_at, second.created_at]);
        assert_eq!(
            times,
            store
                .budget_session_times("prj_1", "alice", since)
                .await
                .expect("read")
        );
        // No devices and no sessions: both empty.
        let (accounts, times) = store
            .devices_and_budget("prj_1", "bob", since)
            .await
            .expect("read");
        assert!(accounts.is_empty() && times.is_empty());
        store.close().await;
    }

    #[tokio::test]
    async fn account_and_session_match_the_separate_reads() {
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
        let (account, session) = store
            .account_and_session("acc_1", "ses_2")
            .await
            .expect("read");
        let account = account.expect("account");
        assert_eq!(
            (account.id.as_str(), account.public_key.as_str()),
            ("acc_1", "key1")
        );
        let (row, mut got) = session.expect("session");
        let (want_row, mut want) = store
            .session_with_devices("ses_2")
            .await
            .expect("read")
            .expect("row");
        got.sort();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(got.len(), 2);
        assert_eq!(
            (row.id, row.status, row.created_at, row.presence_code),
            (
                want_row.id,
                want_row.status,
                want_row.created_at,
                want_row.presence_code
            )
        );
        // A session without devices, an unknown session, an unknown account.
        let (account, session) = store
            .account_and_session("acc_0", "ses_1")
            .await
            .expect("read");
        assert!(account.is_some());
        let (row, devices) = session.expect("session");
        assert_eq!((row.id.as_str(), devices.len()), ("ses_1", 0));
        let (account, session) = store
            .account_and_session("acc_x", "ses_x")
            .await
            .expect("read");
        assert!(account.is_none() && session.is_none());
        store.close().await;
    }
}
