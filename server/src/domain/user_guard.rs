//! Each user's push guard (NIST SP 800-63B-4 §3.2.2): "not me" locks pushes to the
//! user and tells the site; consecutive rejections or expiries start a cooldown that doubles
//! until an approved login. The one place that decides a user's guard; the store keeps it
//! and checks it in the same transaction as each new session.

use tapprove_protocol::UvMethod;
use tapprove_protocol::api::SessionReason;

use crate::domain::audit::{self, AuditEvent};
use crate::domain::bus::Outcome;
use crate::domain::context::Guard;
use crate::domain::site_events;
use crate::service::config::LimitsConfig;
use crate::store::{AuditRow, Decision, GuardRow, SessionRow};

/// Stored `block_reason` of a fraud lock (the session reason that sets it).
pub(crate) const FRAUD_REPORTED: &str =
    tapprove_protocol::api::SessionReason::FraudReported.as_str();
/// Stored `block_reason` of a cooldown.
pub(crate) const COOLDOWN: &str = "cooldown";

/// The guard's limits, from the service configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub fraud_lock: i64,
    pub failures_before_cooldown: i64,
    pub cooldown: i64,
    pub max_cooldown: i64,
}

impl From<&LimitsConfig> for Rules {
    fn from(l: &LimitsConfig) -> Self {
        Self {
            fraud_lock: i64::from(l.fraud_lock_seconds),
            failures_before_cooldown: i64::from(l.failures_before_cooldown),
            cooldown: i64::from(l.cooldown_seconds),
            max_cooldown: i64::from(l.max_cooldown_seconds),
        }
    }
}

/// The guard after a session ended with `reason` at `now`; `None` when the outcome does not
/// count (superseded, canceled by the site, undeliverable).
pub(crate) fn after(
    g: GuardRow,
    reason: SessionReason,
    now: i64,
    rules: Rules,
) -> Option<GuardRow> {
    let block_until = |g: GuardRow, until: i64, why: &str| {
        if g.blocked_until.is_some_and(|t| t >= until) {
            g
        } else {
            GuardRow {
                blocked_until: Some(until),
                block_reason: Some(why.to_owned()),
                ..g
            }
        }
    };
    match reason {
        SessionReason::Approved => Some(GuardRow {
            failures: 0,
            cooldowns: 0,
            ..g
        }),
        SessionReason::FraudReported => Some(block_until(
            GuardRow { failures: 0, ..g },
            now + rules.fraud_lock,
            FRAUD_REPORTED,
        )),
        // An unanswered push is a failure whether it expired or the site replaced or canceled
        // it: otherwise restarting or canceling before expiry dodges the cooldown. A site that
        // retries the same login joins the pending session instead (`join_pending`).
        SessionReason::UserDenied
        | SessionReason::WrongNumber
        | SessionReason::Timeout
        | SessionReason::Superseded
        | SessionReason::CanceledByRelyingParty => {
            let failures = g.failures + 1;
            if rules.failures_before_cooldown == 0 || failures < rules.failures_before_cooldown {
                return Some(GuardRow { failures, ..g });
            }
            // 1st cooldown `cooldown`, then twice as long each time, at most `max_cooldown`.
            let factor = 1i64 << g.cooldowns.clamp(0, 20);
            let length = rules
                .cooldown
                .saturating_mul(factor)
                .min(rules.max_cooldown);
            let cooled = GuardRow {
                failures: 0,
                cooldowns: g.cooldowns + 1,
                ..g
            };
            Some(block_until(cooled, now + length, COOLDOWN))
        }
        _ => None,
    }
}

/// Whether a session ending with `reason` changes its user's guard.
pub(crate) fn counts(reason: SessionReason) -> bool {
    after(
        GuardRow::default(),
        reason,
        0,
        Rules::from(&LimitsConfig::default()),
    )
    .is_some()
}

/// Decides `session` with a device's answer and, in the same transaction, records the
/// outcome in the user's guard and (for "not me", when the site has an events URL) queues its
/// `user.fraud_reported` event: a decision never stands without its lock and report. `None`
/// when this call did not decide the session (it was final already, expired at `now`, or the
/// device is no longer paired); otherwise pass the result to [`recorded`] once the decision is
/// audited. One transaction, not several.
pub(crate) async fn decide_answered(
    ctx: Guard<'_>,
    session: &SessionRow,
    outcome: Outcome,
    by: (&str, Option<UvMethod>),
    audit: &[AuditRow],
) -> Result<Option<Recorded>, sqlx::Error> {
    let now = outcome.decided_at;
    let reason = outcome.reason;
    let decision = Decision {
        id: &session.id,
        outcome,
        decided_by: Some(by),
        unexpired_at: Some(now),
    };
    guarded(ctx, session, Some(&decision), reason, now, audit).await
}

/// [`decide_answered`] for a `display` session's code submitted by the relying party:
/// `by` is the device that acknowledged showing the code, if any (it must still be paired).
pub(crate) async fn decide_by_code(
    ctx: Guard<'_>,
    session: &SessionRow,
    outcome: Outcome,
    by: Option<(&str, Option<UvMethod>)>,
    audit: &[AuditRow],
) -> Result<Option<Recorded>, sqlx::Error> {
    let now = outcome.decided_at;
    let decision = Decision {
        id: &session.id,
        outcome,
        decided_by: by,
        unexpired_at: Some(now),
    };
    guarded(ctx, session, Some(&decision), outcome.reason, now, audit).await
}

/// How long after a session ended unanswered its device may still report it as "not me".
pub(crate) const LATE_REPORT_SECONDS: i64 = 600;

/// Whether a "not me" on `session` (final) is a late fraud report: it ended unanswered
/// (superseded, canceled by the site, expired) at most [`LATE_REPORT_SECONDS`] ago.
pub(crate) fn late_report_allowed(session: &SessionRow, now: i64) -> bool {
    let unanswered = matches!(
        session.reason.map(|r| r.0),
        Some(
            SessionReason::Superseded
                | SessionReason::CanceledByRelyingParty
                | SessionReason::Timeout
        )
    );
    unanswered
        && session
            .decided_at
            .is_some_and(|t| now.saturating_sub(t) <= LATE_REPORT_SECONDS)
}

/// A late "not me" on a session that ended unanswered: its outcome stays, the user is locked
/// and the site told, in one transaction, as for a "not me" in time.
pub(crate) async fn report_late(
    ctx: Guard<'_>,
    session: &SessionRow,
    now: i64,
) -> Result<Option<Recorded>, sqlx::Error> {
    guarded(ctx, session, None, SessionReason::FraudReported, now, &[]).await
}

/// [`Store::decide_guarded`](crate::store::Store) with the guard's rules and the fraud event.
async fn guarded(
    ctx: Guard<'_>,
    session: &SessionRow,
    decision: Option<&Decision<'_>>,
    reason: SessionReason,
    now: i64,
    audit: &[AuditRow],
) -> Result<Option<Recorded>, sqlx::Error> {
    let rules = Rules::from(ctx.limits);
    let tell_site = reason == SessionReason::FraudReported
        && site_events::wanted(ctx.store, &session.project_id).await;
    let stored = ctx
        .store
        .decide_guarded(
            decision,
            &session.project_id,
            &session.user_name,
            |g| after(g.clone(), reason, now, rules).unwrap_or(g),
            |g| {
                tell_site
                    .then(|| site_events::fraud_event(session, g.blocked_until.unwrap_or(now), now))
                    .flatten()
            },
            audit,
        )
        .await?;
    Ok(stored.map(|(before, guard, queued)| Recorded {
        before,
        guard,
        event_id: queued.map(|e| e.id),
        now,
    }))
}

/// What [`decide_answered`] stored besides the decision.
pub(crate) struct Recorded {
    before: GuardRow,
    guard: GuardRow,
    event_id: Option<String>,
    now: i64,
}

/// After a decision by [`decide_answered`] (and its audit row): audits a new block and starts
/// sending the site its event.
pub(crate) async fn recorded(ctx: Guard<'_>, session: &SessionRow, r: Recorded) {
    noted(ctx, session, &r.before, &r.guard, r.now).await;
    if let Some(id) = r.event_id {
        ctx.background.send_site_event(id);
    }
}

/// Records a final session that no device answered (expired, superseded, canceled) in its
/// user's guard at `now`. Failures are logged: the outcome itself is already stored.
pub(crate) async fn record(ctx: Guard<'_>, session: &SessionRow, reason: SessionReason, now: i64) {
    let rules = Rules::from(ctx.limits);
    if !counts(reason) {
        return;
    }
    let mut before = GuardRow::default();
    let updated = ctx
        .store
        .update_guard(&session.project_id, &session.user_name, |g| {
            before = g.clone();
            after(g.clone(), reason, now, rules).unwrap_or(g)
        })
        .await;
    match updated {
        Ok(g) => noted(ctx, session, &before, &g, now).await,
        Err(e) => {
            tracing::error!(session_id = %session.id, error = %e, "cannot record the outcome in the user's guard");
        }
    }
}

/// Logs a block now in force and audits a new one.
async fn noted(ctx: Guard<'_>, session: &SessionRow, before: &GuardRow, g: &GuardRow, now: i64) {
    if g.blocked_until.is_some_and(|t| t > now) {
        tracing::info!(session_id = %session.id, reason = g.block_reason.as_deref(), until = g.blocked_until, "pushes to this user blocked");
    }
    if g.blocked_until.is_some_and(|t| t > now) && g.blocked_until != before.blocked_until {
        let event = AuditEvent::UserLocked {
            project_id: &session.project_id,
            user: &session.user_name,
            reason: g.block_reason.as_deref().unwrap_or(COOLDOWN),
        };
        audit::record(ctx.store, event).await;
    }
}

/// Lifts the user's lock or cooldown and forgets their failures (the site vouches for them).
/// Whether a block was in force.
pub(crate) async fn lift(
    ctx: Guard<'_>,
    project_id: &str,
    user_name: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let mut was_blocked = false;
    ctx.store
        .update_guard(project_id, user_name, |g| {
            was_blocked = g.blocked_until.is_some_and(|t| t > now);
            GuardRow::default()
        })
        .await?;
    if was_blocked {
        tracing::info!(project_id, "user lock lifted by the relying party");
    }
    let event = AuditEvent::LockLifted {
        project_id,
        user: user_name,
        was_blocked,
    };
    audit::record(ctx.store, event).await;
    Ok(was_blocked)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules {
        fraud_lock: 3600,
        failures_before_cooldown: 3,
        cooldown: 60,
        max_cooldown: 300,
    };

    fn step(g: GuardRow, reason: SessionReason, now: i64) -> GuardRow {
        after(g, reason, now, RULES).expect("counted")
    }

    #[test]
    fn three_failures_start_a_doubling_cooldown_until_an_approval() {
        let mut g = GuardRow::default();
        g = step(g, SessionReason::UserDenied, 0);
        g = step(g, SessionReason::Timeout, 0);
        assert_eq!((g.failures, g.blocked_until), (2, None));
        g = step(g, SessionReason::WrongNumber, 100);
        assert_eq!(g.blocked_until, Some(160));
        assert_eq!(g.block_reason.as_deref(), Some(COOLDOWN));
        for _ in 0..3 {
            g = step(g, SessionReason::Timeout, 200);
        }
        assert_eq!(
            g.blocked_until,
            Some(320),
            "second cooldown is twice as long"
        );
        for _ in 0..3 {
            g = step(g, SessionReason::Timeout, 400);
        }
        assert_eq!(g.blocked_until, Some(640), "capped at 300 s");
        g = step(g, SessionReason::Approved, 700);
        assert_eq!((g.failures, g.cooldowns), (0, 0));
        assert!(after(g, SessionReason::DeliveryFailed, 0, RULES).is_none());
    }

    #[test]
    fn superseded_and_canceled_pushes_count_as_failures() {
        let mut g = GuardRow::default();
        g = step(g, SessionReason::Superseded, 0);
        g = step(g, SessionReason::CanceledByRelyingParty, 0);
        g = step(g, SessionReason::Superseded, 10);
        assert_eq!(
            g.blocked_until,
            Some(70),
            "three unanswered pushes start a cooldown"
        );
        assert!(after(GuardRow::default(), SessionReason::DeviceRevoked, 0, RULES).is_none());
    }

    #[test]
    fn a_fraud_lock_is_not_shortened_by_a_cooldown() {
        let g = step(GuardRow::default(), SessionReason::FraudReported, 1000);
        assert_eq!(g.blocked_until, Some(4600));
        let g = GuardRow { failures: 2, ..g };
        let g = step(g, SessionReason::Timeout, 1000);
        assert_eq!(g.blocked_until, Some(4600));
        assert_eq!(g.block_reason.as_deref(), Some(FRAUD_REPORTED));
    }
}
