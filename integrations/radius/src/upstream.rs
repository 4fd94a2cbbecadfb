//! The first factor: the user's password checked by the upstream RADIUS server before any push.
//!
//! The password arrives hidden with the NAS's secret; it is revealed, hidden again with the
//! upstream's secret under a fresh Request Authenticator, and sent with a Message-Authenticator.
//! The answer must carry the right Response Authenticator (and Message-Authenticator, when the
//! upstream sends one); anything else is no answer.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::config::Upstream;
use crate::packet::{self, Attribute, Packet, attr, code};

/// How long one try waits for the upstream's answer.
const TRY_TIMEOUT: Duration = Duration::from_secs(2);
/// Tries (the same packet: a retransmission, RFC 5080 §2.2.1).
const TRIES: u32 = 3;

/// The upstream's verdict on the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Access-Accept.
    Accepted,
    /// Access-Reject (or an Access-Challenge, which a second factor cannot pass on).
    Rejected,
}

/// Why the upstream gave no verdict.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No valid answer after every try.
    #[error("the upstream RADIUS server {0} did not answer")]
    NoAnswer(SocketAddr),
    /// A socket error.
    #[error("cannot talk to the upstream RADIUS server {addr}: {source}")]
    Io {
        /// Its address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The password cannot be re-hidden (too long).
    #[error("the password cannot be forwarded: {0}")]
    Password(#[from] packet::BadPassword),
}

/// Asks the upstream whether `password` is `user`'s. NAS attributes of `request` that help the
/// upstream's policy (NAS-IP-Address, NAS-Identifier, Calling-Station-Id) are passed along.
pub async fn check(
    upstream: &Upstream,
    request: &Packet,
    user: &[u8],
    password: &[u8],
) -> Result<Verdict, UpstreamError> {
    let addr = upstream.address;
    let io = |source| UpstreamError::Io { addr, source };
    let mut random = [0u8; 17];
    crate::fill_random(&mut random);
    let mut authenticator = [0u8; 16];
    authenticator.copy_from_slice(&random[..16]);
    let mut req = Packet::new(code::ACCESS_REQUEST, random[16], authenticator);
    req.attributes.push(Attribute::new(attr::USER_NAME, user));
    req.attributes.push(Attribute::new(
        attr::USER_PASSWORD,
        packet::hide_password(password, upstream.secret.expose(), &authenticator)?,
    ));
    for kind in [
        attr::NAS_IP_ADDRESS,
        attr::NAS_IDENTIFIER,
        attr::CALLING_STATION_ID,
    ] {
        if let Some(v) = request.attr(kind) {
            req.attributes.push(Attribute::new(kind, v));
        }
    }
    let bytes = req
        .encode_request(upstream.secret.expose())
        .map_err(|_| UpstreamError::NoAnswer(addr))?;
    let bind: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).await.map_err(io)?;
    socket.connect(addr).await.map_err(io)?;
    let mut buf = vec![0u8; packet::MAX_PACKET_LEN];
    for _ in 0..TRIES {
        socket.send(&bytes).await.map_err(io)?;
        let deadline = tokio::time::Instant::now() + TRY_TIMEOUT;
        loop {
            let n = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => {
                    // ECONNREFUSED from an earlier send: nothing listens; try again.
                    tracing::debug!(%addr, error = %e, "upstream receive failed");
                    break;
                }
                Ok(Ok(n)) => n,
            };
            let Ok(reply) = Packet::decode(&buf[..n]) else {
                continue;
            };
            if reply.identifier != req.identifier
                || reply
                    .verify_response(authenticator, upstream.secret.expose(), false)
                    .is_err()
            {
                tracing::warn!(%addr, "ignored an upstream answer that does not match (wrong secret?)");
                continue;
            }
            return Ok(match reply.code {
                code::ACCESS_ACCEPT => Verdict::Accepted,
                code::ACCESS_CHALLENGE => {
                    tracing::warn!(%addr, "the upstream asked for a challenge; refused (only passwords are supported)");
                    Verdict::Rejected
                }
                _ => Verdict::Rejected,
            });
        }
    }
    Err(UpstreamError::NoAnswer(addr))
}
