//! The `user_guards` table: each user's failure count, cooldowns and push lock.

use super::sqlite_direct::Sql;
use super::{Backend, Store, sqlite};

/// A user's guard row.
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct GuardRow {
    /// Rejections and expiries since the last approved login.
    pub failures: i64,
    /// Cooldowns since the last approved login.
    pub cooldowns: i64,
    /// No pushes before this time.
    pub blocked_until: Option<i64>,
    /// `fraud_reported` or `cooldown`.
    pub block_reason: Option<String>,
}

/// Takes the user's guard row, creating it if missing (`$1` project, `$2` user): the upsert
/// locks the row on PostgreSQL until the transaction ends; returns the row's columns.
pub(super) const TAKE_GUARD: &str = "INSERT INTO user_guards (project_id, user_name) VALUES ($1, $2) \
     ON CONFLICT (project_id, user_name) DO UPDATE SET failures = user_guards.failures \
     RETURNING failures, cooldowns, blocked_until, block_reason";

/// Stores a guard: `$1` failures, `$2` cooldowns, `$3` blocked until, `$4` block reason,
/// `$5` project, `$6` user.
pub(super) const UPDATE_GUARD: &str = "UPDATE user_guards SET failures = $1, cooldowns = $2, \
     blocked_until = $3, block_reason = $4 WHERE project_id = $5 AND user_name = $6";

/// A guard row from [`TAKE_GUARD`]'s columns, read on the SQLite writer's own connection.
fn guard_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<GuardRow> {
    Ok(GuardRow {
        failures: row.get(0)?,
        cooldowns: row.get(1)?,
        blocked_until: row.get(2)?,
        block_reason: row.get(3)?,
    })
}

/// [`TAKE_GUARD`] on the SQLite writer's own connection.
pub(super) fn take_guard_direct(
    tx: &Sql<'_>,
    project_id: &str,
    user_name: &str,
) -> rusqlite::Result<GuardRow> {
    tx.one_row(TAKE_GUARD, &[&project_id, &user_name], guard_from)
}

/// Reads (creating if missing, and locking) the user's row, lets `change` compute the new
/// one and stores it, in the transaction `$tx`. A macro: the same text on each backend.
macro_rules! update_in {
    ($tx:expr, $project_id:expr, $user_name:expr, $change:expr) => {{
        let old: $crate::store::GuardRow = sqlx::query_as($crate::store::guards::TAKE_GUARD)
            .bind($project_id)
            .bind($user_name)
            .fetch_one(&mut *$tx)
            .await?;
        let new: $crate::store::GuardRow = $change(old.clone());
        // An unchanged guard (an approval of a user with a clear one, every normal login)
        // needs no UPDATE: the upsert above already holds the row's lock.
        if new != old {
            sqlx::query($crate::store::guards::UPDATE_GUARD)
                .bind(new.failures)
                .bind(new.cooldowns)
                .bind(new.blocked_until)
                .bind(&new.block_reason)
                .bind($project_id)
                .bind($user_name)
                .execute(&mut *$tx)
                .await?;
        }
        new
    }};
}
pub(super) use update_in;

impl Store {
    /// In one transaction: reads the user's guard, lets `change` compute the new one, stores
    /// it. Returns the stored row. Concurrent updates of one user take turns.
    pub(crate) async fn update_guard(
        &self,
        project_id: &str,
        user_name: &str,
        change: impl FnOnce(GuardRow) -> GuardRow,
    ) -> Result<GuardRow, sqlx::Error> {
        self.count_write_transaction();
        match &self.backend {
            Backend::Sqlite(db) => {
                let mut conn = db.write().await?;
                let mut tx = sqlite::begin_write(&mut conn).await?;
                let new = update_in!(tx, project_id, user_name, change);
                tx.commit().await?;
                Ok(new)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let new = update_in!(tx, project_id, user_name, change);
                tx.commit().await?;
                Ok(new)
            }
        }
    }
}
