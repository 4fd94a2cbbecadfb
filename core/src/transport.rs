//! The platform HTTP transport: an app can send the device API calls through its own HTTP
//! stack (HttpURLConnection or OkHttp on Android, URLSession on iOS), so that enterprise
//! proxies, user-installed CAs, Android's Network Security Config and VPN rules apply — the
//! built-in client (`net/`) ignores them all. The built-in client stays the default.
//!
//! The transport only moves bytes: the core builds every request (the SDK header, the request
//! proof signed by the device key) and reads every response (status mapping, the `Date` clock
//! correction) itself, so nothing secret is handed to the transport beyond the one-time,
//! short-lived proof the request carries anyway.
//!
//! The live event stream does not go through it (see docs/CORE.md, "Platform transport").

use std::fmt;
use std::time::Duration;

/// One request for an [`HttpTransport`] to send.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: String,
    /// The absolute URL (`https://…/v1/device/…`).
    pub url: String,
    /// Header fields to send as they are (no `Host`, `Content-Length` or `Connection`: the
    /// transport's stack sets those).
    pub headers: Vec<(String, String)>,
    /// The body; empty for none.
    pub body: Vec<u8>,
    /// The whole exchange must finish within this.
    pub timeout: Duration,
}

/// `Debug` names the headers but shows no values (one is the request proof).
impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What the server answered, whatever the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code (redirects must be returned as they are, not followed).
    pub status: u16,
    /// The header fields (the core reads `Date`, `Retry-After` and `Content-Type`).
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
}

/// The transport could not complete the exchange (no connection, TLS refused, timed out).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    /// What failed, for people.
    pub message: String,
}

/// Sends one HTTP request and returns the response. Implementations must be safe to call from
/// several threads, must not follow redirects (a redirect would break the request proof) and
/// should give up after [`HttpRequest::timeout`].
pub trait HttpTransport: Send + Sync {
    /// Sends `request`; any status is a response, only a failed exchange is an error.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}
