//! The UDP side: who may ask, Message-Authenticator on every request, retransmissions answered
//! from a cache, replies signed and carrying the request's Proxy-State.
//!
//! Every request that is dropped is counted in [`Stats`] and logged with its reason and the
//! running total, so an operator (and the tests) can see a NAS with the wrong secret or a
//! BlastRADIUS-style forgery attempt.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use crate::config::{Client, Config, ConfigError};
use crate::login::{self, Answer, CodeLogins};
use crate::packet::{self, Attribute, AuthenticatorError, Packet, attr, code};

/// How long a sent reply is kept for retransmissions of its request. RADIUS clients retry for
/// their own timeout, which must already exceed `timeout_seconds`; after the answer they retry
/// only when the reply was lost, within seconds.
const REPLY_CACHE: Duration = Duration::from_secs(30);
/// Most requests in flight or cached at once; more are dropped (counted as `overloaded`).
const MAX_TRACKED: usize = 4096;

/// Why a datagram got no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// From an address no `[[clients]]` entry covers.
    UnknownClient,
    /// Not a RADIUS packet.
    Malformed,
    /// Not an Access-Request (this port answers only those).
    NotAccessRequest,
    /// Without Message-Authenticator (BlastRADIUS: never accepted).
    NoMessageAuthenticator,
    /// Message-Authenticator wrong: wrong shared secret or a forgery.
    BadMessageAuthenticator,
    /// Too many requests tracked at once.
    Overloaded,
}

impl DropReason {
    /// The name in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownClient => "unknown_client",
            Self::Malformed => "malformed",
            Self::NotAccessRequest => "not_access_request",
            Self::NoMessageAuthenticator => "no_message_authenticator",
            Self::BadMessageAuthenticator => "bad_message_authenticator",
            Self::Overloaded => "overloaded",
        }
    }
}

/// Counters of a running server.
#[derive(Debug, Default)]
pub struct Stats {
    dropped: [AtomicU64; 6],
    retransmissions: AtomicU64,
    replies: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Dropped: unknown client.
    pub unknown_client: u64,
    /// Dropped: not a RADIUS packet.
    pub malformed: u64,
    /// Dropped: not an Access-Request.
    pub not_access_request: u64,
    /// Dropped: no Message-Authenticator.
    pub no_message_authenticator: u64,
    /// Dropped: wrong Message-Authenticator.
    pub bad_message_authenticator: u64,
    /// Dropped: too many in flight.
    pub overloaded: u64,
    /// Retransmissions seen (answered from the cache, or ignored while the first is pending).
    pub retransmissions: u64,
    /// Replies sent (first answers and cached ones).
    pub replies: u64,
}

impl StatsSnapshot {
    /// Every dropped request.
    pub fn dropped(&self) -> u64 {
        self.unknown_client
            + self.malformed
            + self.not_access_request
            + self.no_message_authenticator
            + self.bad_message_authenticator
            + self.overloaded
    }
}

impl Stats {
    fn drop_request(&self, reason: DropReason, from: SocketAddr) {
        let counter = &self.dropped[reason as usize];
        let total = counter.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(
            client = %from,
            reason = reason.as_str(),
            dropped_total = total,
            "dropped a RADIUS request"
        );
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let d = |r: DropReason| self.dropped[r as usize].load(Ordering::Relaxed);
        StatsSnapshot {
            unknown_client: d(DropReason::UnknownClient),
            malformed: d(DropReason::Malformed),
            not_access_request: d(DropReason::NotAccessRequest),
            no_message_authenticator: d(DropReason::NoMessageAuthenticator),
            bad_message_authenticator: d(DropReason::BadMessageAuthenticator),
            overloaded: d(DropReason::Overloaded),
            retransmissions: self.retransmissions.load(Ordering::Relaxed),
            replies: self.replies.load(Ordering::Relaxed),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The UDP port cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A request seen before: being decided, or decided with this reply.
enum Slot {
    Pending,
    Done { reply: Vec<u8>, at: Instant },
}

/// Same client (address and port), Identifier and Request Authenticator: a retransmission.
type RequestKey = (SocketAddr, u8, [u8; 16]);

/// What the request tasks share.
pub(crate) struct Shared {
    pub config: Config,
    pub rp: tapprove_rp::RpClient,
    #[allow(dead_code)]
    pub code_logins: CodeLogins,
    pub stats: Arc<Stats>,
    seen: Mutex<HashMap<RequestKey, Slot>>,
    socket: Arc<UdpSocket>,
}

/// A running server; dropping it leaves it running, [`RadiusServer::shutdown`] stops it.
pub struct RadiusServer {
    addr: SocketAddr,
    stats: Arc<Stats>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl RadiusServer {
    /// Binds `config.listen` and starts answering.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let rp = config.rp_client()?;
        let socket = UdpSocket::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = socket.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let stats = Arc::new(Stats::default());
        let shared = Arc::new(Shared {
            code_logins: CodeLogins::default(),
            config,
            rp,
            stats: stats.clone(),
            seen: Mutex::new(HashMap::new()),
            socket: Arc::new(socket),
        });
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; packet::MAX_PACKET_LEN];
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    got = shared.socket.recv_from(&mut buf) => match got {
                        Ok((n, from)) => datagram(&shared, &buf[..n], from),
                        // ICMP errors from earlier sends surface here on some systems.
                        Err(e) => tracing::debug!(error = %e, "receive failed"),
                    },
                }
            }
        });
        Ok(Self {
            addr,
            stats,
            stop,
            task,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops receiving (logins in flight finish on their own).
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// One datagram: checked, deduplicated, and handed to a task when new.
fn datagram(shared: &Arc<Shared>, bytes: &[u8], from: SocketAddr) {
    let stats = &shared.stats;
    let Some(client) = shared.config.client_for(from.ip()) else {
        return stats.drop_request(DropReason::UnknownClient, from);
    };
    let Ok(request) = Packet::decode(bytes) else {
        return stats.drop_request(DropReason::Malformed, from);
    };
    if request.code != code::ACCESS_REQUEST {
        return stats.drop_request(DropReason::NotAccessRequest, from);
    }
    match request.verify_request(client.secret.expose()) {
        Ok(()) => {}
        Err(AuthenticatorError::Missing) => {
            return stats.drop_request(DropReason::NoMessageAuthenticator, from);
        }
        Err(AuthenticatorError::Malformed | AuthenticatorError::Mismatch) => {
            return stats.drop_request(DropReason::BadMessageAuthenticator, from);
        }
    }
    let key = (from, request.identifier, request.authenticator);
    {
        let mut seen = lock(&shared.seen);
        match seen.get(&key) {
            Some(Slot::Done { reply, .. }) => {
                stats.retransmissions.fetch_add(1, Ordering::Relaxed);
                tracing::info!(client = %from, id = request.identifier, "retransmission: the same reply again");
                send(shared, reply.clone(), from);
                return;
            }
            Some(Slot::Pending) => {
                stats.retransmissions.fetch_add(1, Ordering::Relaxed);
                tracing::info!(client = %from, id = request.identifier, "retransmission of a request still waiting: ignored");
                return;
            }
            None => {}
        }
        let now = Instant::now();
        seen.retain(|_, s| match s {
            Slot::Pending => true,
            Slot::Done { at, .. } => now.duration_since(*at) < REPLY_CACHE,
        });
        if seen.len() >= MAX_TRACKED {
            drop(seen);
            return stats.drop_request(DropReason::Overloaded, from);
        }
        seen.insert(key, Slot::Pending);
    }
    let client = client.clone();
    let shared = shared.clone();
    tokio::spawn(async move {
        let answer = login::answer(&shared, &client, &request, from).await;
        let reply = match encode(&answer, &request, &client) {
            Ok(reply) => reply,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode the reply; sending a bare Access-Reject");
                let reject = Answer::reject(None);
                match encode(&reject, &request, &client) {
                    Ok(r) => r,
                    Err(_) => return,
                }
            }
        };
        lock(&shared.seen).insert(
            key,
            Slot::Done {
                reply: reply.clone(),
                at: Instant::now(),
            },
        );
        send(&shared, reply, from);
    });
}

/// The reply packet: the answer's attributes, then every Proxy-State of the request in order
/// (RFC 2865 §5.33), then the Message-Authenticator.
fn encode(
    answer: &Answer,
    request: &Packet,
    client: &Client,
) -> Result<Vec<u8>, packet::PacketError> {
    let mut reply = Packet::new(answer.code, request.identifier, request.authenticator);
    if let Some(state) = &answer.state {
        reply
            .attributes
            .push(Attribute::new(attr::STATE, state.as_slice()));
    }
    if let Some(message) = &answer.message {
        reply
            .attributes
            .push(Attribute::new(attr::REPLY_MESSAGE, message.as_bytes()));
    }
    for proxy_state in request.attrs(attr::PROXY_STATE) {
        reply
            .attributes
            .push(Attribute::new(attr::PROXY_STATE, proxy_state));
    }
    reply.encode_reply(request, client.secret.expose())
}

fn send(shared: &Arc<Shared>, reply: Vec<u8>, to: SocketAddr) {
    shared.stats.replies.fetch_add(1, Ordering::Relaxed);
    let socket = shared.socket.clone();
    tokio::spawn(async move {
        if let Err(e) = socket.send_to(&reply, to).await {
            tracing::warn!(client = %to, error = %e, "cannot send the reply");
        }
    });
}

/// Locks a mutex, also after a panic elsewhere (the maps stay consistent per operation).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
