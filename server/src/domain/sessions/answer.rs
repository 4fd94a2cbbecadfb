//! Deciding a session from a device's signed answer (PROTOCOL.md §7).

use tapprove_protocol::api::{AnswerResponse, SessionReason, SessionStatus};
use tapprove_protocol::{Answer, Decision, DenyReason, PresenceMode, ProtocolError, PublicKey};

use super::{SessionError, announce, timeout_at};
use crate::SKEW_SECONDS;
use crate::domain::bus::Outcome;
use crate::domain::context::Sessions;
use crate::domain::policy::PresencePolicy;
use crate::domain::user_guard;
use crate::store::{AccountRow, AnswerContext};
use tapprove_protocol::webhook::ct_eq;

/// Verifies an answer token and decides its session, conditionally on the session still
/// being `sent`: of racing answers exactly one decides. Also returns the answering account: its response may carry a key update (§5a).
pub(crate) async fn answer(
    ctx: Sessions<'_>,
    token: &str,
    now: i64,
) -> Result<(AnswerResponse, AccountRow), SessionError> {
    // 1. The account, and the answer verified with its stored key.
    let (
        answer,
        account,
        AnswerContext {
            session, policy, ..
        },
    ) = verified_device_token(ctx, token, now, Answer::peek_ids, Answer::verify, "answer").await?;
    // 2. The session, for this account's project and user, and this device's nonce (with
    //    the session's other devices, to announce the decision to).
    let (session, devices) = session
        .filter(|(s, _)| s.project_id == account.project_id && s.user_name == account.user_name)
        .ok_or(SessionError::NotFound)?;
    let asked = devices.iter().find(|(a, _)| *a == account.id);
    let nonce_ok = asked.is_some_and(|(_, nonce)| ct_eq(nonce.as_bytes(), answer.nonce.as_bytes()));
    if !nonce_ok {
        tracing::info!(session_id = %session.id, account_id = %account.id, "answer nonce mismatch");
        return Err(SessionError::NonceMismatch);
    }
    // 3. Final or expired.
    let final_error = |status: SessionStatus| {
        if status == SessionStatus::Expired {
            SessionError::Expired
        } else {
            SessionError::AlreadyDecided
        }
    };
    let not_me = answer.decision == Decision::Deny && answer.deny_reason == Some(DenyReason::NotMe);
    let account_ids: Vec<String> = devices.into_iter().map(|(a, _)| a).collect();
    if session.status.0 == SessionStatus::Sent && session.expires_at < now {
        if ctx.store.expire_one(&session.id, timeout_at(now)).await? {
            announce(ctx, &session.id, timeout_at(now), &account_ids, None, false).await;
        }
        if !not_me {
            return Err(SessionError::Expired);
        }
    }
    if session.status.0 != SessionStatus::Sent || session.expires_at < now {
        // Final now: a "not me" on a push that ended unanswered moments ago still locks and
        // reports (the phone keeps showing it with a "this wasn't me" action).
        let ended = ctx
            .store
            .session(&session.id)
            .await?
            .ok_or(SessionError::NotFound)?;
        if not_me && user_guard::late_report_allowed(&ended, now) {
            return late_report(ctx, ended, account, now).await;
        }
        return Err(final_error(ended.status.0));
    }
    // A `display` session is approved by the code typed at the login prompt, not here.
    if answer.decision == Decision::Approve && session.presence_mode.0 == PresenceMode::Display {
        return Err(SessionError::ApproveByCode);
    }
    // 4. User verification, when the project's policy requires it: refused, not decided, so
    //    the user can still approve with verification before the session expires.
    if answer.decision == Decision::Approve && answer.uv.is_none() {
        // The project's policy came with the session (one read, in step 1).
        let policy = policy
            .as_ref()
            .map(PresencePolicy::of_columns)
            .ok_or(SessionError::NotFound)?;
        if policy.requires_user_verification() {
            tracing::info!(session_id = %session.id, account_id = %account.id, "approval without user verification refused");
            return Err(SessionError::UserVerificationRequired);
        }
    }
    // 5. Decide.
    let reason = match answer.decision {
        Decision::Approve => {
            let right = match (session.presence_mode.0, &session.presence_code) {
                (PresenceMode::None, _) => true,
                (_, Some(code)) => answer
                    .presence_answer
                    .as_deref()
                    .is_some_and(|a| ct_eq(a.trim().as_bytes(), code.as_bytes())),
                (_, None) => false,
            };
            if right {
                SessionReason::Approved
            } else {
                SessionReason::WrongNumber
            }
        }
        Decision::Deny => match answer.deny_reason {
            Some(DenyReason::NotMe) => SessionReason::FraudReported,
            Some(DenyReason::Cancelled) | None => SessionReason::UserDenied,
        },
    };
    let outcome = Outcome::new(reason, now);
    crate::testhook::pause("answer-before-commit").await; // fault tests kill the service here
    // The decision's audit row goes into the decision's transaction.
    let audit_row = crate::domain::audit::row_at(
        crate::domain::audit::AuditEvent::SessionDecided {
            session: &session,
            outcome,
            by_device: Some(&account.id),
            by_operator: false,
        },
        now,
    );
    let by = (account.id.as_str(), answer.uv);
    let decided =
        user_guard::decide_answered(ctx.guard, &session, outcome, by, audit_row.as_slice()).await?;
    let Some(recorded) = decided else {
        let current = ctx
            .store
            .session(&session.id)
            .await?
            .ok_or(SessionError::NotFound)?;
        if current.status.0 == SessionStatus::Sent && current.expires_at >= now {
            // Still open: the device was revoked or unpaired while its answer was checked.
            return Err(match ctx.store.account(&account.id).await? {
                Some(a) if a.revoked_at.is_some() => SessionError::Revoked {
                    revoked_at: a.revoked_at.unwrap_or(now),
                },
                _ => SessionError::NotPaired,
            });
        }
        return Err(final_error(current.status.0));
    };
    tracing::info!(session_id = %session.id, account_id = %account.id, "answered by a device");
    user_guard::recorded(ctx.guard, &session, recorded).await;
    announce(
        ctx,
        &session.id,
        outcome,
        &account_ids,
        Some(&session),
        true,
    )
    .await;
    let response = AnswerResponse {
        session_id: session.id,
        status: outcome.status,
        reason: Some(outcome.reason),
    };
    Ok((response, account))
}

/// A "not me" on a session that ended unanswered (superseded, canceled, expired) within the
/// last ten minutes: the outcome stays as it was; the lock and the site's event apply, and the
/// audit log records a late fraud report.
async fn late_report(
    ctx: Sessions<'_>,
    session: crate::store::SessionRow,
    account: AccountRow,
    now: i64,
) -> Result<(AnswerResponse, AccountRow), SessionError> {
    let recorded = user_guard::report_late(ctx.guard, &session, now)
        .await?
        .ok_or(SessionError::Internal)?;
    tracing::info!(session_id = %session.id, account_id = %account.id, "late fraud report");
    let event = crate::domain::audit::AuditEvent::FraudReportedLate {
        session: &session,
        by_device: &account.id,
    };
    crate::domain::audit::record(ctx.store, event).await;
    user_guard::recorded(ctx.guard, &session, recorded).await;
    let response = AnswerResponse {
        session_id: session.id,
        status: session.status.0,
        reason: session.reason.map(|r| r.0),
    };
    Ok((response, account))
}

/// A device-signed token (`peek` names its session and account, `verify` checks it) verified
/// with the account's stored key, with the account and the session (and its devices) read in
/// one go: the one path answers and code-shown acknowledgements take. A revoked account is
/// verified too (only its key's holder learns it was revoked), then refused.
pub(super) async fn verified_device_token<T>(
    ctx: Sessions<'_>,
    token: &str,
    now: i64,
    peek: fn(&str) -> Result<(String, String), ProtocolError>,
    verify: fn(&str, &PublicKey, i64, i64) -> Result<T, ProtocolError>,
    what: &'static str,
) -> Result<(T, AccountRow, AnswerContext), SessionError> {
    let (session_id, account_id) = peek(token).map_err(SessionError::AnswerRefused)?;
    let mut context = ctx.store.answer_context(&account_id, &session_id).await?;
    let account = match context.account.take() {
        Some(a) if a.unpaired_at.is_none() || a.revoked_at.is_some() => a,
        _ => return Err(SessionError::NotPaired),
    };
    let key = ctx
        .device_keys
        .parse(&account)
        .map_err(|_| SessionError::Internal)?;
    let claims = verify(token, &key, now, SKEW_SECONDS).map_err(|e| {
        tracing::info!(account_id = %account.id, code = e.code(), what, "device token refused");
        SessionError::AnswerRefused(e)
    })?;
    if let Some(revoked_at) = account.revoked_at {
        return Err(SessionError::Revoked { revoked_at });
    }
    Ok((claims, account, context))
}
