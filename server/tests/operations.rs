//! Operating the service: health and readiness, slow and idle connections, the event-stream
//! cap, over loopback HTTP.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use tapprove_protocol::Decision;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[tokio::test]
async fn health_and_readiness() {
    let h = Harness::start().await;
    for (path, body) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let r = h.http.get(h.url(path)).send().await.expect("send");
        assert_eq!(r.status().as_u16(), 200, "{path}");
        assert_eq!(r.text().await.expect("body"), body);
    }
}

/// How many slow connections this process can hold with the service's side of each (two
/// descriptors apiece), up to `want`.
fn affordable_connections(want: usize) -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    want.min(soft.saturating_sub(300) / 2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_connections_are_cut_and_a_login_still_completes() {
    let h = Harness::start_with(|c| {
        c.header_read_timeout = Duration::from_secs(1);
        c.max_connections = 1000;
    })
    .await;
    let device = h.pair("alice").await;
    let n = affordable_connections(3000);
    assert!(
        n >= 400,
        "the descriptor limit leaves room for only {n} connections"
    );
    eprintln!("holding {n} connections that send half a request (limit 1000)");
    let addr = h.base.trim_start_matches("http://").to_owned();
    let mut slow = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        // Headers started, never finished.
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
        slow.push(s);
    }
    // Each is closed by the service: at once above the connection limit, after the
    // header-read timeout otherwise.
    let mut closed = 0;
    for s in &mut slow {
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(_)) | Ok(Err(_)) => closed += 1,
            Err(_) => {}
        }
    }
    assert_eq!(closed, n, "every slow connection was closed by the service");
    // A normal login meanwhile goes through (the slow clients still hold their sockets).
    let created = h.login("alice").await;
    let id = created["id"].as_str().expect("id");
    let challenge = device.challenge_for(&h, id).await;
    let pick = right_option(&challenge, created["presence_code"].as_str().expect("code"));
    let (status, body) = device
        .answer(&h, &challenge, Decision::Approve, Some(&pick), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, view) = h.get_session(id, Some(5)).await;
    assert_eq!(view["status"], "accepted");
    drop(slow);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let h = Harness::start_with(|c| c.header_read_timeout = Duration::from_secs(1)).await;
    let addr = h.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    let started = std::time::Instant::now();
    // The answer, then (idle) the close, well before a client-side timeout.
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(k)) => response.extend_from_slice(&buf[..k]),
            Err(_) => panic!("the idle connection stayed open"),
        }
    }
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("ok"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn event_streams_per_device_are_capped() {
    let h = Harness::start_with(|c| c.max_event_streams_per_account = 2).await;
    let device = h.pair("alice").await;
    let first = device.events(&h).await;
    let _second = device.events(&h).await;
    let auth = device.proof("GET", "/v1/device/events", b"");
    let r = h
        .http
        .get(h.url("/v1/device/events"))
        .header("authorization", auth)
        .send()
        .await
        .expect("send");
    let (status, body) = status_json(r).await;
    let message = assert_error(status, &body, 429, "rate_limited");
    assert!(message.contains("at most 2"), "{message}");
    // Closing one makes room again (its row is removed when the stream ends).
    drop(first);
    let mut opened = false;
    for _ in 0..50 {
        let auth = device.proof("GET", "/v1/device/events", b"");
        let r = h
            .http
            .get(h.url("/v1/device/events"))
            .header("authorization", auth)
            .send()
            .await
            .expect("send");
        if r.status().as_u16() == 200 {
            opened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(opened, "a stream could be opened after one closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_event_stream_opens_pass_exactly_the_cap() {
    let h = Harness::start_with(|c| c.max_event_streams_per_account = 3).await;
    let device = std::sync::Arc::new(h.pair("alice").await);
    let h = std::sync::Arc::new(h);
    let mut opens = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (h, device) = (h.clone(), device.clone());
        opens.spawn(async move {
            let auth = device.proof("GET", "/v1/device/events", b"");
            let r = h
                .http
                .get(h.url("/v1/device/events"))
                .header("authorization", auth)
                .send()
                .await
                .expect("send");
            // Kept open (the response) until every open is done.
            (r.status().as_u16(), r)
        });
    }
    let mut kept = Vec::new();
    let mut ok = 0;
    while let Some(done) = opens.join_next().await {
        let (status, r) = done.expect("join");
        assert!(status == 200 || status == 429, "{status}");
        ok += usize::from(status == 200);
        kept.push(r);
    }
    assert_eq!(ok, 3, "the cap is 3 whatever the concurrency");
}
