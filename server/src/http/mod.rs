//! The HTTP surface: routes, extractors, handlers, and the one mapping of lifecycle errors to
//! HTTP answers. Handlers parse, call the domain (`sessions`, `webhook`, `store`) and render.

pub(crate) mod client_ip;
mod device;
mod extract;
mod origin;
mod rp;
pub(crate) mod sdk;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use tapprove_protocol::ProtocolError;
use tapprove_protocol::api::ErrorCode;

use crate::domain::devices::DeviceError;
use crate::domain::sessions::{BudgetWindow, SessionError};
use crate::error::ApiError;
use crate::service::state::AppState;

/// All routes, with JSON errors for unknown routes and methods.
pub(crate) fn router(state: AppState) -> Router {
    let request_limit = state.0.config.request_timeout;
    Router::new()
        .route("/v1/push/sessions", post(rp::create_session))
        .route(
            "/v1/push/sessions/{id}",
            get(rp::get_session).delete(rp::cancel_session),
        )
        .route("/v1/push/sessions/{id}/code", post(rp::submit_code))
        .route(
            "/v1/users/{user}/devices",
            get(rp::list_devices).delete(rp::revoke_user_devices),
        )
        .route("/v1/devices/{id}", delete(rp::revoke_device))
        .route("/v1/users/{user}/lock", delete(rp::lift_lock))
        .route("/v1/audit", get(rp::audit))
        .route("/v1/device/pair", post(device::pair))
        .route("/v1/device/push-token", put(device::push_token))
        .route("/v1/device", delete(device::unpair))
        .route("/v1/device/pending", get(device::pending))
        .route("/v1/device/answers", post(device::answer))
        .route("/v1/device/shown", post(device::shown))
        .route("/v1/device/events", get(device::events))
        .route("/v1/openapi.json", get(openapi))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "No such API route; see docs/PROTOCOL.md.",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::InvalidRequest,
                "This route does not accept that HTTP method; see docs/PROTOCOL.md.",
            )
        })
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::from_fn(move |request, next| {
            crate::service::listener::request_timeout(request_limit, request, next)
        }))
        .layer(axum::middleware::from_fn(origin::with_origin))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::client_ip::attach,
        ))
        .with_state(state)
}

/// The OpenAPI document of the device, relying-party and audit APIs, as written in
/// docs/openapi.json: one file, compiled in, so what is served is what is documented.
const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// `GET /v1/openapi.json`.
async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

/// `GET /readyz`: `200 ready` when the database answers and its schema is this build's.
async fn ready(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<&'static str, ApiError> {
    let unready = |why: &str| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal,
            format!("Not ready: {why}."),
        )
    };
    match state.0.store.ready().await {
        Ok(true) => Ok("ready"),
        Ok(false) => Err(unready("the database's migrations are not this build's")),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(unready("the database does not answer"))
        }
    }
}

fn answer_refused(e: &ProtocolError) -> ApiError {
    match e {
        ProtocolError::Expired | ProtocolError::NotYetValid => ApiError::bad_signature(
            "The answer's time is more than 60 s away from the service clock: correct the device \
             clock (use the service's Date header) and answer again.",
        ),
        ProtocolError::UnsupportedVersion(v) => ApiError::bad_signature(format!(
            "The answer uses protocol version {v}, which this service does not speak."
        )),
        other => ApiError::bad_signature(format!("The answer does not verify: {other}.")),
    }
}

/// What the relying party or device is told when the lifecycle refuses.
impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::NoDevice => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::NoDevice,
                "This user has no paired device: let them sign in another way and pair the app \
                 first.",
            ),
            SessionError::BudgetExhausted {
                window: BudgetWindow::Minute,
                retry_after,
            } => ApiError::rate_limited(
                "Too many login requests for this user in the last minute; wait before sending \
                 another.",
                retry_after,
            ),
            SessionError::BudgetExhausted {
                window: BudgetWindow::Hour,
                retry_after,
            } => ApiError::rate_limited(
                "Too many login requests for this user in the last hour without a successful \
                 login; wait before sending another.",
                retry_after,
            ),
            SessionError::BelowPolicy { requested, policy } => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::PolicyNotMet,
                format!(
                    "This project's presence policy is {}: a session may not ask for `{}`; \
                     leave `presence` out (or ask for `entry`).",
                    policy.describe(),
                    requested.as_str()
                ),
            ),
            SessionError::UserVerificationRequired => ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::UserVerificationRequired,
                "This service requires user verification: unlock with biometrics, the device \
                 passcode or the app passphrase, then approve again (the request is still open).",
            ),
            SessionError::Locked { until } => ApiError::locked(
                "Pushes to this user are locked because they reported a login request as not \
                 theirs. Let them sign in another way and check with them; lift the lock with \
                 DELETE /v1/users/{user}/lock.",
                until,
            ),
            SessionError::CoolingDown { retry_after } => ApiError::rate_limited(
                "This user rejected or ignored several login requests in a row: pushes pause \
                 for a while (longer each time until an approved login).",
                retry_after,
            ),
            SessionError::TooLongForPush { signed_bytes } => ApiError::invalid_request(format!(
                "The notification and context are too long to fit in a push ({signed_bytes} \
                 bytes signed, at most {}); shorten them.",
                tapprove_protocol::MAX_TOKEN_LEN
            )),
            SessionError::ContextTooLong { member } => ApiError::invalid_request(format!(
                "`context.{member}` is longer than {} characters (counted without control and \
                 invisible characters).",
                crate::domain::sessions::context::MAX_CONTEXT_CHARS
            )),
            SessionError::NotFound => ApiError::session_not_found(),
            SessionError::NotPaired => ApiError::not_paired(),
            SessionError::Revoked { revoked_at } => ApiError::revoked(revoked_at),
            SessionError::AnswerRefused(e) => answer_refused(&e),
            SessionError::NonceMismatch => ApiError::bad_signature(
                "The answer's nonce does not match the challenge sent to this device.",
            ),
            SessionError::Expired => ApiError::new(
                StatusCode::GONE,
                ErrorCode::Expired,
                "This login request expired before the answer arrived.",
            ),
            SessionError::AlreadyDecided => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::AlreadyDecided,
                "This login request was already decided.",
            ),
            SessionError::NotDisplaySession => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::NotDisplaySession,
                "This login request is not a code-to-phone (`display`) session: there is no \
                 code to submit or acknowledge.",
            ),
            SessionError::CodeNotShown => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::CodeNotShown,
                "No phone has shown the code to a verified user yet (this project requires user \
                 verification): ask the user to open Tapprove on their phone, unlock it and read \
                 the code there, then submit it again. The request is still open.",
            ),
            SessionError::ApproveByCode => ApiError::invalid_request(
                "This login request is approved by typing the code shown on the phone at the \
                 login prompt; the phone can only deny it.",
            ),
            SessionError::Internal => ApiError::internal(),
            SessionError::Database(e) => e.into(),
        }
    }
}

/// What the relying party is told when a revocation does not happen.
impl From<DeviceError> for ApiError {
    fn from(e: DeviceError) -> Self {
        match e {
            DeviceError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "No such device in this project; list the user's devices with GET \
                 /v1/users/{user}/devices.",
            ),
            DeviceError::Database(e) => e.into(),
        }
    }
}
