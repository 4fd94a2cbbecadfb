//! Code to phone (`display` sessions, PROTOCOL.md §7a): the relying party submits the code the
//! user read off the phone, and, where the policy requires user verification, a phone first
//! acknowledges (signed) that it showed the code to a verified user.

use tapprove_protocol::api::{AnswerResponse, SessionReason, SessionStatus, SessionView};
use tapprove_protocol::webhook::ct_eq;
use tapprove_protocol::{CodeShown, PresenceMode};

use super::{SessionError, announce_reading_devices, current, view};
use crate::domain::audit::{self, AuditEvent};
use crate::domain::bus::Outcome;
use crate::domain::context::Sessions;
use crate::domain::policy::PresencePolicy;
use crate::domain::user_guard;
use crate::store::{AccountRow, SessionRow};

/// Longest code the relying party may submit, characters (a display code has at most 12
/// digits; the margin is for what users type around it).
pub(crate) const MAX_SUBMITTED_CODE_CHARS: usize = 64;

fn final_error(status: SessionStatus) -> SessionError {
    if status == SessionStatus::Expired {
        SessionError::Expired
    } else {
        SessionError::AlreadyDecided
    }
}

/// Decides a `display` session of this project (`policy`: its policy, read with the API key)
/// with the code the user typed: `accepted` when it is the one the phone showed, else
/// `rejected` (`wrong_number`), counted in the user's guard like a wrong typed code. One decision only: the conditional decision of every answer.
pub(crate) async fn submit_code(
    ctx: Sessions<'_>,
    project_id: &str,
    policy: PresencePolicy,
    id: &str,
    code: &str,
    now: i64,
) -> Result<SessionView, SessionError> {
    let session = current(ctx, project_id, id, now).await?;
    if session.presence_mode.0 != PresenceMode::Display {
        return Err(SessionError::NotDisplaySession);
    }
    if session.status.0 != SessionStatus::Sent {
        return Err(final_error(session.status.0));
    }
    // Under user verification the service, not just the app, holds the rule: a code counts
    // only once a phone signed that it showed it to a verified user (and is still paired:
    // the deciding UPDATE checks the acknowledging device).
    let by = if policy.requires_user_verification() {
        let ack = ctx
            .store
            .display_ack(&session.id)
            .await?
            .ok_or(SessionError::CodeNotShown)?;
        Some((ack.account_id, Some(ack.uv.0)))
    } else {
        None
    };
    let right = session
        .presence_code
        .as_deref()
        .is_some_and(|c| ct_eq(code.trim().as_bytes(), c.as_bytes()));
    let reason = if right {
        SessionReason::Approved
    } else {
        SessionReason::WrongNumber
    };
    let outcome = Outcome::new(reason, now);
    let by_ref = by.as_ref().map(|(a, uv)| (a.as_str(), *uv));
    // The decision's audit row goes into the decision's transaction (actor: the site).
    let audit_row = audit::row_at(
        AuditEvent::SessionDecided {
            session: &session,
            outcome,
            by_device: None,
            by_operator: false,
        },
        now,
    );
    let decided =
        user_guard::decide_by_code(ctx.guard, &session, outcome, by_ref, audit_row.as_slice())
            .await?;
    let Some(recorded) = decided else {
        let now_row = current(ctx, project_id, id, now).await?;
        if now_row.status.0 == SessionStatus::Sent {
            // Still open: the acknowledging device was removed meanwhile.
            return Err(SessionError::CodeNotShown);
        }
        return Err(final_error(now_row.status.0));
    };
    tracing::info!(session_id = %session.id, reason = reason.as_str(), "display code submitted");
    user_guard::recorded(ctx.guard, &session, recorded).await;
    announce_reading_devices(ctx, &session.id, outcome, true).await;
    let mut decided = view(&session);
    decided.status = outcome.status;
    decided.reason = Some(outcome.reason);
    decided.decided_at = Some(outcome.decided_at);
    Ok(decided)
}

/// Records a phone's signed acknowledgement that it showed a pending `display` session's code
/// to a verified user (`POST /v1/device/shown`). Verified like an answer: the account's key,
/// `kid`, `iat` within the skew, the nonce sent to this device. Returns the session's state
/// (still `sent`) and the account (its response may carry a key update).
pub(crate) async fn shown(
    ctx: Sessions<'_>,
    token: &str,
    now: i64,
) -> Result<(AnswerResponse, AccountRow), SessionError> {
    let (ack, account, context) = super::answer::verified_device_token(
        ctx,
        token,
        now,
        CodeShown::peek_ids,
        CodeShown::verify,
        "code-shown acknowledgement",
    )
    .await?;
    let (session, devices): (SessionRow, _) = context
        .session
        .filter(|(s, _)| s.project_id == account.project_id && s.user_name == account.user_name)
        .ok_or(SessionError::NotFound)?;
    let nonce_ok = devices
        .iter()
        .any(|(a, nonce)| *a == account.id && ct_eq(nonce.as_bytes(), ack.nonce.as_bytes()));
    if !nonce_ok {
        return Err(SessionError::NonceMismatch);
    }
    if session.presence_mode.0 != PresenceMode::Display {
        return Err(SessionError::NotDisplaySession);
    }
    if session.status.0 != SessionStatus::Sent {
        return Err(final_error(session.status.0));
    }
    if session.expires_at < now {
        return Err(SessionError::Expired);
    }
    let first = ctx
        .store
        .record_display_ack(&session.id, &account.id, ack.uv, now)
        .await?;
    tracing::info!(session_id = %session.id, account_id = %account.id, first, "display code shown to a verified user");
    let response = AnswerResponse {
        session_id: session.id,
        status: SessionStatus::Sent,
        reason: None,
    };
    Ok((response, account))
}
