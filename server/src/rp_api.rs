//! Relying-party API (PROTOCOL.md §9): create, read (with long-poll) and cancel push sessions.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tapprove_protocol::api::{
    CreateSessionRequest, ErrorCode, SessionCreated, SessionReason, SessionStatus, SessionView,
};
use tapprove_protocol::challenge::{MAX_BODY_CHARS, MAX_TITLE_CHARS};
use tapprove_protocol::{Challenge, MAX_TOKEN_LEN, PROTOCOL_VERSION, Presence, PresenceMode};

use crate::crypto;
use crate::delivery;
use crate::error::ApiError;
use crate::events::{Outcome, SessionDecided};
use crate::extract::{ApiJson, ApiPath, ApiQuery, RpProject};
use crate::service::AppState;
use crate::store::{SessionDeviceRow, SessionRow};

/// Default session lifetime, seconds.
pub(crate) const DEFAULT_TTL: u32 = 120;
/// Longest session lifetime, seconds.
pub(crate) const MAX_TTL: u32 = 600;
/// Longest long-poll, seconds.
pub(crate) const MAX_WAIT: u64 = 30;
/// Longest user name, characters.
const MAX_USER_CHARS: usize = 256;
/// Longest context member, characters.
const MAX_CONTEXT_CHARS: usize = 200;

/// The snake_case wire string of a serde enum.
pub(crate) fn wire<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Parses a snake_case wire string into a serde enum.
pub(crate) fn parse_wire<T: DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

pub(crate) fn view(row: &SessionRow) -> Result<SessionView, ApiError> {
    let status: SessionStatus = parse_wire(&row.status).ok_or_else(|| {
        tracing::error!(session_id = %row.id, "unknown status in database");
        ApiError::internal()
    })?;
    Ok(SessionView {
        id: row.id.clone(),
        status,
        reason: row.reason.as_deref().and_then(parse_wire::<SessionReason>),
        presence_code: row.presence_code.clone(),
        expires_at: row.expires_at,
        decided_at: row.decided_at,
    })
}

/// Tells event streams and long-polls that a session is final.
pub(crate) async fn announce_decided(state: &AppState, session_id: &str, status: SessionStatus) {
    let account_ids = match state.0.store.session_accounts(session_id).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(session_id, error = %e, "cannot list the session's devices");
            Vec::new()
        }
    };
    state.0.bus.decided(session_id, status, None, &account_ids);
}

/// [`announce_decided`] when the session's devices and the stored outcome are known: the
/// session's long-polls answer from `outcome` without re-reading the row.
pub(crate) fn announce_decided_to(
    state: &AppState,
    session_id: &str,
    outcome: Outcome,
    account_ids: &[String],
) {
    state
        .0
        .bus
        .decided(session_id, outcome.status, Some(outcome), account_ids);
}

fn check_len(what: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::invalid_request(format!(
            "`{what}` is longer than {max} characters."
        )));
    }
    Ok(())
}

fn validate(req: &CreateSessionRequest) -> Result<(), ApiError> {
    if req.user.trim().is_empty() {
        return Err(ApiError::invalid_request("`user` must not be empty."));
    }
    check_len("user", &req.user, MAX_USER_CHARS)?;
    if req.notification.title.trim().is_empty() {
        return Err(ApiError::invalid_request(
            "`notification.title` must not be empty.",
        ));
    }
    check_len(
        "notification.title",
        &req.notification.title,
        MAX_TITLE_CHARS,
    )?;
    check_len("notification.body", &req.notification.body, MAX_BODY_CHARS)?;
    if let Some(c) = &req.context {
        for (name, v) in [
            ("app", &c.app),
            ("ip", &c.ip),
            ("location", &c.location),
            ("user_agent", &c.user_agent),
        ] {
            if let Some(v) = v {
                check_len(&format!("context.{name}"), v, MAX_CONTEXT_CHARS)?;
            }
        }
    }
    if let Some(ttl) = req.ttl_seconds
        && !(1..=MAX_TTL).contains(&ttl)
    {
        return Err(ApiError::invalid_request(format!(
            "`ttl_seconds` must be between 1 and {MAX_TTL}."
        )));
    }
    Ok(())
}

/// Two-digit code and, for `choose`, the three options (code + two distinct decoys, shuffled).
fn presence_for(mode: PresenceMode) -> Result<(Option<String>, Vec<String>), ApiError> {
    let rnd = |n| crypto::random_below(n).map_err(|_| ApiError::internal());
    match mode {
        PresenceMode::None => Ok((None, Vec::new())),
        PresenceMode::Entry => Ok((Some(format!("{:02}", rnd(100)?)), Vec::new())),
        PresenceMode::Choose => {
            let code = rnd(100)?;
            let mut picks = vec![code];
            while picks.len() < 3 {
                let d = rnd(100)?;
                if !picks.contains(&d) {
                    picks.push(d);
                }
            }
            // Fisher–Yates with the CSPRNG.
            for i in (1..picks.len()).rev() {
                let j = rnd(i as u32 + 1)? as usize;
                picks.swap(i, j);
            }
            Ok((
                Some(format!("{code:02}")),
                picks.iter().map(|p| format!("{p:02}")).collect(),
            ))
        }
    }
}

/// The push budget: at most N sessions per minute and M per hour for a user since their last
/// approved login. `times` are the creation times of the user's sessions of the last hour
/// after their last approved login, oldest first ([`crate::store::Store::devices_and_budget`]),
/// so the budget is computed from the database and survives restarts.
fn check_budget(
    state: &AppState,
    project_id: &str,
    times: &[i64],
    now: i64,
) -> Result<(), ApiError> {
    let limits = &state.0.config.limits;
    let in_minute: Vec<i64> = times.iter().copied().filter(|t| *t > now - 60).collect();
    if in_minute.len() >= limits.sessions_per_minute as usize {
        let idx = in_minute.len() - limits.sessions_per_minute as usize;
        let retry = in_minute.get(idx).map_or(60, |t| t + 60 - now);
        tracing::info!(project_id, "push budget (per minute) exhausted");
        return Err(ApiError::rate_limited(
            "Too many login requests for this user in the last minute; wait before sending another.",
            retry.max(1) as u64,
        ));
    }
    if times.len() >= limits.sessions_per_hour as usize {
        let idx = times.len() - limits.sessions_per_hour as usize;
        let retry = times.get(idx).map_or(3600, |t| t + 3600 - now);
        tracing::info!(project_id, "push budget (per hour) exhausted");
        return Err(ApiError::rate_limited(
            "Too many login requests for this user in the last hour without a successful login; \
             wait before sending another.",
            retry.max(1) as u64,
        ));
    }
    Ok(())
}

/// `POST /v1/push/sessions`.
pub(crate) async fn create_session(
    State(state): State<AppState>,
    RpProject(project): RpProject,
    ApiJson(req): ApiJson<CreateSessionRequest>,
) -> Result<(StatusCode, axum::Json<SessionCreated>), ApiError> {
    validate(&req)?;
    let user = req.user.trim().to_owned();
    let now = crate::now();
    // The user's devices and the push budget's session times, in one read.
    let (devices, budget_times) = state
        .0
        .store
        .devices_and_budget(&project.id, &user, now - 3600)
        .await?;
    if devices.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::NoDevice,
            "This user has no paired device: let them sign in another way and pair the app first.",
        ));
    }
    check_budget(&state, &project.id, &budget_times, now)?;

    let mode = req.presence.unwrap_or(PresenceMode::Choose);
    let (code, options) = presence_for(mode)?;
    let ttl = i64::from(req.ttl_seconds.unwrap_or(DEFAULT_TTL));
    let session_id = crypto::new_id("ses_").map_err(|_| ApiError::internal())?;
    let expires_at = now + ttl;
    let context = req.context.clone().unwrap_or_default();
    let mut rows = Vec::with_capacity(devices.len());
    for device in &devices {
        let nonce = crypto::random_b64url(16).map_err(|_| ApiError::internal())?;
        let challenge = Challenge {
            user_verification: None,
            ver: PROTOCOL_VERSION,
            session_id: session_id.clone(),
            account_id: device.id.clone(),
            user: user.clone(),
            title: req.notification.title.clone(),
            body: req.notification.body.clone(),
            context: context.clone(),
            presence: Presence {
                length: None,
                mode,
                options: options.clone(),
            },
            iat: now,
            exp: expires_at,
            nonce: nonce.clone(),
        };
        let jws = challenge.sign(&state.0.service_key).map_err(|e| {
            tracing::error!(error = %e, "cannot sign a challenge");
            ApiError::internal()
        })?;
        if jws.len() > MAX_TOKEN_LEN {
            return Err(ApiError::invalid_request(format!(
                "The notification and context are too long to fit in a push ({} bytes signed, \
                 at most {MAX_TOKEN_LEN}); shorten them.",
                jws.len()
            )));
        }
        rows.push(SessionDeviceRow {
            account_id: device.id.clone(),
            nonce,
            challenge: jws,
        });
    }
    let session = SessionRow {
        id: session_id.clone(),
        project_id: project.id.clone(),
        user_name: user,
        title: req.notification.title.clone(),
        body: req.notification.body.clone(),
        context_json: serde_json::to_string(&context).map_err(|_| ApiError::internal())?,
        presence_mode: wire(&mode),
        presence_code: code.clone(),
        status: SessionStatus::Sent.as_str().to_owned(),
        reason: None,
        created_at: now,
        expires_at,
        decided_at: None,
    };
    let superseded = state.0.store.create_session(&session, &rows).await?;
    for old in &superseded {
        tracing::info!(session_id = %old, "session superseded");
        announce_decided(&state, old, SessionStatus::Canceled).await;
    }
    for row in &rows {
        state.0.bus.challenge(&row.account_id, &row.challenge);
    }
    tracing::info!(session_id = %session_id, project_id = %project.id, devices = rows.len(), "session created");
    delivery::spawn(&state, &session, devices, rows);
    Ok((
        StatusCode::CREATED,
        axum::Json(SessionCreated {
            id: session_id,
            status: SessionStatus::Sent,
            presence_code: code,
            expires_at,
        }),
    ))
}

/// Loads a session of this project, expiring it first if it is due.
async fn load(state: &AppState, project_id: &str, id: &str) -> Result<SessionRow, ApiError> {
    let row = state
        .0
        .store
        .session(id)
        .await?
        .filter(|s| s.project_id == project_id)
        .ok_or_else(ApiError::session_not_found)?;
    let now = crate::now();
    if row.status == SessionStatus::Sent.as_str() && row.expires_at < now {
        if state.0.store.expire_one(id, now).await? {
            tracing::info!(session_id = %id, "session expired");
            announce_decided(state, id, SessionStatus::Expired).await;
        }
        return state
            .0
            .store
            .session(id)
            .await?
            .ok_or_else(ApiError::session_not_found);
    }
    Ok(row)
}

/// Query of `GET /v1/push/sessions/{id}`.
#[derive(Debug, Deserialize)]
pub(crate) struct WaitQuery {
    /// Long-poll for up to this many seconds (clamped to 30).
    #[serde(default)]
    wait: Option<u64>,
}

/// `GET /v1/push/sessions/{id}[?wait=N]`.
pub(crate) async fn get_session(
    State(state): State<AppState>,
    RpProject(project): RpProject,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Result<axum::Json<SessionView>, ApiError> {
    let wait = q.wait.unwrap_or(0).min(MAX_WAIT);
    // Subscribe before reading, so a decision between the read and the wait is not missed.
    let mut decided = state.0.bus.subscribe_session(&id);
    let row = load(&state, &project.id, &id).await?;
    if wait == 0 || row.status != SessionStatus::Sent.as_str() {
        return Ok(axum::Json(view(&row)?));
    }
    let now = crate::now();
    let until_expiry = u64::try_from(row.expires_at + 1 - now).unwrap_or(0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait.min(until_expiry.max(1)));
    let mut stop = state.0.shutdown.clone();
    // Only this session's decision is sent on this channel. A decision that carries what was
    // stored is answered from it (the row read above plus the stored outcome is what a
    // fresh read would return); anything else (no outcome, lag, timeout, shutdown) re-reads
    // the database.
    let outcome = tokio::select! {
        r = decided.rx.recv() => match r {
            Ok(SessionDecided(outcome)) => outcome,
            Err(_) => None,
        },
        _ = tokio::time::sleep_until(deadline) => None,
        _ = crate::events::stopped(&mut stop) => None,
    };
    if let Some(o) = outcome {
        let mut view = view(&row)?;
        view.status = o.status;
        view.reason = Some(o.reason);
        view.decided_at = Some(o.decided_at);
        return Ok(axum::Json(view));
    }
    let row = load(&state, &project.id, &id).await?;
    Ok(axum::Json(view(&row)?))
}

/// `DELETE /v1/push/sessions/{id}`: cancels a pending session; a final one is returned as is.
pub(crate) async fn cancel_session(
    State(state): State<AppState>,
    RpProject(project): RpProject,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<SessionView>, ApiError> {
    let row = load(&state, &project.id, &id).await?;
    if row.status == SessionStatus::Sent.as_str() {
        let canceled = state
            .0
            .store
            .decide(
                &id,
                "canceled",
                &wire(&SessionReason::CanceledByRelyingParty),
                crate::now(),
                None,
                None,
            )
            .await?;
        if canceled {
            tracing::info!(session_id = %id, "session canceled by the relying party");
            announce_decided(&state, &id, SessionStatus::Canceled).await;
        }
    }
    let row = load(&state, &project.id, &id).await?;
    Ok(axum::Json(view(&row)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_options_are_distinct_and_contain_the_code() {
        for _ in 0..200 {
            let (code, options) = presence_for(PresenceMode::Choose).expect("presence");
            let code = code.expect("code");
            assert_eq!(code.len(), 2);
            assert_eq!(options.len(), 3);
            assert!(options.contains(&code));
            assert!(
                options[0] != options[1] && options[1] != options[2] && options[0] != options[2]
            );
            Presence {
                mode: PresenceMode::Choose,
                options,
                length: None,
            }
            .validate()
            .expect("valid");
        }
        let (code, options) = presence_for(PresenceMode::None).expect("none");
        assert!(code.is_none() && options.is_empty());
        let (code, options) = presence_for(PresenceMode::Entry).expect("entry");
        assert!(code.is_some() && options.is_empty());
    }

    #[test]
    fn code_position_is_not_fixed() {
        let mut positions = [0u32; 3];
        for _ in 0..300 {
            let (code, options) = presence_for(PresenceMode::Choose).expect("presence");
            let code = code.expect("code");
            let pos = options.iter().position(|o| *o == code).expect("present");
            positions[pos] += 1;
        }
        assert!(positions.iter().all(|n| *n > 40), "{positions:?}");
    }

    #[test]
    fn wire_strings() {
        assert_eq!(
            wire(&SessionReason::CanceledByRelyingParty),
            "canceled_by_relying_party"
        );
        assert_eq!(
            parse_wire::<SessionReason>("fraud_reported"),
            Some(SessionReason::FraudReported)
        );
        assert_eq!(wire(&PresenceMode::Choose), "choose");
    }
}
