//! The `user_guards` table: each user's failure count, cooldowns and push lock.

use super::audit::AuditRowsIn as _;
use super::sessions::decide_in;
use super::site_events::insert_site_event;
use super::{AuditRow, Backend, Decision, SiteEventRow, Store, sqlite, with_tx};

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

/// Reads (creating if missing, and locking) the user's row, lets `change` compute the new
/// one and stores it, in the transaction `$tx`. A macro: the same text on each backend.
macro_rules! update_in {
    ($tx:expr, $project_id:expr, $user_name:expr, $change:expr) => {{
        let old: GuardRow = sqlx::query_as(
            "INSERT INTO user_guards (project_id, user_name) VALUES ($1, $2) \
             ON CONFLICT (project_id, user_name) DO UPDATE SET failures = user_guards.failures \
             RETURNING failures, cooldowns, blocked_until, block_reason",
        )
        .bind($project_id)
        .bind($user_name)
        .fetch_one(&mut *$tx)
        .await?;
        let new: GuardRow = $change(old.clone());
        // An unchanged guard (an approval of a user with a clear one, every normal login)
        // needs no UPDATE: the upsert above already holds the row's lock.
        if new != old {
            sqlx::query(
                "UPDATE user_guards SET failures = $1, cooldowns = $2, blocked_until = $3, \
             block_reason = $4 WHERE project_id = $5 AND user_name = $6",
            )
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

    /// In one transaction: decides the session ([`Store::decide`], unless `d` is `None`: a
    /// late report on a session already final); if that decided it, updates its user's guard
    /// with `change` and queues the site event `event` makes of the new guard. Returns the
    /// guard before and after and the queued event, or `None` when the session was not
    /// decided. The decision's `audit` rows are stored with them (a failed audit write does
    /// not undo the rest; see `AuditRowsIn`). Whatever else fails, nothing is stored: a
    /// decision never stands without its lock.
    pub(crate) async fn decide_guarded(
        &self,
        d: Option<&Decision<'_>>,
        project_id: &str,
        user_name: &str,
        change: impl FnOnce(GuardRow) -> GuardRow,
        event: impl FnOnce(&GuardRow) -> Option<SiteEventRow>,
        audit: &[AuditRow],
    ) -> Result<Option<(GuardRow, GuardRow, Option<SiteEventRow>)>, sqlx::Error> {
        with_tx!(self, |tx| {
            if let Some(d) = d
                && decide_in!(tx, d)? != 1
            {
                return Ok(None);
            }
            let mut before = GuardRow::default();
            let after = update_in!(tx, project_id, user_name, |g: GuardRow| {
                before = g.clone();
                change(g)
            });
            let queued = event(&after);
            if let Some(e) = &queued {
                insert_site_event!(tx, e)?;
            }
            tx.insert_audit_rows(audit).await?;
            Ok(Some((before, after, queued)))
        })
    }
}
