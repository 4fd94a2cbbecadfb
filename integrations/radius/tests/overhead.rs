//! The figures of docs/PERFORMANCE.md's RADIUS section, printed (not asserted against a time):
//! what `tapprove-radius` adds to a push login beyond the phone's own answer, on loopback, and
//! how many pushes k retransmissions of one request send. Asserts only that every login is
//! accepted and that k copies make one push.
//!
//! `TAPPROVE_RADIUS_BENCH_N=200 cargo test -p tapprove-radius --test overhead -- --nocapture`
//! (20 logins by default).

#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Nas, World};
use tapprove_protocol::Decision;
use tapprove_radius::packet::code;
use tapprove_test_support::device::SoftwareDevice;
use tapprove_test_support::fixture;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn line(name: &str, mut v: Vec<Duration>) -> String {
    v.sort();
    format!(
        "{name}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n = {})",
        percentile(&v, 0.5).as_secs_f64() * 1e3,
        percentile(&v, 0.99).as_secs_f64() * 1e3,
        v.last().unwrap().as_secs_f64() * 1e3,
        v.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_to_reply_overhead_and_pushes_per_retransmission() {
    let n: usize = std::env::var("TAPPROVE_RADIUS_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let w = World::start().await;
    w.allow_approve_only().await;
    let device = SoftwareDevice::new(&w.sdk_key);
    let (status, body) = device.pair(&w.at, "alice", fixture::PAIRING_CODE).await;
    assert_eq!(status.as_u16(), 201, "{body}");
    let device = device.with_pairing(serde_json::from_value(body).unwrap());
    let server = w.radius("push", 30, None).await;
    let nas = Nas::new("127.0.0.1", server.local_addr(), common::NAS_SECRET).await;
    // The event stream delivers a push at once, so the phone's side is its own work only.
    let mut events = device.events(&w.at).await;
    let mut next_challenge = async || loop {
        let (name, data) = events
            .next_event(Duration::from_secs(10))
            .await
            .expect("a push");
        if name == "challenge" {
            return device.verify(&data);
        }
    };

    let (mut to_phone, mut to_reply, mut overhead) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let req = nas.request(i as u8, "alice", None);
        let t0 = Instant::now();
        nas.send(&nas.signed(&req)).await;
        let c = next_challenge().await;
        let t1 = Instant::now();
        // The phone's own part: verifying (above) and signing. From here the answer is on the
        // wire, and what follows until the Access-Accept is the service's and ours.
        let token = device.sign_answer(&c, Decision::Approve, None, None);
        let t2 = Instant::now();
        let (status, body) = device.send_answer(&w.at, &token).await;
        assert_eq!(status.as_u16(), 200, "{body}");
        let reply = nas
            .reply(&req, Duration::from_secs(10))
            .await
            .expect("reply");
        let t3 = Instant::now();
        assert_eq!(reply.code, code::ACCESS_ACCEPT);
        to_phone.push(t1 - t0);
        to_reply.push(t3 - t2);
        overhead.push((t1 - t0) + (t3 - t2));
    }
    println!("RADIUS push login on loopback, {n} logins, SQLite, debug build:");
    println!(
        "  {}",
        line("Access-Request -> push on the phone", to_phone)
    );
    println!(
        "  {}",
        line("answer sent by the phone -> Access-Accept", to_reply)
    );
    println!(
        "  {}",
        line("request -> reply minus the phone's own time", overhead)
    );

    // k copies of one request while the phone has not answered yet: one push each time.
    for k in [1usize, 2, 5, 10] {
        let before = w.sessions_created("alice").await;
        let req = nas.request(200 + k as u8, "alice", None);
        let bytes = nas.signed(&req);
        for _ in 0..k {
            nas.send(&bytes).await;
        }
        let c = next_challenge().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, body) = device
            .answer(&w.at, &c, Decision::Approve, None, None)
            .await;
        assert_eq!(status.as_u16(), 200, "{body}");
        let reply = nas
            .reply(&req, Duration::from_secs(10))
            .await
            .expect("reply");
        assert_eq!(reply.code, code::ACCESS_ACCEPT);
        let pushes = w.sessions_created("alice").await - before;
        println!("  {k} copies of one Access-Request -> {pushes} push");
        assert_eq!(pushes, 1, "{k} copies");
    }
    server.shutdown().await;
}
