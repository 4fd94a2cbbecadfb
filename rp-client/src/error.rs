//! The one error of every relying-party call.

use std::time::Duration;

use tapprove_protocol::api::ErrorCode;

/// A failed relying-party call. Never carries the API key.
#[derive(Debug, thiserror::Error)]
pub enum RpError {
    /// The service answered with an error (docs/PROTOCOL.md §10).
    #[error("the Tapprove service refused the call: {} (HTTP {status}): {message}", code.as_str())]
    Api {
        /// HTTP status.
        status: u16,
        /// The error code; [`ErrorCode::Unknown`] for a code this build does not know, or a
        /// body that is not the JSON error body (e.g. a proxy's page).
        code: ErrorCode,
        /// The service's sentence for a human.
        message: String,
        /// `Retry-After`, with `429 rate_limited` and `423 locked`.
        retry_after: Option<Duration>,
        /// With `423 locked`: when the user's lock ends (Unix seconds, service time).
        locked_until: Option<i64>,
    },
    /// The service could not be reached or the connection broke (DNS, TCP, TLS, timeout).
    #[error("cannot reach the Tapprove service: {0}")]
    Transport(String),
    /// A success answer that is not what docs/PROTOCOL.md §9 says (a proxy, or a service of
    /// another version).
    #[error("unexpected answer from the Tapprove service: {0}")]
    Decode(String),
    /// An argument the API cannot carry (an empty name, or one of dots only), refused before
    /// sending.
    #[error("{0}")]
    InvalidArgument(String),
    /// The client was built with a service URL it cannot use.
    #[error(
        "invalid Tapprove service URL {url:?}: {why} (give the base URL, e.g. https://tapprove.example.com)"
    )]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

impl RpError {
    /// The API error code, if the service answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The HTTP status, if the service answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// How long to wait before trying again, when the service said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether trying the same call again later may succeed: network trouble, `429`, `5xx`.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Api { status, code, .. } => {
                *status >= 500 || *code == ErrorCode::RateLimited || *code == ErrorCode::Internal
            }
            Self::Decode(_) | Self::InvalidArgument(_) | Self::InvalidUrl { .. } => false,
        }
    }

    pub(crate) fn transport(e: reqwest::Error) -> Self {
        // Without the URL: a query could carry a user name, and the base is in the config.
        Self::Transport(e.without_url().to_string())
    }
}
