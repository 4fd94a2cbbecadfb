//! `tapprove-radius` against the real service on loopback: the packet rules (Message-Authenticator,
//! clients, retransmissions, Proxy-State), the upstream password, and push mode decided by a
//! software phone. The same cases with Debian's radclient and FreeRADIUS as the upstream are in
//! `tests/freeradius.rs` (`cargo xtask test radius`).

#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Nas, PASSWORD, Upstream, World, message};
use tapprove_radius::packet::{Attribute, attr, code};

const SILENCE: Duration = Duration::from_millis(700);
const ANSWER: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_message_authenticator_or_from_unknown_clients_are_dropped_and_counted()
 {
    let w = World::start().await;
    let server = w.radius("push", 5, None).await;
    let at = server.local_addr();

    // An unknown client (127.0.0.2 is not in [[clients]]), with the right secret.
    let stranger = Nas::new("127.0.0.2", at, common::NAS_SECRET).await;
    let req = stranger.request(1, "alice", None);
    assert!(stranger.ask(&req, SILENCE).await.is_none());

    let nas = Nas::new("127.0.0.1", at, common::NAS_SECRET).await;
    // No Message-Authenticator (what BlastRADIUS forges): no reply.
    let req = nas.request(2, "alice", None);
    nas.send(&req.encode().unwrap()).await;
    assert!(nas.reply(&req, SILENCE).await.is_none());
    // Signed with another secret: no reply.
    let wrong = Nas::new("127.0.0.1", at, "not-the-secret").await;
    let req = wrong.request(3, "alice", None);
    assert!(wrong.ask(&req, SILENCE).await.is_none());
    // Not RADIUS at all.
    nas.send(b"\x01\x02hello").await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stats = server.stats();
    assert_eq!(
        (
            stats.unknown_client,
            stats.no_message_authenticator,
            stats.bad_message_authenticator,
            stats.malformed,
            stats.replies
        ),
        (1, 1, 1, 1, 0),
        "{stats:?}"
    );
    // The server is alive: a valid request for a user without a phone is answered (Reject).
    let req = nas.request(4, "nobody", None);
    let reply = nas.ask(&req, ANSWER).await.expect("an answer");
    assert_eq!(reply.code, code::ACCESS_REJECT);
    assert_eq!(
        message(&reply).as_deref(),
        Some("No Tapprove device is paired.")
    );
    assert_eq!(w.sessions_created("nobody").await, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_at_the_upstream_is_rejected_without_a_push() {
    let w = World::start().await;
    let phone = w.phone("alice").await;
    let upstream = Upstream::start().await;
    let server = w.radius("push", 5, Some(upstream.addr)).await;
    let nas = Nas::new("127.0.0.1", server.local_addr(), common::NAS_SECRET).await;

    let req = nas.request(10, "alice", Some("wrong password"));
    let reply = nas.ask(&req, ANSWER).await.expect("an answer");
    assert_eq!(reply.code, code::ACCESS_REJECT);
    assert_eq!(
        upstream.requests.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    // A missing password is refused as well, without asking anyone.
    let req = nas.request(11, "alice", None);
    let reply = nas.ask(&req, ANSWER).await.expect("an answer");
    assert_eq!(reply.code, code::ACCESS_REJECT);
    assert_eq!(
        upstream.requests.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(w.sessions_created("alice").await, 0);
    assert!(phone.seen().is_empty());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_upstream_a_request_carrying_a_password_is_refused() {
    let w = World::start().await;
    let _phone = w.phone("alice").await;
    let server = w.radius("push", 5, None).await;
    let nas = Nas::new("127.0.0.1", server.local_addr(), common::NAS_SECRET).await;
    let req = nas.request(20, "alice", Some(PASSWORD));
    let reply = nas.ask(&req, ANSWER).await.expect("an answer");
    assert_eq!(reply.code, code::ACCESS_REJECT);
    assert_eq!(
        message(&reply).as_deref(),
        Some("This server checks the second factor only.")
    );
    assert_eq!(w.sessions_created("alice").await, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_echo_proxy_state_and_retransmissions_get_the_same_reply() {
    let w = World::start().await;
    let server = w.radius("push", 5, None).await;
    let nas = Nas::new("127.0.0.1", server.local_addr(), common::NAS_SECRET).await;
    let mut req = nas.request(30, "nobody", None);
    req.attributes
        .push(Attribute::new(attr::PROXY_STATE, "first-proxy"));
    req.attributes
        .push(Attribute::new(attr::PROXY_STATE, [0u8, 1, 2]));
    let bytes = nas.signed(&req);
    nas.send(&bytes).await;
    let first = nas.reply(&req, ANSWER).await.expect("an answer");
    let states: Vec<&[u8]> = first.attrs(attr::PROXY_STATE).collect();
    assert_eq!(states, [&b"first-proxy"[..], &[0, 1, 2][..]]);
    let started = Instant::now();
    nas.send(&bytes).await;
    let again = nas.reply(&req, ANSWER).await.expect("the cached answer");
    assert_eq!(again, first);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(server.stats().retransmissions, 1);
    server.shutdown().await;
}
