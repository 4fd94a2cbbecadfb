//! Relying-party API (PROTOCOL.md §9): create, read (with long-poll) and cancel push sessions;
//! list and revoke a user's devices; lift a user's lock; read the project's audit log.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tapprove_protocol::api::{
    AuditPage, CreateSessionRequest, DeviceList, SessionCreated, SessionView, SubmitCodeRequest,
};
use tapprove_protocol::challenge::{MAX_BODY_CHARS, MAX_TITLE_CHARS};

use super::extract::{ApiJson, ApiPath, ApiQuery, RpProject};
use crate::domain::MAX_USER_CHARS;
use crate::domain::devices::{self, RevokedBy, Target};
use crate::domain::policy::PresencePolicy;
use crate::domain::sessions::{self, DEFAULT_TTL, MAX_TTL, MAX_WAIT, NewSession};
use crate::error::ApiError;
use crate::service::state::AppState;

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
    // The context's rules (sanitising, lengths, the user agent) are the session's own:
    // `sessions::create` applies them.
    if let Some(ttl) = req.ttl_seconds
        && !(1..=MAX_TTL).contains(&ttl)
    {
        return Err(ApiError::invalid_request(format!(
            "`ttl_seconds` must be between 1 and {MAX_TTL}."
        )));
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
    // The project row was read for this request by the API-key check: its policy is current.
    let policy = PresencePolicy::of(&project);
    let new = NewSession {
        project_id: project.id,
        user: req.user.trim().to_owned(),
        title: req.notification.title,
        body: req.notification.body,
        context: req.context.unwrap_or_default(),
        mode: req.presence,
        policy,
        ttl_seconds: req.ttl_seconds.unwrap_or(DEFAULT_TTL),
        join_pending: req.join_pending,
    };
    let created = sessions::create(state.sessions(), new, crate::now()).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
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
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT));
    Ok(axum::Json(
        sessions::wait_decided(state.sessions(), &project.id, &id, wait, crate::now()).await?,
    ))
}

/// `POST /v1/push/sessions/{id}/code`: the code the user typed, for a `display` session.
pub(crate) async fn submit_code(
    State(state): State<AppState>,
    RpProject(project): RpProject,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<SubmitCodeRequest>,
) -> Result<axum::Json<SessionView>, ApiError> {
    check_len("code", &req.code, sessions::MAX_SUBMITTED_CODE_CHARS)?;
    Ok(axum::Json(
        sessions::submit_code(
            state.sessions(),
            &project.id,
            PresencePolicy::of(&project),
            &id,
            &req.code,
            crate::now(),
        )
        .await?,
    ))
}

/// `DELETE /v1/push/sessions/{id}`: cancels a pending session; a final one is returned as is.
pub(crate) async fn cancel_session(
    State(state): State<AppState>,
    RpProject(project): RpProject,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<SessionView>, ApiError> {
    Ok(axum::Json(
        sessions::cancel(state.sessions(), &project.id, &id, crate::now()).await?,
    ))
}

fn check_user(user: &str) -> Result<&str, ApiError> {
    let user = user.trim();
    if user.is_empty() {
        return Err(ApiError::invalid_request(
            "The user name must not be empty.",
        ));
    }
    check_len("user", user, MAX_USER_CHARS)?;
    Ok(user)
}

/// `GET /v1/users/{user}/devices`: the user's paired devices, oldest first.
pub(crate) async fn list_devices(
    State(state): State<AppState>,
    RpProject(project): RpProject,
    ApiPath(user): ApiPath<String>,
) -> Result<axum::Json<DeviceList>, ApiError> {
    let user = check_user(&user)?;
    Ok(axum::Json(
        devices::list(&state.0.store, &project.id, user).await?,
    ))
}

/// `DELETE /v1/devices/{id}`: revokes one device of this project (204, idempotent).
pub(crate) async fn revoke_device(
    State(state): State<AppState>,
    RpProject(project): RpProject,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    devices::revoke(
        state.devices(),
        &project.id,
        &Target::Device(id),
        RevokedBy::RelyingParty,
        crate::now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/users/{user}/devices`: revokes every device of the user (204, idempotent).
pub(crate) async fn revoke_user_devices(
    State(state): State<AppState>,
    RpProject(project): RpProject,
    ApiPath(user): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let user = check_user(&user)?.to_owned();
    devices::revoke(
        state.devices(),
        &project.id,
        &Target::User(user),
        RevokedBy::RelyingParty,
        crate::now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/users/{user}/lock`: lifts the user's lock (after "not me") or cooldown, e.g.
/// once the site has checked with the user. 204 whether or not one was in force.
pub(crate) async fn lift_lock(
    State(state): State<AppState>,
    RpProject(project): RpProject,
    ApiPath(user): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let user = check_user(&user)?;
    crate::domain::user_guard::lift(state.guard(), &project.id, user, crate::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /v1/audit`.
#[derive(Debug, Deserialize)]
pub(crate) struct AuditQuery {
    /// Rows at this Unix time or later (default: all kept).
    #[serde(default)]
    since: Option<i64>,
    /// Only this user's rows.
    #[serde(default)]
    user: Option<String>,
    /// Rows per page, 1 to 1000 (default 100).
    #[serde(default)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    cursor: Option<String>,
}

/// `GET /v1/audit`: this project's audit log, oldest first, a page at a time.
pub(crate) async fn audit(
    State(state): State<AppState>,
    RpProject(project): RpProject,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<axum::Json<AuditPage>, ApiError> {
    let limit = q.limit.unwrap_or(crate::domain::audit::DEFAULT_PAGE);
    if !(1..=crate::domain::audit::MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_request(format!(
            "`limit` must be between 1 and {}.",
            crate::domain::audit::MAX_PAGE
        )));
    }
    let user = q.user.as_deref().map(check_user).transpose()?;
    let cursor = q
        .cursor
        .as_deref()
        .map(|c| {
            crate::domain::audit::parse_cursor(c).ok_or_else(|| {
                ApiError::invalid_request(
                    "`cursor` is not one this service returned: pass `next_cursor` of the \
                     previous page unchanged.",
                )
            })
        })
        .transpose()?;
    let page = crate::domain::audit::page(
        &state.0.store,
        &crate::store::AuditFilter {
            project_id: Some(&project.id),
            user_name: user,
            since: q.since.unwrap_or(0),
            cursor: cursor.as_ref().map(|(at, id)| (*at, id.as_str())),
            limit,
            newest: false,
        },
    )
    .await?;
    Ok(axum::Json(page))
}
