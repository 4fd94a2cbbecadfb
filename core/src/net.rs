//! A small blocking HTTP/1.1 client for the device API: one request per connection, over TCP
//! or TLS (rustls with ring; the platform's roots, the Mozilla roots on Android), bodies framed
//! by `Content-Length`, chunked encoding or connection close, a timeout on every read and
//! write, and a socket handle that cancels a long-lived event stream at once.
//!
//! Why not reqwest/hyper: the device talks to one service with a handful of small JSON calls
//! and one event stream, and the phone library has a size budget (docs/BINDINGS.md); hyper,
//! reqwest and tokio were about 0.6 MB of it. Response heads are parsed by `httparse`.
//! The public async API runs these calls on a thread of their own (`crate::background`).

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use url::{Host, Url};

use crate::error::CoreError;

/// How long establishing the TCP connection may take, per address.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response head accepted.
const MAX_HEAD: u64 = 16 * 1024;
/// Largest response body [`HttpClient::send`] reads (device API answers are a few KB).
const MAX_BODY: usize = 1 << 20;
/// Longest chunk-size or trailer line accepted.
const MAX_LINE: u64 = 4096;

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

/// One request. `timeout` bounds every read and write and, for [`HttpClient::send`], the
/// whole exchange.
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
    tls: Arc<rustls::ClientConfig>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl HttpClient {
    pub(crate) fn new() -> Result<Self, CoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| CoreError::config(format!("could not set up TLS: {e}")))?;
        let tls = tls_roots(builder, provider)?.with_no_client_auth();
        Ok(Self { tls: Arc::new(tls) })
    }

    /// Sends `req` and reads the whole response (at most 1 MiB) within `req.timeout`.
    pub(crate) fn send(&self, req: Request) -> Result<Response, CoreError> {
        let deadline = Instant::now() + req.timeout;
        let (head, mut body) = self.open(req)?;
        let bytes = body.read_all(MAX_BODY, deadline)?;
        Ok(Response { head, body: bytes })
    }

    /// Sends `req` and reads the response head; the body is read from the returned reader
    /// (each read waits at most `req.timeout`).
    pub(crate) fn open(&self, req: Request) -> Result<(Head, BodyReader), CoreError> {
        let url = Url::parse(&req.url)
            .map_err(|e| CoreError::config(format!("bad service URL {:?}: {e}", req.url)))?;
        let (host, port) = match (url.host(), url.port_or_known_default()) {
            (Some(h), Some(p)) => (h.to_owned(), p),
            _ => {
                return Err(CoreError::config(format!(
                    "the service URL {:?} names no host",
                    req.url
                )));
            }
        };
        let authority = Authority(match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        });
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(CoreError::config(format!(
                    "unsupported URL scheme {other:?}; use https://"
                )));
            }
        };
        let head_bytes = request_head(&req, &url, &authority)?;

        let tcp = connect(&host, port, &authority)?;
        let control = tcp
            .try_clone()
            .map_err(|e| net_error(&authority, "could not set up the connection", &e))?;
        control
            .set_read_timeout(Some(req.timeout))
            .and_then(|()| control.set_write_timeout(Some(req.timeout)))
            .map_err(|e| net_error(&authority, "could not set up the connection", &e))?;
        let _ = control.set_nodelay(true);
        let mut conn = if tls {
            let name = match &host {
                Host::Domain(d) => ServerName::try_from(d.clone()).map_err(|e| {
                    CoreError::config(format!("{authority} is not a valid TLS server name: {e}"))
                })?,
                Host::Ipv4(ip) => ServerName::IpAddress(IpAddr::V4(*ip).into()),
                Host::Ipv6(ip) => ServerName::IpAddress(IpAddr::V6(*ip).into()),
            };
            let session = rustls::ClientConnection::new(self.tls.clone(), name)
                .map_err(|e| CoreError::config(format!("could not set up TLS: {e}")))?;
            Conn::Tls(Box::new(rustls::StreamOwned::new(session, tcp)))
        } else {
            Conn::Plain(tcp)
        };
        // The TLS handshake happens in this first write: certificate errors surface here.
        let mut out = head_bytes;
        if let Some(body) = &req.body {
            out.extend_from_slice(body);
        }
        conn.write_all(&out)
            .and_then(|()| conn.flush())
            .map_err(|e| net_error(&authority, "could not send the request to", &e))?;

        let mut reader = BufReader::with_capacity(8 * 1024, conn);
        let head = read_head(&mut reader)
            .map_err(|e| net_error(&authority, "no valid answer from", &e))?;
        let framing = framing(&head).map_err(|e| net_error(&authority, "bad answer from", &e))?;
        Ok((
            head,
            BodyReader {
                decoder: Decoder { reader, framing },
                control,
                authority,
                idle: req.timeout,
            },
        ))
    }
}

#[cfg(not(target_os = "android"))]
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
#[cfg(target_os = "android")]
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

/// The request line and headers. Header values are checked for line breaks so that no value
/// (an SDK key from an enrollment link, say) can inject a header.
fn request_head(req: &Request, url: &Url, authority: &Authority) -> Result<Vec<u8>, CoreError> {
    let mut target = url.path().to_owned();
    if let Some(q) = url.query() {
        target.push('?');
        target.push_str(q);
    }
    let mut head = format!(
        "{} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n",
        req.method.as_str()
    );
    for (name, value) in &req.headers {
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(CoreError::config(format!(
                "the {name} header value contains a line break"
            )));
        }
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

fn connect(host: &Host<String>, port: u16, authority: &Authority) -> Result<TcpStream, CoreError> {
    let addrs: Vec<SocketAddr> = match host {
        Host::Domain(d) => (d.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| net_error(authority, "could not look up", &e))?
            .collect(),
        Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(*ip), port)],
        Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(*ip), port)],
    };
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => net_error(authority, "could not connect to", &e),
        None => CoreError::Network {
            message: format!("{authority} has no address"),
        },
    })
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

/// Reads the response head, skipping interim `1xx` responses.
fn read_head<R: BufRead>(reader: &mut R) -> io::Result<Head> {
    loop {
        let mut buf = Vec::new();
        loop {
            let room = MAX_HEAD.saturating_sub(buf.len() as u64);
            if room == 0 {
                return Err(invalid("the response head is too large"));
            }
            let n = reader.by_ref().take(room).read_until(b'\n', &mut buf)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed before a response",
                ));
            }
            if buf.ends_with(b"\r\n\r\n") || buf.ends_with(b"\n\n") || buf == b"\r\n" {
                break;
            }
        }
        if buf == b"\r\n" {
            continue; // stray empty line before a status line
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(invalid("incomplete response head")),
            Err(e) => return Err(invalid(format!("malformed response head: {e}"))),
        }
        let status = resp.code.unwrap_or_default();
        if (100..200).contains(&status) {
            continue;
        }
        return Ok(Head {
            status,
            reason: resp.reason.unwrap_or_default().to_owned(),
            headers: resp
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).trim().to_owned(),
                    )
                })
                .collect(),
        });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// This many bytes remain.
    Length(u64),
    /// Chunked: bytes left in the current chunk, and whether its trailing CRLF is still due.
    Chunked { left: u64, crlf_due: bool },
    /// Until the connection closes.
    Close,
    /// The body is complete.
    Done,
}

fn framing(head: &Head) -> io::Result<Framing> {
    if head.status == 204 || head.status == 304 {
        return Ok(Framing::Done);
    }
    if let Some(te) = head.header("transfer-encoding") {
        let last = te.rsplit(',').next().unwrap_or_default().trim();
        return if last.eq_ignore_ascii_case("chunked") {
            Ok(Framing::Chunked {
                left: 0,
                crlf_due: false,
            })
        } else {
            Err(invalid(format!("unsupported transfer encoding {te:?}")))
        };
    }
    let mut length = None;
    for (_, v) in head
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        let n: u64 = v
            .parse()
            .map_err(|_| invalid(format!("bad Content-Length {v:?}")))?;
        if length.is_some_and(|l| l != n) {
            return Err(invalid("conflicting Content-Length headers"));
        }
        length = Some(n);
    }
    Ok(match length {
        Some(0) => Framing::Done,
        Some(n) => Framing::Length(n),
        None => Framing::Close,
    })
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// The body of a response, decoded from its framing. Reading returns what has arrived (it
/// does not wait to fill the buffer), so an event stream is seen as it comes.
pub(crate) struct BodyReader {
    decoder: Decoder<BufReader<Conn>>,
    /// The same socket, to change timeouts and to shut it down from another thread.
    control: TcpStream,
    authority: Authority,
    idle: Duration,
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

    /// Reads the rest of the body, at most `limit` bytes, before `deadline`.
    fn read_all(&mut self, limit: usize, deadline: Instant) -> Result<Vec<u8>, CoreError> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(CoreError::Network {
                    message: format!("{}: the answer did not arrive in time", self.authority),
                });
            }
            let _ = self.control.set_read_timeout(Some(left.min(self.idle)));
            let n = self.read_some(&mut buf).map_err(|e| self.error(&e))?;
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

/// Decodes a body from its framing over any buffered reader.
struct Decoder<R> {
    reader: R,
    framing: Framing,
}

fn cut_short() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the body was cut short")
}

impl<R: BufRead> Decoder<R> {
    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        self.reader
            .by_ref()
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\n") {
            return Err(if line.len() as u64 >= MAX_LINE {
                invalid("chunk line too long")
            } else {
                cut_short()
            });
        }
        Ok(line)
    }

    /// Reads at most `left` bytes of the current chunk or length.
    fn read_data(&mut self, left: u64, buf: &mut [u8]) -> io::Result<usize> {
        let max = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        match self.reader.read(&mut buf[..max])? {
            0 => Err(cut_short()),
            n => Ok(n),
        }
    }
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.framing {
                Framing::Done => return Ok(0),
                Framing::Close => return self.reader.read(buf),
                Framing::Length(left) => {
                    let n = self.read_data(left, buf)?;
                    self.framing = match left - n as u64 {
                        0 => Framing::Done,
                        left => Framing::Length(left),
                    };
                    return Ok(n);
                }
                Framing::Chunked { left: 0, crlf_due } => {
                    if crlf_due && !matches!(self.read_line()?.as_slice(), b"\r\n" | b"\n") {
                        return Err(invalid("missing line break after a chunk"));
                    }
                    let line = self.read_line()?;
                    let text =
                        std::str::from_utf8(&line).map_err(|_| invalid("bad chunk size line"))?;
                    let size = text.split(';').next().unwrap_or_default().trim();
                    let size = u64::from_str_radix(size, 16)
                        .map_err(|_| invalid(format!("bad chunk size {size:?}")))?;
                    if size == 0 {
                        // Trailer fields until an empty line.
                        while !matches!(self.read_line()?.as_slice(), b"\r\n" | b"\n") {}
                        self.framing = Framing::Done;
                    } else {
                        self.framing = Framing::Chunked {
                            left: size,
                            crlf_due: true,
                        };
                    }
                }
                Framing::Chunked { left, .. } => {
                    let n = self.read_data(left, buf)?;
                    self.framing = Framing::Chunked {
                        left: left - n as u64,
                        crlf_due: true,
                    };
                    return Ok(n);
                }
            }
        }
    }
}

/// Reads one response out of `raw` as [`HttpClient::open`] and [`BodyReader`] do (head,
/// framing, body of at most 1 MiB), buffered `capacity` bytes at a time and read `chunk` bytes
/// at a time, so a fuzzer can cut the input anywhere. Not part of the API: the entry point of
/// the `http_response` fuzz target.
#[doc(hidden)]
pub fn read_response_for_fuzzing(
    raw: &[u8],
    capacity: usize,
    chunk: usize,
) -> io::Result<(u16, Vec<u8>)> {
    let mut reader = BufReader::with_capacity(capacity.max(1), raw);
    let head = read_head(&mut reader)?;
    let framing = framing(&head)?;
    let mut decoder = Decoder { reader, framing };
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
mod tests {
    use super::*;

    fn body_of(raw: &[u8]) -> io::Result<(Head, Vec<u8>)> {
        let mut reader = io::BufReader::with_capacity(5, raw); // small reads cross boundaries
        let head = read_head(&mut reader)?;
        let framing = framing(&head)?;
        let mut decoder = Decoder { reader, framing };
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            match decoder.read(&mut buf)? {
                0 => return Ok((head, out)),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn reads_heads_and_picks_the_framing() {
        let (head, body) =
            body_of(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: Mon, 23 Nov 2026 10:00:00 GMT\r\n\r\nhelloEXTRA")
                .expect("parse");
        assert_eq!((head.status, head.reason.as_str()), (200, "OK"));
        assert_eq!(head.header("date"), Some("Mon, 23 Nov 2026 10:00:00 GMT"));
        assert_eq!(body, b"hello");

        let (_, body) = body_of(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n6\r\npedia \r\n0\r\nX-Trailer: 1\r\n\r\n",
        )
        .expect("chunked");
        assert_eq!(body, b"Wikipedia ");

        let (head, body) = body_of(b"HTTP/1.1 204 No Content\r\n\r\n").expect("204");
        assert_eq!((head.status, body.len()), (204, 0));

        let (_, body) = body_of(b"HTTP/1.0 200 OK\r\n\r\nuntil close").expect("close");
        assert_eq!(body, b"until close");
    }

    #[test]
    fn refuses_malformed_answers() {
        let bad: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"NOT HTTP\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n",
        ];
        for raw in bad {
            assert!(
                body_of(raw).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(raw)
            );
        }
        let huge = [
            b"HTTP/1.1 200 OK\r\nX: ".as_slice(),
            &[b'a'; 20_000],
            b"\r\n\r\n",
        ]
        .concat();
        assert!(body_of(&huge).is_err());
    }

    #[test]
    fn request_heads_refuse_header_injection() {
        let url = Url::parse("http://127.0.0.1:8080/v1/device/pair").expect("url");
        let authority = Authority("127.0.0.1:8080".into());
        let mut req = Request {
            method: Method::Post,
            url: url.to_string(),
            headers: vec![("X-Tapprove-SDK-Key", "tap_sdk_x".into())],
            body: Some(b"{}".to_vec()),
            timeout: Duration::from_secs(1),
        };
        let head =
            String::from_utf8(request_head(&req, &url, &authority).expect("head")).expect("utf8");
        assert!(head.starts_with("POST /v1/device/pair HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
        assert!(head.contains("\r\nX-Tapprove-SDK-Key: tap_sdk_x\r\n"));
        assert!(head.ends_with("Content-Length: 2\r\n\r\n"));
        req.headers = vec![("X-Tapprove-SDK-Key", "a\r\nEvil: 1".into())];
        assert!(matches!(
            request_head(&req, &url, &authority),
            Err(CoreError::InvalidConfig { .. })
        ));
    }
}
