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
//! The live event stream goes through [`HttpStreamTransport`] when the app gives one (the body
//! delivered in pieces, cancellable); otherwise it uses the built-in client.

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

/// An open response whose body arrives in pieces: the live event stream through the app's HTTP
/// stack. Returned by [`HttpStreamTransport::open_stream`] once the response head is there.
pub trait HttpBodyStream: Send + Sync {
    /// The status code.
    fn status(&self) -> u16;
    /// The header fields.
    fn headers(&self) -> Vec<(String, String)>;
    /// The next piece of the body as soon as some bytes arrived; `None` at its end. Waits at
    /// most the request's timeout (then an error: the core reconnects).
    fn read(&self) -> Result<Option<Vec<u8>>, TransportError>;
    /// Called from another thread to stop: a `read` blocked now or later returns (an error or
    /// `None`) and the connection is closed. Idempotent.
    fn cancel(&self);
}

/// Opens streaming requests with the platform's HTTP stack (the event stream), so that it goes
/// through the same proxies, CAs and VPN rules as every other call. Same rules as
/// [`HttpTransport`]: safe from several threads, no redirects; [`HttpRequest::timeout`] is the
/// longest wait for each piece of the body (a read timeout), not for the whole exchange.
pub trait HttpStreamTransport: Send + Sync {
    /// Sends `request` and returns when the response head arrived.
    fn open_stream(
        &self,
        request: HttpRequest,
    ) -> Result<std::sync::Arc<dyn HttpBodyStream>, TransportError>;
}
