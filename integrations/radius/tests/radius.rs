//! `tapprove-radius` against the real service on loopback: the packet rules (Message-Authenticator,
//! clients, retransmissions, Proxy-State), the upstream password, and push mode decided by a
//! software phone. The same cases with Debian's radclient and FreeRADIUS as the upstream are in
//! `tests/freeradius.rs` (`cargo xtask test radius`).

#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Behaviour, Nas, PASSWORD, Upstream, World, message};
use tapprove_protocol::PresenceMode;
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
    // CHAP and EAP cannot be checked here either: refused, no push.
    for (kind, value) in [
        (attr::CHAP_PASSWORD, vec![1u8; 17]),
        (attr::EAP_MESSAGE, vec![2, 0, 0, 4]),
    ] {
        let mut req = nas.request(21, "alice", None);
        req.attributes.push(Attribute::new(kind, value));
        let reply = nas.ask(&req, ANSWER).await.expect("an answer");
        assert_eq!(reply.code, code::ACCESS_REJECT, "attribute {kind}");
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_approve_accepts_deny_and_silence_reject() {
    let w = World::start().await;
    w.allow_approve_only().await;
    let phone = w.phone("alice").await;
    let upstream = Upstream::start().await;
    let server = w.radius("push", 3, Some(upstream.addr)).await;
    let nas = Nas::new("127.0.0.1", server.local_addr(), common::NAS_SECRET).await;

    phone.set(Behaviour::Approve, Duration::from_millis(300));
    let reply = nas
        .ask(&nas.request(40, "alice", Some(PASSWORD)), ANSWER)
        .await
        .expect("an answer");
    assert_eq!(reply.code, code::ACCESS_ACCEPT);
    let seen = phone.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].presence.mode, PresenceMode::None);
    assert_eq!(seen[0].title, "Sign in to vpn-gw-1");

    phone.set(Behaviour::Deny, Duration::from_millis(300));
    let reply = nas
        .ask(&nas.request(41, "alice", Some(PASSWORD)), ANSWER)
        .await
        .expect("an answer");
    assert_eq!(reply.code, code::ACCESS_REJECT);
    assert_eq!(
        message(&reply).as_deref(),
        Some("Sign-in was not approved.")
    );

    phone.set(Behaviour::Ignore, Duration::ZERO);
    let started = Instant::now();
    let reply = nas
        .ask(&nas.request(42, "alice", Some(PASSWORD)), ANSWER)
        .await
        .expect("an answer, not silence");
    let took = started.elapsed();
    assert_eq!(reply.code, code::ACCESS_REJECT);
    assert_eq!(
        message(&reply).as_deref(),
        Some("No answer from your phone in time.")
    );
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(6),
        "{took:?}"
    );
    assert_eq!(w.sessions_created("alice").await, 3);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retransmissions_and_retries_with_a_new_identifier_send_one_push() {
    let w = World::start().await;
    w.allow_approve_only().await;
    let phone = w.phone("alice").await;
    phone.set(Behaviour::Approve, Duration::from_millis(1500));
    let server = w.radius("push", 10, None).await;
    let nas = Nas::new("127.0.0.1", server.local_addr(), common::NAS_SECRET).await;

    // The same packet five times while the phone thinks, then a retry with a new Identifier.
    let req = nas.request(50, "alice", None);
    let bytes = nas.signed(&req);
    for _ in 0..5 {
        nas.send(&bytes).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let retry = Nas::new("127.0.0.1", server.local_addr(), common::NAS_SECRET).await;
    let retry_req = retry.request(51, "alice", None);
    retry.send(&retry.signed(&retry_req)).await;

    let first = nas.reply(&req, ANSWER).await.expect("an answer");
    assert_eq!(first.code, code::ACCESS_ACCEPT);
    let joined = retry.reply(&retry_req, ANSWER).await.expect("an answer");
    assert_eq!(joined.code, code::ACCESS_ACCEPT);
    // One reply to the five copies while pending; a copy after the answer gets the same one.
    assert!(nas.reply(&req, SILENCE).await.is_none());
    nas.send(&bytes).await;
    assert_eq!(nas.reply(&req, ANSWER).await.expect("cached"), first);
    assert_eq!(server.stats().retransmissions, 5);
    assert_eq!(w.sessions_created("alice").await, 1);
    assert_eq!(phone.seen().len(), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_mode_challenges_then_accepts_the_right_code_and_rejects_a_wrong_one() {
    let w = World::start().await;
    let phone = w.phone("alice").await;
    phone.set(Behaviour::Ignore, Duration::ZERO);
    let upstream = Upstream::start().await;
    let server = w.radius("code", 30, Some(upstream.addr)).await;
    let nas = Nas::new("127.0.0.1", server.local_addr(), common::NAS_SECRET).await;

    for (n, id, right) in [(1, 60u8, true), (2, 62, false)] {
        let challenge = nas
            .ask(&nas.request(id, "alice", Some(PASSWORD)), ANSWER)
            .await
            .expect("an answer");
        assert_eq!(challenge.code, code::ACCESS_CHALLENGE);
        assert_eq!(
            message(&challenge).as_deref(),
            Some(tapprove_radius::CODE_PROMPT)
        );
        let state = challenge.attr(attr::STATE).expect("State").to_vec();
        let shown = phone.nth(n).await;
        assert_eq!(shown.presence.mode, PresenceMode::Display);
        let code = shown
            .presence
            .code
            .clone()
            .expect("the phone shows the code");
        let typed = if right {
            code
        } else {
            let mut wrong = code.clone();
            let last = wrong.pop().unwrap();
            wrong.push(if last == '0' { '1' } else { '0' });
            wrong
        };
        let mut answer = nas.request(id + 1, "alice", Some(&typed));
        answer
            .attributes
            .push(Attribute::new(attr::STATE, state.clone()));
        let reply = nas.ask(&answer, ANSWER).await.expect("an answer");
        assert_eq!(
            reply.code,
            if right {
                code::ACCESS_ACCEPT
            } else {
                code::ACCESS_REJECT
            },
            "right code: {right}"
        );
        // The State is single use.
        let mut again = nas.request(id + 1, "alice", Some(&typed));
        again.attributes.push(Attribute::new(attr::STATE, state));
        let reply = nas.ask(&again, ANSWER).await.expect("an answer");
        assert_eq!(reply.code, code::ACCESS_REJECT);
    }
    assert_eq!(
        upstream.requests.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    assert_eq!(w.sessions_created("alice").await, 2);
    server.shutdown().await;
}

#[test]
fn the_binary_refuses_a_bad_config_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api-key"), "tap_api_x\n").unwrap();
    let config = dir.path().join("radius.toml");
    std::fs::write(
        &config,
        "service_url = \"http://127.0.0.1:9\"\napi_key_file = \"api-key\"\n\
         [[clients]]\naddress = \"10.0.0.0/33\"\nsecret = \"s\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tapprove-radius"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("clients[0].address") && stderr.contains("10.0.0.0/33"),
        "{stderr}"
    );
}
