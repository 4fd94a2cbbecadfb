//! Creating a session: the user's devices, guard and push budget, the policy's presence code, one signed
//! challenge per device, superseding the user's pending session, delivery.

use tapprove_protocol::api::{SessionCreated, SessionReason, SessionStatus};
use tapprove_protocol::{
    Challenge, Context, MAX_TOKEN_LEN, PROTOCOL_VERSION, Presence, PresenceMode, UserVerification,
};

use super::{BudgetWindow, SessionError, announce_reading_devices};
use crate::crypto;
use crate::domain::audit::{self, Actor, AuditEvent, Limit};
use crate::domain::bus::{BusEvent, Outcome};
use crate::domain::context::Sessions;
use crate::domain::policy::PresencePolicy;
use crate::domain::user_guard;
use crate::store::{Budget, CreateOutcome, SessionDeviceRow, SessionRow, Stored, UserDevices};

/// A validated request for a new session.
#[derive(Debug)]
pub(crate) struct NewSession {
    pub project_id: String,
    pub user: String,
    pub title: String,
    pub body: String,
    pub context: Context,
    /// What the site asked for; `None` = the project policy's mode.
    pub mode: Option<PresenceMode>,
    /// The project's policy.
    pub policy: PresencePolicy,
    pub ttl_seconds: u32,
    /// Answer with the user's pending session, if any, instead of a new one.
    pub join_pending: bool,
}

/// Creates and delivers a session; the user's pending session, if any, is superseded. The
/// audit log gets the new session, or the limit that refused it.
pub(crate) async fn create(
    ctx: Sessions<'_>,
    new: NewSession,
    now: i64,
) -> Result<SessionCreated, SessionError> {
    let (project_id, user) = (new.project_id.clone(), new.user.clone());
    if new.join_pending
        && let Some(row) = ctx.store.pending_session(&project_id, &user, now).await?
    {
        tracing::info!(session_id = %row.id, "the site's retry joined the pending session");
        return Ok(SessionCreated {
            id: row.id,
            status: SessionStatus::Sent,
            presence_code: super::code_for_site(row.presence_mode.0, row.presence_code),
            expires_at: row.expires_at,
        });
    }
    let result = create_and_deliver(ctx, new, now).await;
    let metrics = ctx.metrics;
    let limit = match &result {
        Ok((_, mode)) => {
            metrics
                .sessions_created
                .get_or_create(&crate::service::metrics::Presence {
                    presence: crate::service::metrics::presence(*mode),
                })
                .inc();
            // Audited in the creation's transaction.
            None
        }
        Err(SessionError::BudgetExhausted { window, .. }) => Some(match window {
            BudgetWindow::Minute => Limit::SessionsPerMinute,
            BudgetWindow::Hour => Limit::SessionsPerHour,
        }),
        Err(SessionError::CoolingDown { .. }) => Some(Limit::Cooldown),
        Err(SessionError::Locked { .. }) => Some(Limit::FraudLock),
        Err(_) => None,
    };
    if let Some(limit) = limit {
        crate::domain::ratelimit::record_refusal(
            ctx.refusals,
            &project_id,
            Actor::RelyingParty,
            &user,
            Some(&user),
            limit,
        )
        .await;
    }
    result.map(|(created, _)| created)
}

async fn create_and_deliver(
    ctx: Sessions<'_>,
    mut new: NewSession,
    now: i64,
) -> Result<(SessionCreated, PresenceMode), SessionError> {
    new.context = super::context::prepare(std::mem::take(&mut new.context))
        .map_err(|e| SessionError::ContextTooLong { member: e.member })?;
    let limits = ctx.limits;
    let budget = Budget {
        per_minute: limits.sessions_per_minute,
        per_hour: limits.sessions_per_hour,
    };
    let user_devices = ctx
        .store
        .user_devices(&new.project_id, &new.user, now, budget)
        .await?;
    if user_devices.accounts.is_empty() {
        return Err(SessionError::NoDevice);
    }
    check_budget(&new.project_id, &user_devices, budget, now)?;
    let devices = user_devices.accounts;

    let mode = new
        .policy
        .mode_for(new.mode)
        .ok_or(SessionError::BelowPolicy {
            requested: new.mode.unwrap_or(PresenceMode::None),
            policy: new.policy,
        })?;
    let (code, options) = new
        .policy
        .presence(mode)
        .map_err(|_| SessionError::Internal)?;
    let session_id = crypto::new_id("ses_").map_err(|_| SessionError::Internal)?;
    let expires_at = now + i64::from(new.ttl_seconds);
    // Signed with the newest key: devices on the old one get the key update first (§5a).
    let keys = ctx
        .keys
        .current()
        .await
        .map_err(|_| SessionError::Internal)?;
    let mut rows = Vec::with_capacity(devices.len());
    for device in &devices {
        let nonce = crypto::random_b64url(16).map_err(|_| SessionError::Internal)?;
        let challenge = Challenge {
            user_verification: new
                .policy
                .requires_user_verification()
                .then_some(UserVerification::Required),
            ver: PROTOCOL_VERSION,
            session_id: session_id.clone(),
            account_id: device.id.clone(),
            user: new.user.clone(),
            title: new.title.clone(),
            body: new.body.clone(),
            context: new.context.clone(),
            presence: Presence {
                length: (mode == PresenceMode::Entry).then_some(new.policy.entry_digits),
                // The code-to-phone secret goes only here: sealed or fetched by the device.
                code: code.clone().filter(|_| mode == PresenceMode::Display),
                mode,
                options: options.clone(),
            },
            iat: now,
            exp: expires_at,
            nonce: nonce.clone(),
        };
        let jws = challenge.sign(&keys.signing.key).map_err(|e| {
            tracing::error!(error = %e, "cannot sign a challenge");
            SessionError::Internal
        })?;
        if jws.len() > MAX_TOKEN_LEN {
            return Err(SessionError::TooLongForPush {
                signed_bytes: jws.len(),
            });
        }
        rows.push(SessionDeviceRow {
            account_id: device.id.clone(),
            nonce,
            challenge: jws,
        });
    }
    let session = SessionRow {
        id: session_id.clone(),
        project_id: new.project_id,
        user_name: new.user,
        title: new.title,
        body: new.body,
        context_json: serde_json::to_string(&new.context).map_err(|_| SessionError::Internal)?,
        presence_mode: Stored(mode),
        presence_code: code.clone(),
        status: Stored(SessionStatus::Sent),
        reason: None,
        created_at: now,
        expires_at,
        decided_at: None,
    };
    let superseded_outcome = Outcome::new(SessionReason::Superseded, now);
    // Audited in the creation's transaction, in the order they happen: the superseded
    // sessions' decisions, then this creation.
    let audit_rows = |superseded: &[String]| -> Vec<crate::store::AuditRow> {
        let mut rows = Vec::with_capacity(superseded.len() + 1);
        for id in superseded {
            // The superseded session is this user's in this project: its row needs only that
            // and its id.
            let old = SessionRow {
                id: id.clone(),
                ..session.clone()
            };
            rows.extend(audit::row_at(
                AuditEvent::SessionDecided {
                    session: &old,
                    outcome: superseded_outcome,
                    by_device: None,
                    by_operator: false,
                },
                now,
            ));
        }
        rows.extend(audit::row_at(
            AuditEvent::SessionCreated {
                project_id: &session.project_id,
                session_id: &session.id,
                user: &session.user_name,
            },
            now,
        ));
        rows
    };
    let superseded = match ctx
        .store
        .create_session_guarded(
            &session,
            &rows,
            Some(budget),
            superseded_outcome,
            audit_rows,
        )
        .await?
    {
        CreateOutcome::Created { superseded } => superseded,
        CreateOutcome::Blocked { until, reason } => {
            tracing::info!(project_id = %session.project_id, reason = reason.as_deref(), until, "push refused: user blocked");
            return Err(if reason.as_deref() == Some(user_guard::FRAUD_REPORTED) {
                SessionError::Locked { until }
            } else {
                SessionError::CoolingDown {
                    retry_after: (until - now).max(1) as u64,
                }
            });
        }
        CreateOutcome::OverBudget {
            minute_blocker,
            hour_blocker,
        } => {
            let seen = UserDevices {
                accounts: Vec::new(),
                minute_blocker,
                hour_blocker,
            };
            check_budget(&session.project_id, &seen, budget, now)?;
            // The store applies check_budget's rule: a full window always fails above.
            return Err(SessionError::Internal);
        }
    };
    for old in &superseded {
        announce_reading_devices(ctx, old, superseded_outcome, true).await;
    }
    for row in &rows {
        ctx.bus
            .publish(BusEvent::Challenge {
                account_id: row.account_id.clone(),
                jws: row.challenge.clone(),
            })
            .await;
    }
    tracing::info!(session_id = %session_id, project_id = %session.project_id, devices = rows.len(), "session created");
    ctx.background.deliver_session(session, devices, rows);
    Ok((
        SessionCreated {
            id: session_id,
            status: SessionStatus::Sent,
            presence_code: super::code_for_site(mode, code),
            expires_at,
        },
        mode,
    ))
}

/// The push budget: at most N sessions per minute and M per hour for a user since their last
/// approved login, counted in the database (so it survives restarts).
fn check_budget(
    project_id: &str,
    devices: &UserDevices,
    budget: Budget,
    now: i64,
) -> Result<(), SessionError> {
    let full = |limit: u32, blocker: Option<i64>| limit == 0 || blocker.is_some();
    let exhausted = |window, span: i64, blocker: Option<i64>| {
        tracing::info!(project_id, ?window, "push budget exhausted");
        let retry = blocker.map_or(span, |t| t + span - now);
        SessionError::BudgetExhausted {
            window,
            retry_after: retry.max(1) as u64,
        }
    };
    if full(budget.per_minute, devices.minute_blocker) {
        return Err(exhausted(BudgetWindow::Minute, 60, devices.minute_blocker));
    }
    if full(budget.per_hour, devices.hour_blocker) {
        return Err(exhausted(BudgetWindow::Hour, 3600, devices.hour_blocker));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_retry_counts_from_the_session_that_fills_the_window() {
        let devices = |minute, hour| UserDevices {
            accounts: Vec::new(),
            minute_blocker: minute,
            hour_blocker: hour,
        };
        let budget = Budget {
            per_minute: 3,
            per_hour: 10,
        };
        assert!(check_budget("p", &devices(None, None), budget, 1000).is_ok());
        assert!(matches!(
            check_budget("p", &devices(Some(990), Some(10)), budget, 1000),
            Err(SessionError::BudgetExhausted {
                window: BudgetWindow::Minute,
                retry_after: 50
            })
        ));
        assert!(matches!(
            check_budget("p", &devices(None, Some(-1000)), budget, 1000),
            Err(SessionError::BudgetExhausted {
                window: BudgetWindow::Hour,
                retry_after: 1600
            })
        ));
        let closed = Budget {
            per_minute: 0,
            per_hour: 10,
        };
        assert!(matches!(
            check_budget("p", &devices(None, None), closed, 1000),
            Err(SessionError::BudgetExhausted {
                window: BudgetWindow::Minute,
                retry_after: 60
            })
        ));
    }
}
