//! The `projects` table: one row per relying party.

use super::{Store, with_conn, with_tx};

/// A project (relying party) row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct ProjectRow {
    pub id: String,
    pub name: String,
    pub trust_url: String,
    /// The first API key's hash (lookups use `api_keys`).
    pub api_key_hash: String,
    pub sdk_key: String,
    pub webhook_username: String,
    pub webhook_password_sealed: String,
    pub webhook_secret_sealed: String,
    pub created_at: i64,
    pub presence_policy: String,
    pub entry_digits: i64,
    pub events_url: Option<String>,
    /// 1 = sessions may be approve-only (`none`).
    pub allow_approve_only: i64,
}

/// The columns of [`ProjectRow`], in its order.
macro_rules! project_columns {
    () => {
        "id, name, trust_url, api_key_hash, sdk_key, webhook_username, \
         webhook_password_sealed, webhook_secret_sealed, created_at, presence_policy, \
         entry_digits, events_url, allow_approve_only"
    };
}
pub(super) use project_columns;

/// A [`ProjectRow`] from [`project_columns!`] starting at column `at` of a row of SQLite's
/// synchronous connections.
pub(super) fn project_at(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<ProjectRow> {
    Ok(ProjectRow {
        id: row.get(at)?,
        name: row.get(at + 1)?,
        trust_url: row.get(at + 2)?,
        api_key_hash: row.get(at + 3)?,
        sdk_key: row.get(at + 4)?,
        webhook_username: row.get(at + 5)?,
        webhook_password_sealed: row.get(at + 6)?,
        webhook_secret_sealed: row.get(at + 7)?,
        created_at: row.get(at + 8)?,
        presence_policy: row.get(at + 9)?,
        entry_digits: row.get(at + 10)?,
        events_url: row.get(at + 11)?,
        allow_approve_only: row.get(at + 12)?,
    })
}

impl Store {
    /// Stores a project and its first API key (`api_key_hash`) in one transaction.
    pub(crate) async fn insert_project(&self, p: &ProjectRow) -> Result<(), sqlx::Error> {
        with_tx!(self, |tx| {
            sqlx::query(concat!(
                "INSERT INTO projects (",
                project_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ))
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.trust_url)
            .bind(&p.api_key_hash)
            .bind(&p.sdk_key)
            .bind(&p.webhook_username)
            .bind(&p.webhook_password_sealed)
            .bind(&p.webhook_secret_sealed)
            .bind(p.created_at)
            .bind(&p.presence_policy)
            .bind(p.entry_digits)
            .bind(&p.events_url)
            .bind(p.allow_approve_only)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO api_keys (key_hash, project_id, created_at, retires_at) \
                 VALUES ($1, $2, $3, NULL)",
            )
            .bind(&p.api_key_hash)
            .bind(&p.id)
            .bind(p.created_at)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    pub(crate) async fn project_by_sdk_key(
        &self,
        sdk_key: &str,
    ) -> Result<Option<ProjectRow>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_as(concat!(
            "SELECT ",
            project_columns!(),
            " FROM projects WHERE sdk_key = $1"
        ))
        .bind(sdk_key)
        .fetch_optional(c)
        .await)
    }

    pub(crate) async fn project_by_id(&self, id: &str) -> Result<Option<ProjectRow>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_as(concat!(
            "SELECT ",
            project_columns!(),
            " FROM projects WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(c)
        .await)
    }

    pub(crate) async fn list_projects(&self) -> Result<Vec<ProjectRow>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_as(concat!(
            "SELECT ",
            project_columns!(),
            " FROM projects ORDER BY created_at, id"
        ))
        .fetch_all(c)
        .await)
    }

    pub(crate) async fn update_webhook_credentials(
        &self,
        project_id: &str,
        password_sealed: &str,
        secret_sealed: &str,
    ) -> Result<bool, sqlx::Error> {
        let r = with_conn!(self, write, |c| sqlx::query(
            "UPDATE projects SET webhook_password_sealed = $1, webhook_secret_sealed = $2 \
             WHERE id = $3",
        )
        .bind(password_sealed)
        .bind(secret_sealed)
        .bind(project_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    pub(crate) async fn update_trust_url(
        &self,
        project_id: &str,
        trust_url: &str,
    ) -> Result<bool, sqlx::Error> {
        let r = with_conn!(self, write, |c| sqlx::query(
            "UPDATE projects SET trust_url = $1 WHERE id = $2"
        )
        .bind(trust_url)
        .bind(project_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    pub(crate) async fn update_presence_policy(
        &self,
        project_id: &str,
        policy: &str,
        entry_digits: i64,
        allow_approve_only: i64,
    ) -> Result<bool, sqlx::Error> {
        let r = with_conn!(self, write, |c| sqlx::query(
            "UPDATE projects SET presence_policy = $1, entry_digits = $2, \
             allow_approve_only = $3 WHERE id = $4",
        )
        .bind(policy)
        .bind(entry_digits)
        .bind(allow_approve_only)
        .bind(project_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    pub(crate) async fn update_events_url(
        &self,
        project_id: &str,
        events_url: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        let r = with_conn!(self, write, |c| sqlx::query(
            "UPDATE projects SET events_url = $1 WHERE id = $2"
        )
        .bind(events_url)
        .bind(project_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }
}
