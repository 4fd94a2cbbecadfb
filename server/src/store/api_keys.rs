//! The `api_keys` table: a project's relying-party API keys (SHA-256 hex), at most two active.

use super::projects::{ProjectRow, project_at, project_columns};
use super::{Backend, Store, with_conn, with_tx};

/// The project whose API key hash is `$1` and active at `$2`: the hash, then
/// [`project_columns!`] (every create and long-poll asks; SQLite runs it on the calling
/// thread, `crate::store::sqlite_direct`).
const PROJECT_BY_API_KEY: &str = concat!(
    "SELECT k.key_hash AS matched_key_hash, p.* FROM api_keys k JOIN (SELECT ",
    project_columns!(),
    " FROM projects) p ON p.id = k.project_id \
     WHERE k.key_hash = $1 AND (k.retires_at IS NULL OR k.retires_at > $2)"
);

impl Store {
    /// The project whose API key has this hash and is active at `now`, with that hash.
    pub(crate) async fn project_by_api_key(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<Option<(ProjectRow, String)>, sqlx::Error> {
        if let Backend::Sqlite(db) = &self.backend {
            return db
                .read_direct(|sql| {
                    sql.first_row(PROJECT_BY_API_KEY, &[&hash, &now], |row| {
                        Ok((project_at(row, 1)?, row.get(0)?))
                    })
                })
                .await;
        }
        with_conn!(self, read, |c| {
            let row = sqlx::query(PROJECT_BY_API_KEY)
                .bind(hash)
                .bind(now)
                .fetch_optional(c)
                .await?;
            let Some(row) = row else { return Ok(None) };
            let matched: String = sqlx::Row::try_get(&row, "matched_key_hash")?;
            Ok(Some((sqlx::FromRow::from_row(&row)?, matched)))
        })
    }

    /// Adds `new_hash` as the project's newest key; the key that was newest stays active
    /// until `old_retires_at`, every older one retires now: at most two keys are active. Returns when the previous key retires, if there was one.
    pub(crate) async fn rotate_api_key(
        &self,
        project_id: &str,
        new_hash: &str,
        now: i64,
        old_retires_at: i64,
    ) -> Result<Option<i64>, sqlx::Error> {
        let previous = with_tx!(self, |tx| {
            // The newest key is the one without a retirement time: every rotation gives all
            // others one (times alone cannot order two keys made in the same second).
            let newest: Option<String> = sqlx::query_scalar(
                "SELECT key_hash FROM api_keys WHERE project_id = $1 \
             AND retires_at IS NULL LIMIT 1",
            )
            .bind(project_id)
            .fetch_optional(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE api_keys SET retires_at = $1 WHERE project_id = $2 \
             AND (retires_at IS NULL OR retires_at > $1)",
            )
            .bind(now)
            .bind(project_id)
            .execute(&mut *tx)
            .await?;
            let previous = match newest {
                Some(hash) if old_retires_at > now => {
                    sqlx::query("UPDATE api_keys SET retires_at = $1 WHERE key_hash = $2")
                        .bind(old_retires_at)
                        .bind(&hash)
                        .execute(&mut *tx)
                        .await?;
                    Some(old_retires_at)
                }
                Some(_) => Some(now),
                None => None,
            };
            sqlx::query(
                "INSERT INTO api_keys (key_hash, project_id, created_at, retires_at) \
             VALUES ($1, $2, $3, NULL)",
            )
            .bind(new_hash)
            .bind(project_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            previous
        });
        Ok(previous)
    }
}
