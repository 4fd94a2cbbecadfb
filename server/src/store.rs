//! Storage: every SQL statement of the service lives here, behind [`Store`].
//!
//! The SQL is written to run unchanged on PostgreSQL (`$n` parameters, TEXT/BIGINT columns,
//! `RETURNING`, no SQLite-only syntax); this build ships the SQLite driver.

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row as _, SqlitePool};

use crate::error::ServiceError;

/// Embedded migrations, applied in order; each runs once, inside a transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (
        2,
        include_str!("../migrations/0002_sessions_by_user_status.sql"),
    ),
];

/// The service database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
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
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let store = Self { pool };
        store.migrate().await.map_err(|e| match e {
            ServiceError::Database(reason) => unavailable(reason),
            other => other,
        })?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), ServiceError> {
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS tapprove_migrations \
             (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(ServiceError::db)?;
        for (version, sql) in MIGRATIONS {
            let mut tx = self
                .pool
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

    /// Closes every connection (after the last request).
    pub async fn close(&self) {
        self.pool.close().await;
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
        .execute(&self.pool)
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
        .fetch_optional(&self.pool)
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
        .fetch_optional(&self.pool)
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
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::project_row).transpose()
    }

    pub(crate) async fn list_projects(&self) -> Result<Vec<ProjectRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, name, trust_url, api_key_hash, sdk_key, webhook_username, \
             webhook_password_sealed, webhook_secret_sealed, created_at \
             FROM projects ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
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
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    // ------------------------------------------------------------ service key

    /// The service key (kid, sealed PKCS#8), oldest first if several exist.
    pub(crate) async fn service_key(&self) -> Result<Option<(String, String)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT kid, sealed_pkcs8 FROM service_keys ORDER BY created_at, kid LIMIT 1",
        )
        .fetch_optional(&self.pool)
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
        .execute(&self.pool)
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
        let mut tx = self.pool.begin().await?;
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
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::account_row).transpose()
    }

    /// The paired accounts of one user of one project, oldest first.
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
        .fetch_all(&self.pool)
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
        .execute(&self.pool)
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
                .execute(&self.pool)
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
        .execute(&self.pool)
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let superseded: Vec<String> = sqlx::query_scalar(
            "UPDATE sessions SET status = 'canceled', reason = 'superseded', decided_at = $1 \
             WHERE project_id = $2 AND user_name = $3 AND status = 'sent' RETURNING id",
        )
        .bind(s.created_at)
        .bind(&s.project_id)
        .bind(&s.user_name)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO sessions (id, project_id, user_name, title, body, context_json, \
             presence_mode, presence_code, status, reason, created_at, expires_at, decided_at, \
             decided_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL)",
        )
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
        .bind(s.decided_at)
        .execute(&mut *tx)
        .await?;
        for d in devices {
            sqlx::query(
                "INSERT INTO session_devices (session_id, account_id, nonce, challenge) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&s.id)
            .bind(&d.account_id)
            .bind(&d.nonce)
            .bind(&d.challenge)
            .execute(&mut *tx)
            .await?;
        }
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
        .fetch_optional(&self.pool)
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
        .execute(&self.pool)
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
        .fetch_all(&self.pool)
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
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn session_device(
        &self,
        session_id: &str,
        account_id: &str,
    ) -> Result<Option<SessionDeviceRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT account_id, nonce, challenge FROM session_devices \
             WHERE session_id = $1 AND account_id = $2",
        )
        .bind(session_id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SessionDeviceRow {
                account_id: r.try_get("account_id")?,
                nonce: r.try_get("nonce")?,
                challenge: r.try_get("challenge")?,
            })
        })
        .transpose()
    }

    /// The accounts a session was sent to.
    pub(crate) async fn session_accounts(
        &self,
        session_id: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT account_id FROM session_devices WHERE session_id = $1")
            .bind(session_id)
            .fetch_all(&self.pool)
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
        .fetch_all(&self.pool)
        .await
    }

    /// When the user last approved a login (for the push budget).
    pub(crate) async fn last_success(
        &self,
        project_id: &str,
        user_name: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT MAX(decided_at) FROM sessions \
             WHERE project_id = $1 AND user_name = $2 AND status = 'accepted'",
        )
        .bind(project_id)
        .bind(user_name)
        .fetch_one(&self.pool)
        .await
    }

    /// Creation times of the user's sessions after `since`, oldest first.
    pub(crate) async fn session_times_since(
        &self,
        project_id: &str,
        user_name: &str,
        since: i64,
    ) -> Result<Vec<i64>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT created_at FROM sessions \
             WHERE project_id = $1 AND user_name = $2 AND created_at > $3 ORDER BY created_at",
        )
        .bind(project_id)
        .bind(user_name)
        .bind(since)
        .fetch_all(&self.pool)
        .await
    }
}
