//! The `site_events` table: the outbox of events for the site (`site_events.rs` sends them).

use super::{Store, with_conn};

/// One event to deliver.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct SiteEventRow {
    /// `evt_…`, also the Standard Webhooks `webhook-id` of every attempt.
    pub id: String,
    pub project_id: String,
    pub kind: String,
    /// The JSON body, exactly as signed and sent.
    pub body: String,
    pub created_at: i64,
    /// Attempts so far, this one included once claimed.
    pub attempts: i64,
}

/// Adds an event due now: `$1` id, `$2` project, `$3` kind, `$4` body, `$5` created.
pub(super) const INSERT_SITE_EVENT: &str = "INSERT INTO site_events (id, project_id, kind, body, \
     created_at, attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $5, 0, $5)";

/// Adds event `$e` (a `&SiteEventRow`), due now, on connection or transaction `$c`.
macro_rules! insert_site_event {
    ($c:expr, $e:expr) => {{
        let e: &$crate::store::SiteEventRow = $e;
        sqlx::query($crate::store::site_events::INSERT_SITE_EVENT)
            .bind(&e.id)
            .bind(&e.project_id)
            .bind(&e.kind)
            .bind(&e.body)
            .bind(e.created_at)
            .execute(&mut *$c)
            .await
            .map(|_| ())
    }};
}
pub(crate) use insert_site_event;

impl Store {
    /// Claims up to `limit` due events (or `only`, when given) for `lease` seconds and counts
    /// the attempt. One statement; the outer conditions are checked again on the row as it
    /// is updated, so of several instances exactly one claims an event.
    pub(crate) async fn claim_site_events(
        &self,
        now: i64,
        lease: i64,
        limit: i64,
        only: Option<&str>,
    ) -> Result<Vec<SiteEventRow>, sqlx::Error> {
        with_conn!(self, write, |c| sqlx::query_as(
            "UPDATE site_events SET claimed_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM site_events WHERE delivered_at IS NULL \
               AND gave_up_at IS NULL AND next_attempt_at <= $1 \
               AND (claimed_until IS NULL OR claimed_until < $1) \
               AND ($4 IS NULL OR id = $4) ORDER BY next_attempt_at LIMIT $3) \
             AND delivered_at IS NULL AND gave_up_at IS NULL \
             AND (claimed_until IS NULL OR claimed_until < $1) \
             RETURNING id, project_id, kind, body, created_at, attempts"
        )
        .bind(now)
        .bind(now + lease)
        .bind(limit)
        .bind(only)
        .fetch_all(c)
        .await)
    }

    /// Records the outcome of an attempt: delivered, given up, or due again at `retry_at`.
    pub(crate) async fn site_event_attempted(
        &self,
        id: &str,
        outcome: SiteEventOutcome<'_>,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let (delivered, gave_up, retry_at, error) = match outcome {
            SiteEventOutcome::Delivered => (Some(now), None, None, None),
            SiteEventOutcome::GaveUp(why) => (None, Some(now), None, Some(why)),
            SiteEventOutcome::RetryAt(at, why) => (None, None, Some(at), Some(why)),
        };
        with_conn!(self, write, |c| sqlx::query(
            "UPDATE site_events SET claimed_until = NULL, delivered_at = $2, gave_up_at = $3, \
             next_attempt_at = COALESCE($4, next_attempt_at), last_error = $5 WHERE id = $1"
        )
        .bind(id)
        .bind(delivered)
        .bind(gave_up)
        .bind(retry_at)
        .bind(error)
        .execute(c)
        .await
        .map(|_| ()))
    }

    /// Deletes events delivered or given up before `cutoff`; how many.
    pub(crate) async fn delete_finished_site_events(
        &self,
        cutoff: i64,
    ) -> Result<u64, sqlx::Error> {
        with_conn!(self, write, |c| sqlx::query(
            "DELETE FROM site_events WHERE COALESCE(delivered_at, gave_up_at) < $1"
        )
        .bind(cutoff)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
    }
}

/// What one attempt came to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SiteEventOutcome<'a> {
    Delivered,
    GaveUp(&'a str),
    RetryAt(i64, &'a str),
}
