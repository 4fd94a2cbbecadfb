//! Errors: [`ServiceError`] for starting the service and for admin operations, [`ApiError`] for
//! HTTP answers (always the `{"error": {"code", "message"}}` body of PROTOCOL.md §10).

use std::net::SocketAddr;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tapprove_protocol::api::{ErrorBody, ErrorCode};
use thiserror::Error;

/// Starting the service or running an admin operation failed. Every message says what to do.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// A configuration value is wrong.
    #[error("configuration error: {0}")]
    Config(String),
    /// No seal key was configured.
    #[error(
        "no seal key configured: set TAPPROVE_SEAL_KEY (or seal_key in the config file) to 32 \
         random bytes in base64, e.g. the output of `openssl rand -base64 32`, and keep it: \
         without it the stored secrets cannot be read"
    )]
    MissingSealKey,
    /// The seal key is not 32 bytes of base64.
    #[error(
        "the seal key is invalid: {0}; it must be 32 random bytes in base64 (`openssl rand -base64 32`)"
    )]
    InvalidSealKey(String),
    /// Sealed data in the database does not open with the configured seal key.
    #[error(
        "the database's sealed secrets do not open with the configured seal key: use the seal \
         key this database was created with (TAPPROVE_SEAL_KEY)"
    )]
    SealKeyMismatch,
    /// The database cannot be opened or migrated.
    #[error(
        "cannot use database {url}: {reason}; check that the path exists and is writable (for SQLite add `?mode=rwc` to create the file)"
    )]
    DatabaseUnavailable {
        /// The URL with any password removed.
        url: String,
        /// What the driver said.
        reason: String,
    },
    /// A database operation failed after opening.
    #[error("database error: {0}")]
    Database(String),
    /// The listen address is taken.
    #[error(
        "cannot listen on {addr}: the address is already in use; stop the other process or choose another address (--listen / TAPPROVE_LISTEN)"
    )]
    AddressInUse {
        /// The address.
        addr: SocketAddr,
    },
    /// The listen address cannot be bound for another reason.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        reason: String,
    },
    /// A trust URL is not acceptable.
    #[error("invalid trust URL {url:?}: {reason}")]
    InvalidTrustUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
    /// An admin operation named a project that does not exist.
    #[error("no project with id {0:?}; list projects with `tapprove admin project list`")]
    UnknownProject(String),
    /// A value given to an admin operation is invalid.
    #[error("invalid value: {0}")]
    InvalidInput(String),
    /// The OS random generator or a crypto primitive failed.
    #[error("cryptographic failure: {0}")]
    Crypto(String),
    /// The push provider configuration cannot work (bad key file, missing field, …).
    #[error("push configuration error: {0}")]
    Push(#[from] tapprove_push::PushConfigError),
    /// The HTTP server failed while running.
    #[error("the HTTP server failed: {0}")]
    Server(String),
}

impl ServiceError {
    pub(crate) fn db(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}

/// An HTTP error answer: status, stable code and a human message. Build with the constructors.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    retry_after: Option<u64>,
    /// The one extra member some codes carry in the body.
    detail: Option<Detail>,
}

/// A code's extra body member (docs/PROTOCOL.md, errors).
#[derive(Debug, Clone, Copy)]
enum Detail {
    /// `revoked`: `revoked_at`.
    RevokedAt(i64),
    /// `locked`: `locked_until`.
    LockedUntil(i64),
}

impl ApiError {
    /// Any status/code/message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            detail: None,
        }
    }

    /// 423 locked with `locked_until` and `Retry-After`.
    pub fn locked(message: impl Into<String>, locked_until: i64) -> Self {
        let mut e = Self::new(StatusCode::LOCKED, ErrorCode::Locked, message);
        e.retry_after = Some((locked_until - crate::now()).max(1) as u64);
        e.detail = Some(Detail::LockedUntil(locked_until));
        e
    }

    /// 400 invalid_request.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, message)
    }

    /// 400 bad_signature.
    pub fn bad_signature(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadSignature, message)
    }

    /// 401 unauthorized.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    /// 401 not_paired.
    pub fn not_paired() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::NotPaired,
            "This device is not paired (or was unpaired) with this service; pair it again.",
        )
    }

    /// 403 revoked: the site or an operator removed this device at `revoked_at`.
    pub fn revoked(revoked_at: i64) -> Self {
        let mut e = Self::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Revoked,
            "This device was removed from the account (by the site or its operator) and can no \
             longer approve sign-ins; if that was a mistake, pair it again with a new code.",
        );
        e.detail = Some(Detail::RevokedAt(revoked_at));
        e
    }

    /// 404 not_found for a session.
    pub fn session_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "No such session.",
        )
    }

    /// 429 rate_limited with `Retry-After`.
    pub fn rate_limited(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            message,
        );
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// 500 internal. The cause is logged by the caller, never sent.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "The service failed to handle this request; try again later.",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "database error");
        Self::internal()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.detail {
            Some(Detail::RevokedAt(at)) => ErrorBody::revoked(self.message, at),
            Some(Detail::LockedUntil(until)) => ErrorBody::locked(self.message, until),
            None => ErrorBody::new(self.code, self.message),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}
