//! Keeping a call's connection open for the next call to the same service (HTTP/1.1
//! persistent connections, RFC 9112 §9.3).
//!
//! One connection is kept, the last one whose answer was complete: a device talks to one
//! service and makes its calls one after another. It is taken only while it is fresh
//! ([`FRESH`], shorter than the service's idle limit) and still open with nothing unread on it;
//! a kept connection the service closed just as the next request went out is replaced by a
//! new one, and the request sent again, only when no byte of an answer arrived (a server
//! closes only idle connections, so it processed nothing). A call cancelled while it uses the
//! connection shuts it down as any other (see `crate::background`).

use std::io::{self, BufReader};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::framing::Framing;
use super::{BodyReader, Conn, Head, HttpClient, Timing};

/// How long a connection may wait for the next call (the service closes connections that
/// send no request for its `header_read_timeout`, 10 s by default).
const FRESH: Duration = Duration::from_secs(5);

/// A connection left open after a complete answer.
pub(super) struct Idle {
    origin: String,
    pub(super) reader: BufReader<Conn>,
    pub(super) control: TcpStream,
    pub(super) timing: Arc<Timing>,
    since: Instant,
}

impl HttpClient {
    /// The kept connection, if it goes to `origin`, is fresh and is still open.
    pub(super) fn take_idle(&self, origin: &str) -> Option<Idle> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        (idle.origin == origin && idle.since.elapsed() < FRESH && open_and_quiet(&idle.control))
            .then_some(idle)
    }

    /// Keeps the connection of a call whose whole answer (`head`, and `body` read to its end)
    /// arrived, unless either side asked to close it.
    pub(super) fn keep(&self, head: &Head, body: BodyReader) {
        let closing = head
            .header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
        let reader = body.decoder.reader;
        if closing || body.decoder.framing != Framing::Done || !reader.buffer().is_empty() {
            return;
        }
        let idle = Idle {
            origin: body.origin,
            reader,
            control: body.control,
            timing: body.timing,
            since: Instant::now(),
        };
        *self.idle.lock().unwrap_or_else(|p| p.into_inner()) = Some(idle);
    }
}

/// Whether nothing arrived on an idle connection, not even its end: a peek that would block.
pub(super) fn open_and_quiet(socket: &TcpStream) -> bool {
    if socket.set_nonblocking(true).is_err() {
        return false;
    }
    let quiet =
        matches!(socket.peek(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
    socket.set_nonblocking(false).is_ok() && quiet
}

/// Whether an error says the other side closed the connection.
pub(super) fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
            | io::ErrorKind::UnexpectedEof
    )
}

/// The error of a connection that closed before any of the answer arrived.
pub(super) fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the connection closed before the answer",
    )
}
