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
    let started = std::time::Instant::now();
    // The answer, then (idle) the close, well before a client-side timeout.
    let response = read_to_close(&mut s).await;
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

/// Reads until the service closes the connection; panics if it stays open for 5 s.
async fn read_to_close(s: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return all,
            Ok(Ok(k)) => all.extend_from_slice(&buf[..k]),
            Err(_) => panic!("the connection stayed open"),
        }
    }
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_header_timeout() {
    let h = Harness::start_with(|c| c.header_read_timeout = Duration::from_secs(1)).await;
    let addr = h.base.trim_start_matches("http://").to_owned();
    let started = std::time::Instant::now();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    // Not a byte: the service must not wait for the first one forever.
    let got = read_to_close(&mut s).await;
    let waited = started.elapsed();
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
        "{got:?}"
    );
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "closed after {waited:?}"
    );
}

#[tokio::test]
async fn a_request_line_split_across_writes_is_served() {
    let h = Harness::start().await;
    let addr = h.base.trim_start_matches("http://").to_owned();
    // "P" could start the HTTP/2 preface; "PRI" too. Both must still be read as HTTP/1.1.
    for (first, rest, want) in [
        (
            "G",
            "ET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200",
        ),
        (
            "P",
            "OST /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 405",
        ),
    ] {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        s.write_all(first.as_bytes()).await.expect("first byte");
        tokio::time::sleep(Duration::from_millis(100)).await;
        s.write_all(rest.as_bytes()).await.expect("rest");
        let text = String::from_utf8_lossy(&read_to_close(&mut s).await).into_owned();
        assert!(text.starts_with(want), "{first}{rest}: {text}");
    }
}

/// One HTTP/2 frame: its type, flags, stream and payload.
async fn h2_frame(s: &mut tokio::net::TcpStream) -> (u8, u8, u32, Vec<u8>) {
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut head))
        .await
        .expect("a frame within 5 s")
        .expect("frame header");
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.expect("frame payload");
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    (head[3], head[4], stream, payload)
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_served() {
    let h = Harness::start().await;
    let addr = h.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    // The preface in two writes (the service must wait for all of it), an empty SETTINGS,
    // then GET /healthz on stream 1: HPACK `:method GET` (static 2), `:scheme http` (6),
    // `:path` (literal, name 4), `:authority` (literal, name 1); END_STREAM | END_HEADERS.
    s.write_all(b"PRI * HTTP/2.0\r\n").await.expect("preface");
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(b"\r\nSM\r\n\r\n").await.expect("preface");
    s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
        .await
        .expect("settings");
    let mut block = vec![0x82, 0x86, 0x04, 8];
    block.extend_from_slice(b"/healthz");
    block.extend_from_slice(&[0x01, 1, b'x']);
    let len = u8::try_from(block.len()).expect("short block");
    s.write_all(&[0, 0, len, 1, 0x05, 0, 0, 0, 1])
        .await
        .expect("headers frame");
    s.write_all(&block).await.expect("header block");
    let mut status = None;
    let mut body = Vec::new();
    loop {
        let (kind, flags, stream, payload) = h2_frame(&mut s).await;
        match (kind, stream) {
            (4, 0) if flags & 1 == 0 => {
                // Acknowledge the service's SETTINGS.
                s.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0])
                    .await
                    .expect("ack");
            }
            // HEADERS: `:status 200` is HPACK static entry 8.
            (1, 1) => status = payload.first().copied(),
            (0, 1) => body.extend_from_slice(&payload),
            (7, _) => panic!("GOAWAY: {payload:?}"),
            _ => {}
        }
        if stream == 1 && flags & 1 == 1 {
            break;
        }
    }
    assert_eq!(status, Some(0x88), "`:status 200`");
    assert_eq!(body, b"ok");
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
