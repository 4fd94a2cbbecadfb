//! The device API client (docs/PROTOCOL.md §6, §10) over the HTTP client in `net.rs`: how a
//! request is built and authenticated (the SDK header, the SDK key or a request proof), what an
//! error body means, and the service's clock — offsets learnt from `Date` headers and the one
//! retry when a proof was refused because the device clock moved.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tapprove_protocol::api::{ErrorBody, ErrorCode, KEY_UPDATE_HEADER};
use tapprove_protocol::request_auth::RequestProof;
use tapprove_protocol::{SDK_KEY_HEADER, SDK_VERSION_HEADER};
use tracing::debug;

use crate::clock::{Clock, Offsets};
use crate::error::CoreError;
use crate::model::AccountRecord;
use crate::net::{self, BodyReader, Canceller, Head, HttpClient, Method, Request, Response};
use crate::signer::{AliasSigner, DeviceSigner};
use crate::transport::{HttpBodyStream, HttpRequest, HttpStreamTransport, HttpTransport};

/// Value of the `X-Tapprove-SDK` header this build sends.
pub const SDK_VERSION: &str = concat!("rust/", env!("CARGO_PKG_VERSION"));

/// Timeout of ordinary device API calls (not the event stream).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How a request authenticates.
pub(crate) enum Auth<'a> {
    /// Pairing: `X-Tapprove-SDK-Key`.
    SdkKey(&'a str),
    /// A request proof signed by the account's device key.
    Proof {
        account: &'a AccountRecord,
        signer: &'a dyn DeviceSigner,
        now: i64,
    },
    /// Nothing beyond the SDK header (answers authenticate themselves).
    None,
}

/// Builds a request to `server` + `path` (device calls are never redirected: a redirect would
/// break the request proof and could send the SDK key elsewhere; the client follows none).
pub(crate) fn request(
    server: &str,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    auth: Auth<'_>,
) -> Result<Request, CoreError> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let mut headers = vec![
        (SDK_VERSION_HEADER, SDK_VERSION.to_owned()),
        ("User-Agent", SDK_VERSION.to_owned()),
        ("Accept", "application/json".to_owned()),
    ];
    match auth {
        Auth::SdkKey(key) => headers.push((SDK_KEY_HEADER, key.to_owned())),
        Auth::Proof {
            account,
            signer,
            now,
        } => {
            let alias_signer = AliasSigner::new(signer, &account.key_alias, &account.device_key);
            let jti = crate::random_id(16);
            let value = RequestProof::authorization(
                &account.id,
                method.as_str(),
                path,
                body.as_deref().unwrap_or_default(),
                now,
                &jti,
                &alias_signer,
            )
            .map_err(|e| CoreError::Signer(alias_signer.take_error(e)))?;
            headers.push(("Authorization", value));
        }
        Auth::None => {}
    }
    if body.is_some() {
        headers.push(("Content-Type", "application/json".to_owned()));
    }
    Ok(Request {
        method,
        url,
        headers,
        body,
        timeout: REQUEST_TIMEOUT,
    })
}

/// Maps a non-success response to a typed error (docs/PROTOCOL.md §10).
pub(crate) fn error_from_response(head: &Head, body: &[u8]) -> CoreError {
    let (code, message, revoked_at) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => (b.error.code, b.error.message, b.error.revoked_at),
        Err(_) => (
            ErrorCode::Unknown,
            if head.reason.is_empty() {
                format!("HTTP {}", head.status)
            } else {
                head.reason.clone()
            },
            None,
        ),
    };
    match (head.status, code) {
        (426, _) | (_, ErrorCode::UpdateRequired) => CoreError::UpdateRequired { message },
        (429, _) | (_, ErrorCode::RateLimited) => CoreError::RateLimited {
            retry_after_seconds: retry_after(head),
        },
        (_, ErrorCode::NotPaired) => CoreError::NotPaired,
        // The caller knows the account and fills in its names (`Inner::settle`).
        (_, ErrorCode::Revoked) => CoreError::Revoked {
            account_id: String::new(),
            project_name: String::new(),
            user: String::new(),
            revoked_at,
        },
        (_, ErrorCode::InvalidSdkKey) => CoreError::InvalidSdkKey,
        (_, ErrorCode::PairingRejected) => CoreError::PairingRejected { message },
        (409, _) | (_, ErrorCode::AlreadyDecided) => CoreError::AlreadyAnswered,
        (410, _) | (_, ErrorCode::Expired) => CoreError::Expired,
        (s, _) => CoreError::Service {
            status: s,
            code: if code == ErrorCode::Unknown {
                "unknown".to_owned()
            } else {
                code.as_str().to_owned()
            },
            message,
        },
    }
}

/// `Retry-After` as seconds (delta-seconds form; an HTTP date is converted with the local clock).
fn retry_after(head: &Head) -> Option<u64> {
    let v = head.header("retry-after")?;
    if let Ok(s) = v.parse::<u64>() {
        return Some(s);
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

/// How far (seconds) the corrected clock must have moved during a refused call to retry it.
const CLOCK_RETRY_THRESHOLD: i64 = 30;

/// A successful response body.
pub(crate) struct Body {
    pub(crate) status: u16,
    pub(crate) bytes: Vec<u8>,
    /// The `X-Tapprove-Key-Update` header, if the service sent one (a compact JWS).
    pub(crate) key_update: Option<String>,
}

impl Body {
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, CoreError> {
        serde_json::from_slice(&self.bytes).map_err(|e| CoreError::Service {
            status: self.status,
            code: "invalid_response".into(),
            message: format!("the service's answer could not be read ({e}); the service may be a different version"),
        })
    }
}

/// Sends device API calls and keeps each service's clock offset.
pub(crate) struct ApiClient {
    /// The built-in client: every call the app's stack does not take.
    http: HttpClient,
    /// The app's HTTP stack, if it gave one: every call but the event stream.
    transport: Option<Arc<dyn HttpTransport>>,
    /// The app's streaming HTTP stack, if it gave one: the event stream.
    streaming: Option<Arc<dyn HttpStreamTransport>>,
    clock: Arc<dyn Clock>,
    offsets: Offsets,
    signer: Arc<dyn DeviceSigner>,
}

impl ApiClient {
    pub(crate) fn new(
        http: HttpClient,
        transport: Option<Arc<dyn HttpTransport>>,
        streaming: Option<Arc<dyn HttpStreamTransport>>,
        clock: Arc<dyn Clock>,
        signer: Arc<dyn DeviceSigner>,
    ) -> Self {
        Self {
            http,
            transport,
            streaming,
            clock,
            offsets: Offsets::default(),
            signer,
        }
    }

    /// The device clock, uncorrected.
    pub(crate) fn device_now(&self) -> i64 {
        self.clock.now_unix()
    }

    /// Device time corrected by the last offset learnt from `account`'s service.
    pub(crate) fn now_for(&self, account: &AccountRecord) -> i64 {
        let offset = self
            .offsets
            .get(&account.server_url)
            .unwrap_or(account.clock_offset);
        self.clock.now_unix().saturating_add(offset)
    }

    /// The last offset learnt from `server`, if any this process.
    pub(crate) fn offset(&self, server: &str) -> Option<i64> {
        self.offsets.get(server)
    }

    /// Remembers the offset measured at pairing.
    pub(crate) fn set_offset(&self, server: &str, offset: i64) {
        self.offsets.set(server, offset);
    }

    fn observe_date(&self, server: &str, head: &Head) {
        if let Some(date) = head.header("date") {
            self.offsets
                .observe_date(server, date, self.clock.now_unix());
        }
    }

    /// A device API call with a request proof; returns the success body. If the service
    /// refuses the proof (`401 unauthorized`) and its `Date` shows that the clock offset used
    /// was off by more than 30 s (the device clock was changed), retries once with the
    /// corrected time.
    pub(crate) fn call(
        &self,
        account: &AccountRecord,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Body, CoreError> {
        let mut retried = false;
        loop {
            let now = self.now_for(account);
            let auth = Auth::Proof {
                account,
                signer: self.signer.as_ref(),
                now,
            };
            let req = request(&account.server_url, method, path, body.clone(), auth)?;
            match self.send(&account.server_url, req) {
                Err(CoreError::Service {
                    status: 401, code, ..
                }) if !retried
                    && code == "unauthorized"
                    && (self.now_for(account) - now).abs() > CLOCK_RETRY_THRESHOLD =>
                {
                    debug!(account_id = %account.id, "clock offset changed; retrying with the corrected time");
                    retried = true;
                }
                other => return other,
            }
        }
    }

    /// Sends `req` to `server`; the success body, or the error the response means.
    pub(crate) fn send(&self, server: &str, req: Request) -> Result<Body, CoreError> {
        let resp = match &self.transport {
            None => self.http.send(req)?,
            Some(transport) => send_through(transport.as_ref(), req)?,
        };
        self.observe_date(server, &resp.head);
        if resp.head.is_success() {
            Ok(Body {
                status: resp.head.status,
                key_update: resp.head.header(KEY_UPDATE_HEADER).map(str::to_owned),
                bytes: resp.body,
            })
        } else {
            Err(error_from_response(&resp.head, &resp.body))
        }
    }

    /// Opens `account`'s event stream (`GET /v1/device/events`); reads of the returned body
    /// wait at most `idle` each.
    pub(crate) fn open_events(
        &self,
        account: &AccountRecord,
        idle: Duration,
    ) -> Result<EventBody, CoreError> {
        let auth = Auth::Proof {
            account,
            signer: self.signer.as_ref(),
            now: self.now_for(account),
        };
        let mut req = request(
            &account.server_url,
            Method::Get,
            "/v1/device/events",
            None,
            auth,
        )?;
        req.headers.retain(|(name, _)| *name != "Accept");
        req.headers.push(("Accept", "text/event-stream".to_owned()));
        req.timeout = idle;
        let (head, mut body) = match &self.streaming {
            None => {
                let (head, body) = self.http.open(req)?;
                (head, EventBody::Builtin(body))
            }
            Some(streaming) => {
                let (request, host) = platform_request(req)?;
                let stream = streaming
                    .open_stream(request)
                    .map_err(|e| CoreError::Network {
                        message: format!("could not reach {host} (the app's HTTP transport: {e})"),
                    })?;
                let head = Head::from_parts(stream.status(), stream.headers());
                (head, EventBody::Platform(stream))
            }
        };
        self.observe_date(&account.server_url, &head);
        if !head.is_success() {
            let mut bytes = Vec::new();
            let mut buf = [0u8; 4096];
            while bytes.len() < 64 * 1024 {
                match body.next_chunk(&mut buf) {
                    Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                    Ok(None) | Err(_) => break,
                }
            }
            body.canceller().cancel();
            return Err(error_from_response(&head, &bytes));
        }
        // A captive portal or a proxy's page is not an event stream: say so instead of
        // reading HTML as events.
        let content_type = head.header("content-type").unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("text/event-stream") {
            body.canceller().cancel();
            return Err(CoreError::Service {
                status: head.status,
                code: "invalid_response".into(),
                message: format!(
                    "the event stream came back as {content_type:?}, not text/event-stream; is something between this device and the service?"
                ),
            });
        }
        Ok(body)
    }
}

/// The body of an open event stream, from the built-in client or the app's streaming stack.
pub(crate) enum EventBody {
    Builtin(BodyReader),
    Platform(Arc<dyn HttpBodyStream>),
}

/// Why reading the next piece of an event stream stopped.
pub(crate) enum ChunkError {
    /// Nothing arrived within the read timeout (built-in client; a platform stack reports a
    /// timeout as [`ChunkError::Failed`]).
    Timeout,
    /// The connection failed or was shut down.
    Failed(CoreError),
}

/// Stops an [`EventBody`] from another thread.
pub(crate) enum BodyCanceller {
    Socket(Option<Canceller>),
    Platform(Arc<dyn HttpBodyStream>),
}

impl std::fmt::Debug for BodyCanceller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Socket(_) => "BodyCanceller::Socket",
            Self::Platform(_) => "BodyCanceller::Platform",
        })
    }
}

impl BodyCanceller {
    pub(crate) fn cancel(&self) {
        match self {
            Self::Socket(socket) => socket.iter().for_each(Canceller::cancel),
            Self::Platform(stream) => stream.cancel(),
        }
    }
}

impl EventBody {
    /// A handle that shuts the connection down: a read blocked in another thread returns.
    pub(crate) fn canceller(&self) -> BodyCanceller {
        match self {
            Self::Builtin(body) => BodyCanceller::Socket(body.canceller().ok()),
            Self::Platform(stream) => BodyCanceller::Platform(stream.clone()),
        }
    }

    /// The next piece of the body (`buf` is the built-in client's read buffer); `None` at its
    /// end.
    pub(crate) fn next_chunk(&mut self, buf: &mut [u8]) -> Result<Option<Vec<u8>>, ChunkError> {
        match self {
            Self::Builtin(body) => match body.read_some(buf) {
                Ok(0) => Ok(None),
                Ok(n) => Ok(buf.get(..n).map(<[u8]>::to_vec)),
                Err(e) if net::is_timeout(&e) => Err(ChunkError::Timeout),
                Err(e) => Err(ChunkError::Failed(body.error(&e))),
            },
            Self::Platform(stream) => match stream.read() {
                Ok(piece) => Ok(piece),
                Err(e) => Err(ChunkError::Failed(CoreError::Network {
                    message: format!("the event stream broke (the app's HTTP transport: {e})"),
                })),
            },
        }
    }
}

/// A request for the app's stack, and the host for messages.
fn platform_request(req: Request) -> Result<(HttpRequest, String), CoreError> {
    net::check_header_values(&req)?;
    let host = crate::address::parse(&req.url)
        .map(|u| u.origin.host.to_string())
        .unwrap_or_default();
    let request = HttpRequest {
        method: req.method.as_str().to_owned(),
        headers: req
            .headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect(),
        url: req.url,
        body: req.body.unwrap_or_default(),
        timeout: req.timeout,
    };
    Ok((request, host))
}

/// One call through the app's transport: the same request the built-in client would send,
/// the response held to the same limits.
fn send_through(transport: &dyn HttpTransport, req: Request) -> Result<Response, CoreError> {
    let (request, host) = platform_request(req)?;
    let resp = transport.send(request).map_err(|e| CoreError::Network {
        message: format!("could not reach {host} (the app's HTTP transport: {e})"),
    })?;
    if resp.body.len() > net::MAX_BODY {
        return Err(CoreError::Network {
            message: format!("{host} sent an answer larger than {} bytes", net::MAX_BODY),
        });
    }
    Ok(Response {
        head: Head::from_parts(resp.status, resp.headers),
        body: resp.body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, body: &str, headers: &[(&'static str, &str)]) -> CoreError {
        let reason = if status == 502 { "Bad Gateway" } else { "" };
        error_from_response(&Head::new(status, reason, headers), body.as_bytes())
    }

    fn body(code: &str, message: &str) -> String {
        format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#)
    }

    #[test]
    fn maps_error_bodies() {
        match err(
            426,
            &body("update_required", "Update Demo Bank from the store."),
            &[],
        ) {
            CoreError::UpdateRequired { message } => {
                assert_eq!(message, "Update Demo Bank from the store.")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            err(429, &body("rate_limited", "slow"), &[("retry-after", "17")]),
            CoreError::RateLimited {
                retry_after_seconds: Some(17)
            }
        ));
        assert!(matches!(
            err(429, "", &[]),
            CoreError::RateLimited {
                retry_after_seconds: None
            }
        ));
        assert!(matches!(
            err(401, &body("not_paired", "x"), &[]),
            CoreError::NotPaired
        ));
        assert!(matches!(
            err(401, &body("invalid_sdk_key", "x"), &[]),
            CoreError::InvalidSdkKey
        ));
        match err(
            403,
            &body("pairing_rejected", "The site did not accept this code."),
            &[],
        ) {
            CoreError::PairingRejected { message } => assert!(message.contains("did not accept")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            err(409, &body("already_decided", "x"), &[]),
            CoreError::AlreadyAnswered
        ));
        assert!(matches!(
            err(410, &body("expired", "x"), &[]),
            CoreError::Expired
        ));
        match err(500, &body("internal", "boom"), &[]) {
            CoreError::Service {
                status,
                code,
                message,
            } => {
                assert_eq!(
                    (status, code.as_str(), message.as_str()),
                    (500, "internal", "boom")
                );
            }
            other => panic!("{other:?}"),
        }
        match err(418, &body("teapot_mode", "short and stout"), &[]) {
            CoreError::Service { code, .. } => assert_eq!(code, "unknown"),
            other => panic!("{other:?}"),
        }
        match err(502, "<html>bad gateway</html>", &[]) {
            CoreError::Service {
                status, message, ..
            } => assert_eq!((status, message.as_str()), (502, "Bad Gateway")),
            other => panic!("{other:?}"),
        }
    }
}
