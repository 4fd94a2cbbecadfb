//! Events the service sends the site (PROTOCOL.md §8a): `user.fraud_reported`, POSTed to the
//! project's events URL and signed like the trust webhook (HTTP Basic + Standard Webhooks).
//!
//! Durable: the event is written to the `site_events` outbox when it happens, then sent at
//! once in the background; what fails (the site down, a 5xx, a timeout) is retried by the
//! sweep of whichever instance claims it, with backoff, for up to a day, across restarts. Every
//! attempt carries the same `webhook-id` (the event's id), so the site can drop duplicates. A
//! 4xx is the site saying no: given up at once (logged). A site without an events URL gets none.

use serde::Serialize;
use tapprove_protocol::Context;

use crate::domain::context::SiteEvents;
use crate::domain::trust_webhook::signed_post_as;
use crate::store::{SessionRow, SiteEventOutcome, SiteEventRow, Store};

/// Pause before the attempt after the n-th failed one, seconds; the last repeats.
const BACKOFF: [i64; 7] = [2, 8, 30, 120, 600, 1800, 3600];
/// An event not delivered this long after it happened is given up, seconds.
const GIVE_UP_AFTER: i64 = 86_400;
/// How long an instance holds a claimed event before another may try it, seconds (above the
/// webhook timeout).
const LEASE: i64 = 60;
/// Events one sweep attempts at most.
const PER_SWEEP: i64 = 20;

/// `user.fraud_reported`.
#[derive(Debug, Serialize)]
struct FraudReported<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    user: &'a str,
    session: &'a str,
    ip: Option<&'a str>,
    context: &'a Context,
    locked_until: i64,
}

/// Whether the project wants site events (it has an events URL). A failed read says yes: the
/// event is queued anyway, and delivery finds out.
pub(crate) async fn wanted(store: &Store, project_id: &str) -> bool {
    match store.project_by_id(project_id).await {
        Ok(Some(p)) => p.events_url.is_some(),
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the project; queueing the event anyway");
            true
        }
    }
}

/// The outbox row telling the site that `session`'s user answered "not me" and is locked until
/// `locked_until`, queued at `now`; the caller stores it in the transaction that records the
/// lock, then has it sent (`Background::send_site_event`).
pub(crate) fn fraud_event(
    session: &SessionRow,
    locked_until: i64,
    now: i64,
) -> Option<SiteEventRow> {
    let context: Context = serde_json::from_str(&session.context_json).unwrap_or_default();
    let body = FraudReported {
        kind: "user.fraud_reported",
        user: &session.user_name,
        session: &session.id,
        ip: context.ip.as_deref(),
        context: &context,
        locked_until,
    };
    let (Ok(body), Ok(id)) = (serde_json::to_string(&body), crate::crypto::new_id("evt_")) else {
        tracing::error!(session_id = %session.id, "cannot encode the fraud event");
        return None;
    };
    Some(SiteEventRow {
        id,
        project_id: session.project_id.clone(),
        kind: "user.fraud_reported".into(),
        body,
        created_at: now,
        attempts: 0,
    })
}

/// Attempts the due events (`only`: just that one); called by the sweep. `clock` is read
/// before the claim and after each attempt, which may take up to the webhook timeout.
pub(crate) async fn deliver(ctx: SiteEvents<'_>, only: Option<&str>, clock: fn() -> i64) {
    let now = clock();
    let claimed = match ctx
        .store
        .claim_site_events(now, LEASE, PER_SWEEP, only)
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "cannot claim site events");
            return;
        }
    };
    for event in claimed {
        let outcome = attempt(ctx, &event, now).await;
        let now = clock();
        let outcome = match outcome {
            Err(why) if now - event.created_at >= GIVE_UP_AFTER => {
                tracing::error!(event_id = %event.id, project_id = %event.project_id, attempts = event.attempts, why,
                    "site event given up after a day of failures");
                SiteEventOutcome::GaveUp(why)
            }
            Err(why) => {
                let pause = BACKOFF[usize::try_from(event.attempts - 1)
                    .unwrap_or(0)
                    .min(BACKOFF.len() - 1)];
                SiteEventOutcome::RetryAt(now + pause, why)
            }
            Ok(outcome) => outcome,
        };
        if let Err(e) = ctx
            .store
            .site_event_attempted(&event.id, outcome, now)
            .await
        {
            tracing::warn!(event_id = %event.id, error = %e, "cannot record a site event attempt");
        }
    }
}

/// One attempt: `Ok(Delivered)`, `Ok(GaveUp)` when the site refused or there is nowhere to
/// send it, `Err(why)` to retry.
async fn attempt(
    ctx: SiteEvents<'_>,
    event: &SiteEventRow,
    now: i64,
) -> Result<SiteEventOutcome<'static>, &'static str> {
    let (id, project_id) = (event.id.as_str(), event.project_id.as_str());
    let project = match ctx.store.project_by_id(project_id).await {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(SiteEventOutcome::GaveUp("the project is gone")),
        Err(_) => return Err("cannot read the project"),
    };
    let Some(url) = project.events_url.clone() else {
        return Ok(SiteEventOutcome::GaveUp(
            "the project has no events URL any more",
        ));
    };
    // Signed afresh each time (the timestamp must be current), with the same webhook-id.
    let request = match signed_post_as(
        ctx.webhooks,
        &project,
        &url,
        id,
        event.body.clone().into_bytes(),
        now,
    ) {
        Ok(r) => r,
        Err(why) => {
            tracing::error!(event_id = id, project_id, why, "cannot send a site event");
            return Ok(SiteEventOutcome::GaveUp(why));
        }
    };
    match request.send().await {
        Ok(r) if r.status().is_success() => {
            tracing::info!(event_id = id, project_id, kind = %event.kind, "site event delivered");
            Ok(SiteEventOutcome::Delivered)
        }
        Ok(r) if r.status().is_client_error() => {
            tracing::warn!(
                event_id = id,
                project_id,
                status = r.status().as_u16(),
                "the site refused the event"
            );
            Ok(SiteEventOutcome::GaveUp("the site answered 4xx"))
        }
        Ok(r) => {
            tracing::warn!(
                event_id = id,
                project_id,
                status = r.status().as_u16(),
                attempt = event.attempts,
                "site event failed; will retry"
            );
            Err("the site answered 5xx")
        }
        Err(e) => {
            tracing::warn!(event_id = id, project_id, error = %e, attempt = event.attempts,
                "site event not delivered; will retry");
            Err("the site could not be reached")
        }
    }
}

/// Deletes finished events older than `cutoff` (retention).
pub(crate) async fn forget_finished(store: &Store, cutoff: i64) {
    match store.delete_finished_site_events(cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(events = n, "retention: deleted finished site events"),
        Err(e) => tracing::warn!(error = %e, "retention of site events failed"),
    }
}
