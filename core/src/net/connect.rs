//! Reaching the service within the call's deadline: the host name looked up on a helper thread
//! (the system resolver has no timeout of its own), then the addresses tried in interleaved
//! families, a new attempt starting every [`STAGGER`] while earlier ones are still pending
//! (RFC 8305, "happy eyeballs"), so one broken route (often IPv6) costs a quarter second, not
//! a connect timeout. Every wait also ends when the call is cancelled.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::address::Host;

use crate::background::{self, CallCancel};

/// Delay before the next address is tried while the previous attempt is still pending.
pub(super) const STAGGER: Duration = Duration::from_millis(250);
/// How often a wait looks at the cancellation flag.
const POLL: Duration = Duration::from_millis(50);

pub(super) fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

pub(super) fn cancelled() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "the call was cancelled")
}

/// Results posted by helper threads to the waiting call (a `std::sync::mpsc` channel would do,
/// at several KB of code per result type in the phone library).
struct Mailbox<T> {
    items: Mutex<VecDeque<T>>,
    posted: Condvar,
}

impl<T> Mailbox<T> {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            items: Mutex::new(VecDeque::new()),
            posted: Condvar::new(),
        })
    }

    fn post(&self, item: T) {
        self.items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(item);
        self.posted.notify_one();
    }

    /// The next item, waiting until `until` in slices so that a cancellation is seen within
    /// [`POLL`]; `None` at `until`.
    fn wait(&self, until: Instant, cancel: Option<&CallCancel>) -> io::Result<Option<T>> {
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(item) = items.pop_front() {
                return Ok(Some(item));
            }
            if cancel.is_some_and(CallCancel::is_cancelled) {
                return Err(cancelled());
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            items = self
                .posted
                .wait_timeout(items, left.min(POLL))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Starts a helper thread.
fn helper(name: &str, work: impl FnOnce() + Send + 'static) -> io::Result<()> {
    background::spawn(name, Box::new(work)).map_err(|e| io::Error::other(e.to_string()))
}

/// The addresses of `host`, looked up before `deadline`.
pub(super) fn resolve(
    host: &Host,
    port: u16,
    deadline: Instant,
    cancel: Option<&CallCancel>,
) -> io::Result<Vec<SocketAddr>> {
    let name = match host {
        Host::Domain(d) => d.clone(),
        Host::Ipv4(ip) => return Ok(vec![SocketAddr::new(IpAddr::V4(*ip), port)]),
        Host::Ipv6(ip) => return Ok(vec![SocketAddr::new(IpAddr::V6(*ip), port)]),
    };
    let mailbox = Mailbox::new();
    let post = mailbox.clone();
    // A lookup that outlives the deadline ends on its own (the resolver's own retries) and
    // its result is dropped.
    helper("tapprove-dns", move || {
        post.post(
            (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>),
        );
    })?;
    match mailbox.wait(deadline, cancel)? {
        Some(result) => result,
        None => Err(timed_out("the name lookup took too long")),
    }
}

/// Alternates address families, starting with the resolver's first choice (RFC 8305 §4).
pub(super) fn interleave(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return Vec::new();
    };
    let (mut same, mut other): (Vec<_>, Vec<_>) =
        addrs.iter().partition(|a| a.is_ipv6() == first.is_ipv6());
    same.reverse();
    other.reverse();
    let mut out = Vec::with_capacity(addrs.len());
    while let Some(a) = same.pop() {
        out.push(a);
        if let Some(b) = other.pop() {
            out.push(b);
        }
    }
    out.extend(other.into_iter().rev());
    out
}

/// Connects to the first of `addrs` that answers before `deadline`: attempt `n + 1` starts
/// when attempt `n` failed or after [`STAGGER`], whichever is first; the first connection
/// wins and later ones are closed.
pub(super) fn connect_any(
    addrs: &[SocketAddr],
    deadline: Instant,
    cancel: Option<&CallCancel>,
) -> io::Result<TcpStream> {
    let addrs = interleave(addrs);
    let mailbox = Mailbox::<io::Result<TcpStream>>::new();
    let mut started = 0;
    let mut pending = 0;
    let mut last_error = None;
    let mut next_start = Instant::now();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(timed_out("connecting took too long"));
        }
        if let Some(&addr) = addrs.get(started)
            && now >= next_start
        {
            started += 1;
            let post = mailbox.clone();
            let budget = deadline - now;
            // A connection that lost the race is dropped (closed) with the mailbox.
            let spawned = helper("tapprove-connect", move || {
                post.post(TcpStream::connect_timeout(&addr, budget));
            });
            match spawned {
                Ok(()) => pending += 1,
                Err(e) => last_error = Some(e),
            }
            next_start = now + STAGGER;
            continue;
        }
        if pending == 0 && started == addrs.len() {
            return Err(last_error.unwrap_or_else(|| io::Error::other("the host has no address")));
        }
        let until = if started < addrs.len() {
            next_start.min(deadline)
        } else {
            deadline
        };
        match mailbox.wait(until, cancel)? {
            Some(Ok(stream)) => return Ok(stream),
            Some(Err(e)) => {
                pending -= 1;
                last_error = Some(e);
                next_start = Instant::now(); // a failed attempt hands over at once
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn families_alternate_from_the_first_choice() {
        let list = [
            addr("[::1]:1"),
            addr("[::2]:1"),
            addr("[::3]:1"),
            addr("1.0.0.1:1"),
            addr("1.0.0.2:1"),
        ];
        assert_eq!(
            interleave(&list),
            vec![list[0], list[3], list[1], list[4], list[2]]
        );
        let v4_first = [
            addr("1.0.0.1:1"),
            addr("1.0.0.2:1"),
            addr("1.0.0.3:1"),
            addr("[::1]:1"),
        ];
        assert_eq!(
            interleave(&v4_first),
            vec![v4_first[0], v4_first[3], v4_first[1], v4_first[2]]
        );
        assert!(interleave(&[]).is_empty());
    }
}
