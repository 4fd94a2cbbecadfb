//! The platform HTTP transport as a foreign trait: the app sends the device API calls with its
//! own stack (HttpURLConnection/OkHttp on Android, URLSession on iOS) so that proxies, user
//! CAs, Network Security Config and VPN rules apply. Bridged into `tapprove_core::HttpTransport`.
//!
//! Only bytes cross: Rust builds and signs each request (the request proof is made here with
//! the app's [`crate::DeviceSigner`]) and reads each response.

use std::sync::Arc;

use tapprove_core as core;

use crate::error::AuthError;

/// One header field.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    /// The field name, e.g. `Authorization`.
    pub name: String,
    /// The field value.
    pub value: String,
}

/// A request for the app's [`HttpTransport`] to send as it is.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpRequest {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// The header fields to send (the stack adds `Host` and `Content-Length` itself).
    pub headers: Vec<HttpHeader>,
    /// The body; empty for none.
    pub body: Vec<u8>,
    /// Give up after this many milliseconds (connect and read together).
    pub timeout_ms: u64,
}

/// `Debug` shows header names only: one value is the request proof.
impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field(
                "headers",
                &self.headers.iter().map(|h| &h.name).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// What the server answered, whatever the status.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpResponse {
    /// The status code. Return redirects as they are: do not follow them.
    pub status: u16,
    /// The header fields (`Date`, `Retry-After` and `Content-Type` are read).
    pub headers: Vec<HttpHeader>,
    /// The body (decoded if the stack decompressed it).
    pub body: Vec<u8>,
}

/// Sends the device API calls with the platform's HTTP stack. Give it to
/// [`crate::Authenticator::with_transport`]. Throw (`AuthException.Network` or any exception)
/// only when the exchange failed; an HTTP error status is a normal response. Called on a
/// background thread, several calls at a time; do not follow redirects.
#[uniffi::export(foreign)]
pub trait HttpTransport: Send + Sync {
    /// Sends `request` and returns the complete response.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, AuthError>;
}

/// An open response whose body arrives in pieces (the live event stream), returned by
/// [`HttpStreamTransport::open_stream`] once the response head is there.
#[uniffi::export(foreign)]
pub trait HttpBodyStream: Send + Sync {
    /// The status code.
    fn status(&self) -> Result<u16, AuthError>;
    /// The header fields (`Content-Type` and `Date` are read).
    fn headers(&self) -> Result<Vec<HttpHeader>, AuthError>;
    /// The next piece of the body as soon as some bytes arrived (do not wait to fill a
    /// buffer: events are small); `None` at its end. Wait at most the request's `timeout_ms`,
    /// then throw.
    fn read(&self) -> Result<Option<Vec<u8>>, AuthError>;
    /// Called from another thread to stop (the user stopped listening): make a blocked `read`
    /// return or throw and close the connection (`HttpURLConnection.disconnect()`,
    /// `URLSessionTask.cancel()`). Idempotent.
    fn cancel(&self) -> Result<(), AuthError>;
}

/// Opens the live event stream with the platform's HTTP stack, so that it too goes through the
/// app's proxies, CAs and VPN rules. Give it to [`crate::Authenticator::with_transport`]. Same
/// rules as [`HttpTransport`] (several threads, no redirects, every status is a response);
/// here `timeout_ms` is the longest wait for each piece of the body (a read timeout).
#[uniffi::export(foreign)]
pub trait HttpStreamTransport: Send + Sync {
    /// Sends `request` and returns as soon as the response head arrived.
    fn open_stream(&self, request: HttpRequest) -> Result<Arc<dyn HttpBodyStream>, AuthError>;
}

fn to_ffi(request: core::HttpRequest) -> HttpRequest {
    HttpRequest {
        method: request.method,
        url: request.url,
        headers: request
            .headers
            .into_iter()
            .map(|(name, value)| HttpHeader { name, value })
            .collect(),
        body: request.body,
        timeout_ms: u64::try_from(request.timeout.as_millis()).unwrap_or(u64::MAX),
    }
}

fn transport_error(e: AuthError) -> core::TransportError {
    core::TransportError {
        message: match e {
            AuthError::Network { detail } | AuthError::Platform { detail } => detail,
            other => other.to_string(),
        },
    }
}

/// Turns a foreign [`HttpStreamTransport`] into the core's.
pub(crate) struct StreamTransportBridge(pub(crate) Arc<dyn HttpStreamTransport>);

impl core::HttpStreamTransport for StreamTransportBridge {
    fn open_stream(
        &self,
        request: core::HttpRequest,
    ) -> Result<Arc<dyn core::HttpBodyStream>, core::TransportError> {
        let stream = self
            .0
            .open_stream(to_ffi(request))
            .map_err(transport_error)?;
        // The head is read once, here: the core asks for it right away.
        let status = stream.status().map_err(transport_error)?;
        let headers = stream
            .headers()
            .map_err(transport_error)?
            .into_iter()
            .map(|h| (h.name, h.value))
            .collect();
        Ok(Arc::new(BodyStreamBridge {
            stream,
            status,
            headers,
        }))
    }
}

struct BodyStreamBridge {
    stream: Arc<dyn HttpBodyStream>,
    status: u16,
    headers: Vec<(String, String)>,
}

impl core::HttpBodyStream for BodyStreamBridge {
    fn status(&self) -> u16 {
        self.status
    }

    fn headers(&self) -> Vec<(String, String)> {
        self.headers.clone()
    }

    fn read(&self) -> Result<Option<Vec<u8>>, core::TransportError> {
        self.stream.read().map_err(transport_error)
    }

    fn cancel(&self) {
        if let Err(e) = self.stream.cancel() {
            tracing::warn!(error = %e, "the app's HttpBodyStream failed to cancel");
        }
    }
}

/// Turns a foreign [`HttpTransport`] into the core's transport.
pub(crate) struct TransportBridge(pub(crate) Arc<dyn HttpTransport>);

impl core::HttpTransport for TransportBridge {
    fn send(&self, request: core::HttpRequest) -> Result<core::HttpResponse, core::TransportError> {
        let response = self.0.send(to_ffi(request)).map_err(transport_error)?;
        Ok(core::HttpResponse {
            status: response.status,
            headers: response
                .headers
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            body: response.body,
        })
    }
}
