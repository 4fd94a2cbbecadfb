//! The session lifecycle: the one place that creates, decides, expires, supersedes and
//! cancels a push session, and announces every outcome to the device event streams and the
//! relying party's long-polls. No HTTP here: handlers parse, call these functions and render
//! (the mapping of [`SessionError`] to HTTP answers is in `http`).

mod answer;
mod code;
pub(crate) mod context;
mod create;

use std::time::Duration;

use tapprove_protocol::api::{SessionReason, SessionStatus, SessionView};
use tapprove_protocol::{PresenceMode, ProtocolError, UvMethod};

pub(crate) use answer::answer;
pub(crate) use code::{MAX_SUBMITTED_CODE_CHARS, shown, submit_code};
pub(crate) use create::{NewSession, create};

use crate::domain::bus::{BusEvent, Outcome, SessionDecided};
use crate::domain::context::Sessions;
use crate::domain::policy::PresencePolicy;
use crate::store::SessionRow;

/// Default session lifetime, seconds.
pub(crate) const DEFAULT_TTL: u32 = 120;
/// Longest session lifetime, seconds.
pub(crate) const MAX_TTL: u32 = 600;
/// Longest long-poll, seconds.
pub(crate) const MAX_WAIT: u64 = 30;

/// Which push budget window is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BudgetWindow {
    Minute,
    Hour,
}

/// Why a lifecycle operation did not happen.
#[derive(Debug)]
pub(crate) enum SessionError {
    /// The user has no paired device.
    NoDevice,
    /// The push budget for the user is spent.
    BudgetExhausted {
        window: BudgetWindow,
        retry_after: u64,
    },
    /// The site asked for a weaker presence check than the project's policy.
    BelowPolicy {
        requested: PresenceMode,
        policy: PresencePolicy,
    },
    /// The user reported a login as not theirs: no pushes until `until` (or the site lifts it).
    Locked { until: i64 },
    /// Too many rejections or expiries in a row: no pushes for `retry_after` seconds.
    CoolingDown { retry_after: u64 },
    /// The project requires user verification and the approval carries no `uv`.
    UserVerificationRequired,
    /// The signed challenge would not fit in a push.
    TooLongForPush { signed_bytes: usize },
    /// A context member is longer than the limit once sanitised.
    ContextTooLong { member: &'static str },
    /// No such session (for this project, or for this device's user).
    NotFound,
    /// The answering device is not (or no longer) paired.
    NotPaired,
    /// The answering device was revoked (by the site or an operator) at this time.
    Revoked { revoked_at: i64 },
    /// The answer token does not verify or is malformed.
    AnswerRefused(ProtocolError),
    /// The answer's nonce is not the one sent to this device.
    NonceMismatch,
    /// The session expired before the answer.
    Expired,
    /// The session was already final.
    AlreadyDecided,
    /// A code was submitted for a session that is not `display`.
    NotDisplaySession,
    /// A `display` session under a policy requiring user verification: no phone has
    /// acknowledged showing the code to a verified user yet.
    CodeNotShown,
    /// A device approved a `display` session: those are approved by the code typed at the
    /// login, the phone only denies.
    ApproveByCode,
    /// Something that must not fail did (logged where it happened).
    Internal,
    /// The database failed.
    Database(sqlx::Error),
}

impl From<sqlx::Error> for SessionError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

/// The code the relying party may see: the one its login page shows. A `display` session's
/// code is the phone's secret, typed by the user and submitted by the site, so never this.
fn code_for_site(mode: PresenceMode, code: Option<String>) -> Option<String> {
    code.filter(|_| mode != PresenceMode::Display)
}

/// What the relying party sees of a stored session.
pub(crate) fn view(row: &SessionRow) -> SessionView {
    SessionView {
        id: row.id.clone(),
        status: row.status.0,
        reason: row.reason.map(|r| r.0),
        presence_code: code_for_site(row.presence_mode.0, row.presence_code.clone()),
        expires_at: row.expires_at,
        decided_at: row.decided_at,
    }
}

/// Records the outcome in the user's guard, then tells the session's long-polls and the
/// devices it was sent to that it is final. `outcome` must be exactly what the deciding
/// UPDATE stored. The guard comes first, so a lock or cooldown is in force before the site
/// learns the outcome. `known` is the session as the caller read it before deciding (its
/// project, user and creation time do not change), which spares reading it again;
/// `audited`: the decision's audit row was stored with it.
async fn announce(
    ctx: Sessions<'_>,
    session_id: &str,
    outcome: Outcome,
    account_ids: &[String],
    known: Option<&SessionRow>,
    audited: bool,
) {
    tracing::info!(
        session_id,
        status = outcome.status.as_str(),
        reason = ?outcome.reason,
        "session decided"
    );
    let metrics = ctx.metrics;
    metrics
        .sessions_decided
        .get_or_create(&crate::service::metrics::Decided {
            status: outcome.status.as_str(),
            reason: outcome.reason.as_str(),
        })
        .inc();
    let answered = matches!(
        outcome.status,
        SessionStatus::Accepted | SessionStatus::Rejected
    );
    // A device's answer is audited and recorded in the user's guard in the decision's own
    // transaction (`answer`, which knows the device); the rest here unless already audited.
    let by_device = crate::domain::audit::answered(outcome.reason);
    let audit_now = !by_device && !audited;
    let guarded = crate::domain::user_guard::counts(outcome.reason) && !by_device;
    if answered || guarded || audit_now {
        let read = match known {
            Some(row) => Ok(Some(std::borrow::Cow::Borrowed(row))),
            None => ctx
                .store
                .session(session_id)
                .await
                .map(|r| r.map(std::borrow::Cow::Owned)),
        };
        match read {
            Ok(Some(row)) => {
                let row: &SessionRow = &row;
                if answered {
                    // Whole seconds: both times are stored as Unix seconds.
                    let took = (outcome.decided_at - row.created_at).max(0);
                    metrics.decision_seconds.observe(took as f64);
                }
                if audit_now {
                    let event = crate::domain::audit::AuditEvent::SessionDecided {
                        session: row,
                        outcome,
                        by_device: None,
                        by_operator: false,
                    };
                    crate::domain::audit::record(ctx.store, event).await;
                }
                if guarded {
                    // The decision's time: the guard counts from when the session ended.
                    crate::domain::user_guard::record(
                        ctx.guard,
                        row,
                        outcome.reason,
                        outcome.decided_at,
                    )
                    .await;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(session_id, error = %e, "cannot read the decided session")
            }
        }
    }
    ctx.bus
        .publish(BusEvent::Decided {
            session_id: session_id.to_owned(),
            outcome,
            account_ids: account_ids.to_vec(),
        })
        .await;
}

/// [`announce`] when the session's devices are not at hand.
async fn announce_reading_devices(
    ctx: Sessions<'_>,
    session_id: &str,
    outcome: Outcome,
    audited: bool,
) {
    let account_ids = match ctx.store.session_accounts(session_id).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(session_id, error = %e, "cannot list the session's devices");
            Vec::new()
        }
    };
    announce(ctx, session_id, outcome, &account_ids, None, audited).await;
}

fn timeout_at(now: i64) -> Outcome {
    Outcome::new(SessionReason::Timeout, now)
}

/// A session of this project as it is at `now`, expiring it first if it is due.
pub(crate) async fn current(
    ctx: Sessions<'_>,
    project_id: &str,
    id: &str,
    now: i64,
) -> Result<SessionRow, SessionError> {
    let row = ctx
        .store
        .session(id)
        .await?
        .filter(|s| s.project_id == project_id)
        .ok_or(SessionError::NotFound)?;
    if row.status.0 == SessionStatus::Sent && row.expires_at < now {
        if ctx.store.expire_one(id, timeout_at(now)).await? {
            announce_reading_devices(ctx, id, timeout_at(now), false).await;
        }
        return ctx.store.session(id).await?.ok_or(SessionError::NotFound);
    }
    Ok(row)
}

/// A session of this project, waiting up to `wait` (and at most until it expires) for it to
/// be decided. Shutdown ends the wait early.
pub(crate) async fn wait_decided(
    ctx: Sessions<'_>,
    project_id: &str,
    id: &str,
    wait: Duration,
    now: i64,
) -> Result<SessionView, SessionError> {
    // Subscribe before reading, so a decision between the read and the wait is not missed.
    let mut decided = ctx.bus.events.subscribe_session(id);
    let row = current(ctx, project_id, id, now).await?;
    if wait.is_zero() || row.status.0 != SessionStatus::Sent {
        return Ok(view(&row));
    }
    let until_expiry = u64::try_from(row.expires_at + 1 - now).unwrap_or(0);
    let started = tokio::time::Instant::now();
    let deadline = started + wait.min(Duration::from_secs(until_expiry.max(1)));
    let mut stop = ctx.shutdown.clone();
    // Only this session's decision comes on this channel, carrying what was stored: the row
    // read above plus that outcome is what a fresh read would return. A lag, the deadline or
    // shutdown re-reads the database.
    let outcome = tokio::select! {
        r = decided.rx.recv() => r.ok().map(|SessionDecided(o)| o),
        _ = tokio::time::sleep_until(deadline) => None,
        _ = crate::domain::bus::stopped(&mut stop) => None,
    };
    if let Some(o) = outcome {
        let mut view = view(&row);
        view.status = o.status;
        view.reason = Some(o.reason);
        view.decided_at = Some(o.decided_at);
        return Ok(view);
    }
    // The wait is a second step: its time is `now` plus the whole seconds waited (never
    // later than the clock, so a session is not expired early).
    let later = now + i64::try_from(started.elapsed().as_secs()).unwrap_or(0);
    Ok(view(&current(ctx, project_id, id, later).await?))
}

/// Cancels a pending session of this project for its relying party; a final one is returned
/// as it is.
pub(crate) async fn cancel(
    ctx: Sessions<'_>,
    project_id: &str,
    id: &str,
    now: i64,
) -> Result<SessionView, SessionError> {
    let row = current(ctx, project_id, id, now).await?;
    if row.status.0 == SessionStatus::Sent {
        let outcome = Outcome::new(SessionReason::CanceledByRelyingParty, now);
        if decide(ctx, id, outcome, None, None).await? {
            announce_reading_devices(ctx, id, outcome, false).await;
        }
    }
    Ok(view(&current(ctx, project_id, id, now).await?))
}

/// Stores `outcome` if the session is still `sent` (and, with `unexpired_at`, not expired
/// then). Whether this call decided it.
async fn decide(
    ctx: Sessions<'_>,
    id: &str,
    outcome: Outcome,
    decided_by: Option<(&str, Option<UvMethod>)>,
    unexpired_at: Option<i64>,
) -> Result<bool, sqlx::Error> {
    ctx.store
        .decide(id, outcome, decided_by, unexpired_at)
        .await
}

/// Expires every due session (the periodic sweep).
pub(crate) async fn expire_due(ctx: Sessions<'_>, now: i64) -> Result<(), sqlx::Error> {
    for id in ctx.store.expire_due(timeout_at(now)).await? {
        announce_reading_devices(ctx, &id, timeout_at(now), false).await;
    }
    Ok(())
}

/// Fails a session that no device could be reached for.
pub(crate) async fn fail_undelivered(ctx: Sessions<'_>, id: &str, now: i64) {
    let outcome = Outcome::new(SessionReason::DeliveryFailed, now);
    match decide(ctx, id, outcome, None, None).await {
        Ok(true) => {
            tracing::warn!(
                session_id = id,
                "no device could be reached: session failed"
            );
            announce_reading_devices(ctx, id, outcome, false).await;
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(session_id = id, error = %e, "cannot mark the session failed"),
    }
}

/// Announces sessions [`end_for_revoked_in`] ended.
pub(crate) async fn announce_ended(ctx: Sessions<'_>, ended: &[(String, Outcome)]) {
    for (id, outcome) in ended {
        announce_reading_devices(ctx, id, *outcome, false).await;
    }
}

/// Ends (`canceled`, `device_revoked`) the pending sessions sent to these revoked accounts
/// whose every device is now revoked; returns them for [`announce_ended`] (an admin process
/// has no long-polls to wake: the service's see the decision at their next read).
pub(crate) async fn end_for_revoked_in(
    store: &crate::store::Store,
    account_ids: &[String],
    now: i64,
) -> Result<Vec<(String, Outcome)>, sqlx::Error> {
    let outcome = Outcome::new(SessionReason::DeviceRevoked, now);
    let mut ended = Vec::new();
    for account_id in account_ids {
        for id in store.orphaned_sessions(account_id).await? {
            if store.decide(&id, outcome, None, None).await? {
                tracing::info!(session_id = %id, "every device of the session was revoked");
                ended.push((id, outcome));
            }
        }
    }
    Ok(ended)
}
