//! A small blocking HTTP/1.1 client for the device API, over TCP or TLS (rustls with ring;
//! the platform's roots, the Mozilla roots on Android), bodies framed by `Content-Length`,
//! chunked encoding or connection close (`framing.rs`).
//!
//! One deadline covers a call from the name lookup to the last body byte (`connect.rs` looks
//! names up and tries addresses within it; [`Timed`] holds every socket read and write to it),
//! so a server that trickles a byte now and then cannot keep a call alive. A call run by
//! `crate::background` is also cancelled when its future is dropped: its socket is shut down.
//! An event stream has a deadline up to its head and then an idle limit per read, and a socket
//! handle ([`Canceller`]) that ends it at once.
//!
//! A call's connection stays open for the next call to the same service when its answer was
//! complete and framed (`keep.rs`): a device answering logins one after another pays for the
//! connect, the TLS handshake and the connect helper thread once. An event stream has a
//! connection of its own.
//!
//! Why not reqwest/hyper: the device talks to one service with a handful of small JSON calls
//! and one event stream, and the phone library has a size budget (docs/BINDINGS.md); hyper,
//! reqwest and tokio were about 0.6 MB of it. The public async API runs these calls on a
//! thread of their own (`crate::background`).

mod connect;
mod framing;
mod keep;

use std::fmt;
use std::io::{self, BufReader, Read, Write};
#[cfg(feature = "tls")]
use std::net::IpAddr;
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[cfg(feature = "tls")]
use rustls::pki_types::ServerName;

use crate::address::{self, Host};
use crate::background;
use crate::error::CoreError;
use framing::{Decoder, read_head};
use keep::Idle;

/// Largest response body read (device API answers are a few KB).
pub(crate) const MAX_BODY: usize = 1 << 20;

/// The methods the device API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// One request. `timeout` is the deadline of the whole exchange for [`HttpClient::send`]
/// (name lookup, connect, TLS, head and body) and, for [`HttpClient::open`], of everything up
/// to the head and then the longest wait of each body read.
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Option<Vec<u8>>,
    pub(crate) timeout: Duration,
}

/// Status line and headers of a response.
#[derive(Debug, Clone, Default)]
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) reason: String,
    headers: Vec<(String, String)>,
}

impl Head {
    /// A head built by hand (tests).
    #[cfg(test)]
    pub(crate) fn new(status: u16, reason: &str, headers: &[(&str, &str)]) -> Self {
        Self {
            status,
            reason: reason.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// A head from another HTTP stack (a platform transport), which gives no reason phrase.
    pub(crate) fn from_parts(status: u16, headers: Vec<(String, String)>) -> Self {
        Self {
            status,
            reason: String::new(),
            headers,
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A complete response.
pub(crate) struct Response {
    pub(crate) head: Head,
    pub(crate) body: Vec<u8>,
}

/// Where a request goes, for messages: `host:port`.
struct Authority(String);

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shared client: holds the TLS configuration (and with it the TLS session cache, so
/// later connections to the service resume instead of doing a full handshake).
#[derive(Clone)]
pub(crate) struct HttpClient {
    #[cfg(feature = "tls")]
    tls: Arc<rustls::ClientConfig>,
    /// The connection the last complete call left open.
    idle: Arc<Mutex<Option<Idle>>>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl HttpClient {
    #[cfg(not(feature = "tls"))]
    pub(crate) fn new() -> Result<Self, CoreError> {
        Ok(Self {
            idle: Arc::default(),
        })
    }

    #[cfg(feature = "tls")]
    pub(crate) fn new() -> Result<Self, CoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| CoreError::config(format!("could not set up TLS: {e}")))?;
        let tls = tls_roots(builder, provider)?.with_no_client_auth();
        Ok(Self {
            tls: Arc::new(tls),
            idle: Arc::default(),
        })
    }

    /// Sends `req` and reads the whole response (at most 1 MiB), all within `req.timeout`.
    pub(crate) fn send(&self, req: Request) -> Result<Response, CoreError> {
        let deadline = Instant::now() + req.timeout;
        let (head, mut body) = self.exchange(req, deadline, true)?;
        let bytes = body.read_all(MAX_BODY)?;
        self.keep(&head, body);
        Ok(Response { head, body: bytes })
    }

    /// Sends `req` and reads the response head within `req.timeout`; the body is read from
    /// the returned reader, each read waiting at most `req.timeout`.
    pub(crate) fn open(&self, req: Request) -> Result<(Head, BodyReader), CoreError> {
        let deadline = Instant::now() + req.timeout;
        let (head, body) = self.exchange(req, deadline, false)?;
        body.timing.end_deadline();
        Ok((head, body))
    }

    /// Connects (or, when `reuse`, takes the connection the last call left open), sends `req`
    /// and reads the head, all before `deadline` (which stays on the returned body).
    fn exchange(
        &self,
        req: Request,
        deadline: Instant,
        reuse: bool,
    ) -> Result<(Head, BodyReader), CoreError> {
        let url = address::parse(&req.url)
            .map_err(|e| CoreError::config(format!("bad service URL {:?}: {e}", req.url)))?;
        let (host, port, tls) = (
            url.origin.host.clone(),
            url.origin.port_or_default(),
            url.origin.tls,
        );
        let authority = Authority(url.origin.authority());
        let origin = format!("{}://{authority}", if tls { "https" } else { "http" });
        let mut out = request_head(&req, &url.target(), &authority, reuse)?;
        if let Some(body) = &req.body {
            out.extend_from_slice(body);
        }

        let cancel = background::current_cancel();
        if reuse && let Some(idle) = self.take_idle(&origin) {
            if let Some(cancel) = &cancel {
                cancel.watch(&idle.control);
            }
            idle.timing.restart(deadline, req.timeout);
            let (reader, control, timing) = (idle.reader, idle.control, idle.timing);
            // A connection the service closed meanwhile is replaced; nothing was processed.
            if let Some((head, reader)) = request_on(reader, &out, &authority, true)? {
                return body_reader(head, reader, control, authority, origin, timing);
            }
            // Closed by this call's own cancellation: nothing to replace.
            if cancel
                .as_deref()
                .is_some_and(background::CallCancel::is_cancelled)
            {
                return Err(net_error(
                    &authority,
                    "could not send the request to",
                    &connect::cancelled(),
                ));
            }
        }

        let addrs = connect::resolve(&host, port, deadline, cancel.as_deref())
            .map_err(|e| net_error(&authority, "could not look up", &e))?;
        if addrs.is_empty() {
            return Err(CoreError::Network {
                message: format!("{authority} has no address"),
            });
        }
        let tcp = connect::connect_any(&addrs, deadline, cancel.as_deref())
            .map_err(|e| net_error(&authority, "could not connect to", &e))?;
        if let Some(cancel) = &cancel {
            cancel.watch(&tcp);
        }
        let control = tcp
            .try_clone()
            .map_err(|e| net_error(&authority, "could not set up the connection", &e))?;
        let _ = tcp.set_nodelay(true);
        let timing = Arc::new(Timing {
            limits: Mutex::new((Some(deadline), req.timeout)),
        });
        let timed = Timed {
            tcp,
            timing: timing.clone(),
        };
        let conn = if tls {
            self.tls_session(&host, &authority, timed)?
        } else {
            Conn::Plain(timed)
        };
        let reader = BufReader::with_capacity(8 * 1024, conn);
        let (head, reader) = request_on(reader, &out, &authority, false)?
            .ok_or_else(|| net_error(&authority, "no valid answer from", &keep::closed()))?;
        body_reader(head, reader, control, authority, origin, timing)
    }
}

/// Sends the request bytes `out` on a connection and reads the response head. `None` when
/// the connection was `reused` and turns out closed before any of the answer arrived.
fn request_on(
    mut reader: BufReader<Conn>,
    out: &[u8],
    authority: &Authority,
    reused: bool,
) -> Result<Option<(Head, BufReader<Conn>)>, CoreError> {
    // The TLS handshake happens in this first write: certificate errors surface here.
    if let Err(e) = reader
        .get_mut()
        .write_all(out)
        .and_then(|()| reader.get_mut().flush())
    {
        if reused && keep::is_closed(&e) {
            return Ok(None);
        }
        return Err(net_error(authority, "could not send the request to", &e));
    }
    if reused {
        match std::io::BufRead::fill_buf(&mut reader) {
            Ok([]) => return Ok(None),
            Err(e) if keep::is_closed(&e) => return Ok(None),
            _ => {}
        }
    }
    let head =
        read_head(&mut reader).map_err(|e| net_error(authority, "no valid answer from", &e))?;
    Ok(Some((head, reader)))
}

fn body_reader(
    head: Head,
    reader: BufReader<Conn>,
    control: TcpStream,
    authority: Authority,
    origin: String,
    timing: Arc<Timing>,
) -> Result<(Head, BodyReader), CoreError> {
    let framing =
        framing::framing(&head).map_err(|e| net_error(&authority, "bad answer from", &e))?;
    Ok((
        head,
        BodyReader {
            decoder: Decoder::new(reader, framing),
            control,
            authority,
            origin,
            timing,
        },
    ))
}

impl HttpClient {
    #[cfg(feature = "tls")]
    fn tls_session(
        &self,
        host: &Host,
        authority: &Authority,
        timed: Timed,
    ) -> Result<Conn, CoreError> {
        let name = match host {
            Host::Domain(d) => ServerName::try_from(d.clone()).map_err(|e| {
                CoreError::config(format!("{authority} is not a valid TLS server name: {e}"))
            })?,
            Host::Ipv4(ip) => ServerName::IpAddress(IpAddr::V4(*ip).into()),
            Host::Ipv6(ip) => ServerName::IpAddress(IpAddr::V6(*ip).into()),
        };
        let session = rustls::ClientConnection::new(self.tls.clone(), name)
            .map_err(|e| CoreError::config(format!("could not set up TLS: {e}")))?;
        Ok(Conn::Tls(Box::new(rustls::StreamOwned::new(
            session, timed,
        ))))
    }

    #[cfg(not(feature = "tls"))]
    fn tls_session(
        &self,
        _host: &Host,
        authority: &Authority,
        _timed: Timed,
    ) -> Result<Conn, CoreError> {
        Err(CoreError::config(format!(
            "this build of the Tapprove library has no built-in TLS, so it cannot reach https://{authority} by itself: create the Authenticator with an HttpTransport (the platform's HTTP stack); the live event stream is not available in this build"
        )))
    }
}

#[cfg(all(feature = "tls", not(target_os = "android")))]
fn tls_roots(
    builder: rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>, CoreError>
{
    // The platform's trust store: Security.framework on Apple platforms (honours roots a
    // company installs by MDM), the system bundle (`SSL_CERT_FILE` / `SSL_CERT_DIR`) elsewhere.
    let verifier = rustls_platform_verifier::Verifier::new(provider)
        .map_err(|e| CoreError::config(format!("could not load the trusted roots: {e}")))?;
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier)))
}

/// On Android the platform verifier needs a JNI initialisation from the app's Java side; the
/// Mozilla roots need none, so the SDK works from any thread, including
/// FirebaseMessagingService, with no setup call.
#[cfg(all(feature = "tls", target_os = "android"))]
fn tls_roots(
    builder: rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>,
    _provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>, CoreError>
{
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(builder.with_root_certificates(roots))
}

/// Header values may hold no line break, so that no value (an SDK key from an enrollment
/// link, say) can inject a header, whichever HTTP stack sends them.
pub(crate) fn check_header_values(req: &Request) -> Result<(), CoreError> {
    for (name, value) in &req.headers {
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(CoreError::config(format!(
                "the {name} header value contains a line break"
            )));
        }
    }
    Ok(())
}

/// The request line and headers (values checked by [`check_header_values`]).
/// `keep_alive`: the connection may serve the next call (else `Connection: close`).
fn request_head(
    req: &Request,
    target: &str,
    authority: &Authority,
    keep_alive: bool,
) -> Result<Vec<u8>, CoreError> {
    let mut head = format!(
        "{} {target} HTTP/1.1\r\nHost: {authority}\r\n{}",
        req.method.as_str(),
        if keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        }
    );
    check_header_values(req)?;
    for (name, value) in &req.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    match (&req.body, req.method) {
        (Some(b), _) => head.push_str(&format!("Content-Length: {}\r\n", b.len())),
        (None, Method::Post | Method::Put) => head.push_str("Content-Length: 0\r\n"),
        (None, _) => {}
    }
    head.push_str("\r\n");
    Ok(head.into_bytes())
}

/// The time limits of the call a connection serves: its deadline (until
/// [`Timing::end_deadline`]) and the longest wait of one read or write.
#[derive(Debug)]
struct Timing {
    limits: Mutex<(Option<Instant>, Duration)>,
}

impl Timing {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Option<Instant>, Duration)> {
        self.limits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long the next read or write may wait; an error once the deadline has passed.
    fn limit(&self) -> io::Result<Duration> {
        match *self.lock() {
            (Some(deadline), idle) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(connect::timed_out("the call took too long"))
                } else {
                    Ok(left.min(idle))
                }
            }
            (None, idle) => Ok(idle),
        }
    }

    /// From now on only the per-read limit applies (a long-lived stream).
    fn end_deadline(&self) {
        self.lock().0 = None;
    }

    /// The limits of the next call on a kept connection.
    fn restart(&self, deadline: Instant, idle: Duration) {
        *self.lock() = (Some(deadline), idle);
    }
}

/// A socket whose every read and write waits at most what its [`Timing`] allows.
struct Timed {
    tcp: TcpStream,
    timing: Arc<Timing>,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.set_read_timeout(Some(self.timing.limit()?))?;
        self.tcp.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.set_write_timeout(Some(self.timing.limit()?))?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// Whether a read failed because nothing arrived within the timeout.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A transport error as [`CoreError::Network`], phrased for people: timeouts say so.
fn net_error(authority: &Authority, what: &str, e: &io::Error) -> CoreError {
    let message = match e.kind() {
        _ if is_timeout(e) => {
            format!("{what} {authority}: no answer in time")
        }
        _ => format!("{what} {authority}: {e}"),
    };
    CoreError::Network { message }
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

enum Conn {
    Plain(Timed),
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Timed>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// The body of a response, decoded from its framing. Reading returns what has arrived (it
/// does not wait to fill the buffer), so an event stream is seen as it comes.
pub(crate) struct BodyReader {
    decoder: Decoder<BufReader<Conn>>,
    /// The same socket, to shut it down from another thread.
    control: TcpStream,
    authority: Authority,
    /// Scheme and authority: which calls may take the connection over.
    origin: String,
    timing: Arc<Timing>,
}

impl BodyReader {
    /// A handle that shuts the connection down: a read blocked in another thread returns.
    pub(crate) fn canceller(&self) -> io::Result<Canceller> {
        self.control.try_clone().map(Canceller)
    }

    /// Reads the next piece of the body; `Ok(0)` at its end. See [`is_timeout`] and
    /// [`BodyReader::error`] for the errors.
    pub(crate) fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.decoder.read(buf)
    }

    /// A read error of this body as [`CoreError::Network`].
    pub(crate) fn error(&self, e: &io::Error) -> CoreError {
        net_error(&self.authority, "lost the connection to", e)
    }

    /// Reads the rest of the body, at most `limit` bytes, within the call's deadline.
    fn read_all(&mut self, limit: usize) -> Result<Vec<u8>, CoreError> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8 * 1024];
        loop {
            let n = match self.read_some(&mut buf) {
                Ok(n) => n,
                Err(e) if is_timeout(&e) => {
                    return Err(CoreError::Network {
                        message: format!("{}: the answer did not arrive in time", self.authority),
                    });
                }
                Err(e) => return Err(self.error(&e)),
            };
            if n == 0 {
                return Ok(out);
            }
            if out.len() + n > limit {
                return Err(CoreError::Network {
                    message: format!(
                        "{} sent an answer larger than {limit} bytes",
                        self.authority
                    ),
                });
            }
            out.extend_from_slice(&buf[..n]);
        }
    }
}

/// Reads one response out of `raw` as [`HttpClient::open`] and [`BodyReader`] do (head,
/// framing, body of at most [`MAX_BODY`]), buffered `capacity` bytes at a time and read `chunk`
/// bytes at a time, so a fuzzer can cut the input anywhere. Not part of the API: the entry
/// point of the `http_response` fuzz target.
#[doc(hidden)]
pub fn read_response_for_fuzzing(
    raw: &[u8],
    capacity: usize,
    chunk: usize,
) -> io::Result<(u16, Vec<u8>)> {
    let mut reader = std::io::BufReader::with_capacity(capacity.max(1), raw);
    let head = read_head(&mut reader)?;
    let framing = framing::framing(&head)?;
    let mut decoder = Decoder::new(reader, framing);
    let mut body = Vec::new();
    let mut buf = vec![0u8; chunk.max(1)];
    loop {
        match decoder.read(&mut buf)? {
            0 => return Ok((head.status, body)),
            n if body.len() + n > MAX_BODY => return Err(invalid("body too large")),
            n => body.extend_from_slice(&buf[..n]),
        }
    }
}

/// Shuts a connection down from another thread (see [`BodyReader::canceller`]).
#[derive(Debug)]
pub(crate) struct Canceller(TcpStream);

impl Canceller {
    pub(crate) fn cancel(&self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests;
