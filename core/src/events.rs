//! The live event stream (`GET /v1/device/events`, Server-Sent Events) as a `Stream`.
//!
//! Each account's stream is read on a thread of its own with blocking reads (a read that sees
//! nothing, not even a keep-alive, for [`IDLE_TIMEOUT`] reconnects); events reach the
//! [`EventStream`] through a channel. Dropping the stream (or [`EventStreamStopper::stop`])
//! shuts the sockets down, so the threads end at once.

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures_core::Stream;
use tapprove_protocol::api::DecidedEvent;
use tracing::{debug, warn};

use crate::api_client::{BodyCanceller, ChunkError, EventBody};
use crate::background;
use crate::error::{CoreError, SignerError};
use crate::model::{AccountRecord, LoginRequest, RequestEvent};
use crate::sse::SseParser;

/// Reconnect when nothing (not even a keep-alive comment, sent every 15 s) arrives this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// First reconnect delay; doubles per consecutive failure.
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest reconnect delay.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Request ids one stream remembers for de-duplication; older ones are forgotten (a request
/// expires within minutes, and an answered one is filtered by the request cache anyway).
const MAX_SEEN: usize = 1024;

type Item = Result<RequestEvent, CoreError>;

/// What a stream needs from the authenticator: verify and record what arrives, re-read what
/// was missed, and open the connection.
pub(crate) trait EventSource: Send + Sync {
    /// Verifies a challenge for `account_id` and records it (see `Authenticator::handle_push`).
    fn accept_challenge(&self, token: &str, account_id: &str) -> Result<LoginRequest, CoreError>;
    /// The account's pending requests, verified.
    fn fetch_pending(&self, account: &AccountRecord) -> Result<Vec<LoginRequest>, CoreError>;
    /// Whether this device answered the request.
    fn is_answered(&self, request_id: &str) -> bool;
    /// The request is over with `status` (decided elsewhere, or ended unanswered).
    fn request_over(&self, request_id: &str, status: tapprove_protocol::api::SessionStatus);
    /// Verifies and applies a key update for `account_id` (`event: key_update`).
    fn accept_key_update(&self, token: &str, account_id: &str) -> Result<(), CoreError>;
    /// Opens the account's event stream; each read waits at most `idle`.
    fn open_events(&self, account: &AccountRecord, idle: Duration) -> Result<EventBody, CoreError>;
}

/// The stream returned by [`crate::Authenticator::events`]: requests and decisions as they
/// arrive. Ends after a fatal error on every account; dropping it stops listening.
pub struct EventStream {
    rx: UnboundedReceiver<Item>,
    stop: Arc<Stop>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl Stream for EventStream {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        Pin::new(&mut self.rx).poll_next(cx)
    }
}

impl EventStream {
    /// The next item, waiting on the calling thread (for callers without an async runtime).
    /// `None` once the stream has ended or was stopped.
    pub fn blocking_next(&mut self) -> Option<Item> {
        futures_executor::block_on(futures_util::StreamExt::next(&mut self.rx))
    }

    /// A handle that stops this stream from another thread.
    pub fn stopper(&self) -> EventStreamStopper {
        EventStreamStopper(self.stop.clone())
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.stop.stop();
    }
}

/// Stops an [`EventStream`] from anywhere: its connections are shut down, its threads end,
/// and the stream then yields `None`.
#[derive(Clone, Debug)]
pub struct EventStreamStopper(Arc<Stop>);

impl EventStreamStopper {
    /// Stops listening. Idempotent.
    pub fn stop(&self) {
        self.0.stop();
    }
}

/// Shared by a stream and its reader threads.
#[derive(Debug, Default)]
struct Stop {
    stopped: AtomicBool,
    /// The open connections, by account index, to shut down on stop.
    sockets: Mutex<Vec<(usize, BodyCanceller)>>,
    /// Wakes reader threads sleeping between reconnects.
    wake: Condvar,
    sleeping: Mutex<()>,
}

impl Stop {
    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        for (_, socket) in self.lock_sockets().drain(..) {
            socket.cancel();
        }
        let _guard = self.sleeping.lock().unwrap_or_else(|p| p.into_inner());
        self.wake.notify_all();
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    fn lock_sockets(&self) -> std::sync::MutexGuard<'_, Vec<(usize, BodyCanceller)>> {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers account `index`'s open connection; shuts it at once if already stopped.
    fn register(&self, index: usize, socket: BodyCanceller) {
        let mut sockets = self.lock_sockets();
        if self.is_stopped() {
            socket.cancel();
        } else {
            sockets.push((index, socket));
        }
    }

    fn unregister(&self, index: usize) {
        self.lock_sockets().retain(|(i, _)| *i != index);
    }

    /// Sleeps `d` unless stopped first; returns whether to go on.
    fn sleep(&self, d: Duration) -> bool {
        let guard = self.sleeping.lock().unwrap_or_else(|p| p.into_inner());
        if self.is_stopped() {
            return false;
        }
        let _ = self
            .wake
            .wait_timeout_while(guard, d, |_| !self.is_stopped())
            .unwrap_or_else(|p| p.into_inner());
        !self.is_stopped()
    }
}

pub(crate) fn failed(e: CoreError) -> EventStream {
    let (tx, rx) = unbounded();
    let _ = tx.unbounded_send(Err(e));
    EventStream {
        rx,
        stop: Arc::default(),
    }
}

pub(crate) fn stream(
    source: Arc<dyn EventSource>,
    accounts: Vec<Arc<AccountRecord>>,
) -> EventStream {
    let (tx, rx) = unbounded();
    let stop = Arc::new(Stop::default());
    let seen = Arc::new(Mutex::new(SeenIds::default()));
    for (index, account) in accounts.into_iter().enumerate() {
        let reader = Reader {
            source: source.clone(),
            account,
            index,
            seen: seen.clone(),
            queue: VecDeque::new(),
            tx: tx.clone(),
            stop: stop.clone(),
            failures: 0,
            connected_before: false,
            done: false,
        };
        if let Err(e) = background::spawn("tapprove-events", Box::new(move || reader.run())) {
            let _ = tx.unbounded_send(Err(e));
        }
    }
    EventStream { rx, stop }
}

/// One account's reader thread.
struct Reader {
    source: Arc<dyn EventSource>,
    account: Arc<AccountRecord>,
    index: usize,
    /// Request ids already delivered on this stream (shared by the accounts of one stream).
    seen: Arc<Mutex<SeenIds>>,
    queue: VecDeque<Item>,
    tx: UnboundedSender<Item>,
    stop: Arc<Stop>,
    failures: u32,
    connected_before: bool,
    done: bool,
}

/// The request ids a stream delivered, the oldest forgotten beyond [`MAX_SEEN`].
#[derive(Debug, Default)]
struct SeenIds {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl SeenIds {
    /// Remembers `id`; whether it was new.
    fn insert(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        if self.order.len() >= MAX_SEEN
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        self.order.push_back(id.to_owned());
        self.ids.insert(id.to_owned());
        true
    }
}

/// Errors after which reconnecting cannot help.
fn is_fatal(e: &CoreError) -> bool {
    matches!(
        e,
        CoreError::NotPaired
            | CoreError::Revoked { .. }
            | CoreError::InvalidConfig { .. }
            | CoreError::UpdateRequired { .. }
            | CoreError::UnknownAccount { .. }
            | CoreError::InvalidSdkKey
            | CoreError::Signer(SignerError::KeyNotFound { .. })
    )
}

/// Delay before reconnect attempt number `failures` (1-based).
pub(crate) fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(1 << exp).min(BACKOFF_MAX)
}

impl Reader {
    fn deliver(&mut self, request: LoginRequest) {
        let fresh = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(&request.id);
        if fresh && !self.source.is_answered(&request.id) {
            self.queue.push_back(Ok(RequestEvent::Request(request)));
        }
    }

    fn fail(&mut self, e: CoreError) {
        if is_fatal(&e) {
            self.done = true;
        } else {
            self.failures = self.failures.saturating_add(1);
        }
        self.queue.push_back(Err(e));
    }

    fn on_event(&mut self, event: &str, data: &str) {
        match event {
            "challenge" => match self.source.accept_challenge(data, &self.account.id) {
                Ok(r) => self.deliver(r),
                Err(CoreError::AlreadyAnswered | CoreError::RequestEnded { .. }) => {}
                Err(CoreError::Expired) => {
                    debug!(account_id = %self.account.id, "skipping an expired request")
                }
                Err(e) => {
                    warn!(account_id = %self.account.id, error = %e, "refusing a request from the event stream");
                    self.queue.push_back(Err(e));
                }
            },
            "decided" => match serde_json::from_str::<DecidedEvent>(data) {
                Ok(d) => {
                    self.source.request_over(&d.session_id, d.status);
                    self.queue.push_back(Ok(RequestEvent::Decided {
                        request_id: d.session_id,
                        status: d.status,
                    }));
                }
                Err(e) => warn!(error = %e, "ignoring an unreadable decided event"),
            },
            tapprove_protocol::api::KEY_UPDATE_EVENT => {
                if let Err(e) = self.source.accept_key_update(data, &self.account.id) {
                    self.queue.push_back(Err(e));
                }
            }
            other => debug!(event = other, "ignoring event"),
        }
    }
}

impl Reader {
    /// Hands queued items to the stream; false when nobody listens any more.
    fn flush(&mut self) -> bool {
        while let Some(item) = self.queue.pop_front() {
            if self.tx.unbounded_send(item).is_err() {
                return false;
            }
        }
        !self.stop.is_stopped()
    }

    fn run(mut self) {
        while self.flush() && !self.done {
            if self.failures > 0 && !self.stop.sleep(backoff(self.failures)) {
                return;
            }
            if self.connected_before {
                // Re-read what may have been missed while disconnected.
                match self.source.fetch_pending(&self.account) {
                    Ok(list) => list.into_iter().for_each(|r| self.deliver(r)),
                    Err(e) => {
                        self.fail(e);
                        continue;
                    }
                }
            }
            match self.source.open_events(&self.account, IDLE_TIMEOUT) {
                Ok(body) => {
                    debug!(account_id = %self.account.id, "event stream connected");
                    self.connected_before = true;
                    self.stop.register(self.index, body.canceller());
                    self.read(body);
                    self.stop.unregister(self.index);
                }
                Err(e) => self.fail(e),
            }
        }
    }

    /// Reads one connection until it ends, fails or the stream is stopped.
    fn read(&mut self, mut body: EventBody) {
        let mut parser = SseParser::new();
        let mut buf = vec![0u8; 8 * 1024];
        loop {
            if !self.flush() {
                return;
            }
            match body.next_chunk(&mut buf) {
                Ok(None) => {
                    // The service closed the stream (restart, deploy): reconnect after a pause.
                    debug!(account_id = %self.account.id, "event stream closed; reconnecting");
                    self.failures = self.failures.saturating_add(1);
                    return;
                }
                Ok(Some(chunk)) => {
                    self.failures = 0;
                    match parser.push(&chunk) {
                        Ok(events) => {
                            for ev in events {
                                self.on_event(&ev.event, &ev.data);
                            }
                        }
                        Err(e) => {
                            return self.fail(CoreError::Network {
                                message: e.to_string(),
                            });
                        }
                    }
                }
                Err(_) if self.stop.is_stopped() => return,
                Err(ChunkError::Timeout) => {
                    return self.fail(CoreError::Network {
                        message: format!(
                            "the event stream was silent for {} s; reconnecting",
                            IDLE_TIMEOUT.as_secs()
                        ),
                    });
                }
                Err(ChunkError::Failed(e)) => return self.fail(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let secs: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn fatal_errors_end_the_stream() {
        assert!(is_fatal(&CoreError::NotPaired));
        assert!(is_fatal(&CoreError::config("no built-in TLS")));
        assert!(is_fatal(&CoreError::UpdateRequired {
            message: String::new()
        }));
        assert!(!is_fatal(&CoreError::Network {
            message: String::new()
        }));
        assert!(!is_fatal(&CoreError::Service {
            status: 500,
            code: String::new(),
            message: String::new()
        }));
    }

    #[test]
    fn the_seen_set_is_bounded_and_still_deduplicates() {
        let mut seen = SeenIds::default();
        for i in 0..(3 * MAX_SEEN) {
            assert!(seen.insert(&format!("ses_{i}")));
        }
        assert_eq!((seen.order.len(), seen.ids.len()), (MAX_SEEN, MAX_SEEN));
        let newest = format!("ses_{}", 3 * MAX_SEEN - 1);
        assert!(!seen.insert(&newest), "a recent id is still known");
        assert!(seen.insert("ses_0"), "the oldest ids were forgotten");
    }
}
