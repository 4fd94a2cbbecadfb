//! Deciding a session with its user's guard, site event and audit rows: the answer's one
//! write transaction (on SQLite on the calling thread, `crate::store::sqlite_direct`).

use super::{Decision, decide_in};
use crate::store::GuardRow;
use crate::store::audit::AuditRowsIn as _;
use crate::store::guards::{UPDATE_GUARD, take_guard_direct, update_in};
use crate::store::site_events::{INSERT_SITE_EVENT, insert_site_event};
use crate::store::{AuditRow, Backend, SiteEventRow, Store};

impl Store {
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
        self.count_write_transaction();
        match &self.backend {
            Backend::Sqlite(db) => {
                db.write_direct(&self.db_wait, |tx| {
                    if let Some(d) = d
                        && d.decide_direct(tx)? != 1
                    {
                        return Ok(None);
                    }
                    let before = take_guard_direct(tx, project_id, user_name)?;
                    let after = change(before.clone());
                    if after != before {
                        tx.execute(
                            UPDATE_GUARD,
                            &[
                                &after.failures,
                                &after.cooldowns,
                                &after.blocked_until,
                                &after.block_reason,
                                &project_id,
                                &user_name,
                            ],
                        )?;
                    }
                    let queued = event(&after);
                    if let Some(e) = &queued {
                        tx.execute(
                            INSERT_SITE_EVENT,
                            &[&e.id, &e.project_id, &e.kind, &e.body, &e.created_at],
                        )?;
                    }
                    tx.insert_audit_rows(audit)?;
                    Ok(Some((before, after, queued)))
                })
                .await
            }
            Backend::Postgres(pool) => {
                let asked = std::time::Instant::now();
                let mut tx = pool.begin().await?;
                self.db_wait.observe(asked.elapsed().as_secs_f64());
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
                tx.commit().await?;
                Ok(Some((before, after, queued)))
            }
        }
    }
}
