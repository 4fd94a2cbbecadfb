//! The client against misbehaving loopback servers, and the request head.

use std::future::Future as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::*;

/// Runs `f` on a thread; its result if it ends within `bound` (generous: the point is that
/// it ends at all, not how fast).
fn within<T: Send + 'static>(bound: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(bound).ok()
}

fn get(url: String, timeout: Duration) -> Request {
    Request {
        method: Method::Get,
        url,
        headers: vec![],
        body: None,
        timeout,
    }
}

/// A server that accepts one connection and runs `serve` on it.
fn server(serve: impl FnOnce(std::net::TcpStream) + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        if let Ok((socket, _)) = listener.accept() {
            serve(socket);
        }
    });
    addr
}

/// Reads the request head, then sends `prefix` and one more byte every 200 ms until the
/// client goes away: each read sees data long before any per-read timeout.
fn trickle(prefix: &'static [u8]) -> impl FnOnce(std::net::TcpStream) + Send + 'static {
    move |mut socket| {
        let mut buf = [0u8; 4096];
        let _ = socket.read(&mut buf);
        if socket.write_all(prefix).is_err() {
            return;
        }
        while socket.write_all(b"a").is_ok() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn a_trickling_head_cannot_outlive_the_deadline() {
    let addr = server(trickle(b"HTTP/1.1 200 OK\r\nX-Slow: "));
    let client = HttpClient::new().expect("client");
    let started = Instant::now();
    let result = within(Duration::from_secs(20), move || {
        client.send(get(format!("http://{addr}/"), Duration::from_secs(1)))
    })
    .expect("the call ended");
    match result {
        Err(CoreError::Network { message }) => assert!(message.contains("in time"), "{message}"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a head that never ends was accepted"),
    }
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_trickling_body_cannot_outlive_the_deadline() {
    let addr = server(trickle(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",
    ));
    let client = HttpClient::new().expect("client");
    let result = within(Duration::from_secs(20), move || {
        client.send(get(format!("http://{addr}/"), Duration::from_secs(1)))
    })
    .expect("the call ended");
    assert!(
        matches!(&result, Err(CoreError::Network { message }) if message.contains("in time")),
        "{:?}",
        result.err()
    );
}

#[test]
fn a_dropped_call_closes_its_connection() {
    let (accepted_tx, accepted_rx) = mpsc::channel();
    let (closed_tx, closed_rx) = mpsc::channel();
    let addr = server(move |mut socket| {
        let mut buf = [0u8; 4096];
        let _ = socket.read(&mut buf); // the request
        let _ = accepted_tx.send(());
        // Silent: only the client closing the connection ends this read (or 20 s).
        let _ = socket.set_read_timeout(Some(Duration::from_secs(20)));
        let _ = socket.read(&mut buf);
        let _ = closed_tx.send(());
    });
    let client = HttpClient::new().expect("client");
    let call = background::run(move || {
        client
            .send(get(format!("http://{addr}/"), Duration::from_secs(60)))
            .map(|r| r.head.status)
    });
    let mut call = Box::pin(call);
    // Poll once so the call starts, then wait until the server has the request.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let _ = call.as_mut().poll(&mut cx);
    accepted_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the request arrived");
    let started = Instant::now();
    drop(call);
    closed_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server saw the connection end");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the connection stayed open until the server gave up"
    );
}

#[test]
fn a_stalled_address_does_not_hold_up_the_next() {
    use socket2::{Domain, Socket, Type};
    // 127.0.0.2 with a full accept queue: connection attempts get no answer (the SYN is
    // dropped), like a broken route. 127.0.0.1 on the same port answers.
    let good = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = good.local_addr().expect("addr").port();
    let stalled_addr: SocketAddr = format!("127.0.0.2:{port}").parse().expect("addr");
    let stalled = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    stalled.bind(&stalled_addr.into()).expect("bind 127.0.0.2");
    stalled.listen(0).expect("listen");
    let mut fillers = Vec::new();
    loop {
        match std::net::TcpStream::connect_timeout(&stalled_addr, Duration::from_millis(300)) {
            Ok(s) => fillers.push(s),
            Err(e) => {
                assert!(
                    is_timeout(&e),
                    "the stalled address must not answer at all: {e}"
                );
                break;
            }
        }
        assert!(fillers.len() < 64, "the accept queue never filled");
    }
    let good_addr = good.local_addr().expect("addr");
    let started = Instant::now();
    let stream = within(Duration::from_secs(30), move || {
        connect::connect_any(
            &[stalled_addr, good_addr],
            Instant::now() + Duration::from_secs(25),
            None,
        )
    })
    .expect("connect ended")
    .expect("connected");
    assert_eq!(stream.peer_addr().expect("peer"), good_addr);
    // Strictly one after another, the first address would have taken its whole timeout.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    drop(stalled);
}

#[test]
fn request_heads_refuse_header_injection() {
    let authority = Authority("127.0.0.1:8080".into());
    let mut req = Request {
        method: Method::Post,
        url: "http://127.0.0.1:8080/v1/device/pair".into(),
        headers: vec![("X-Tapprove-SDK-Key", "tap_sdk_x".into())],
        body: Some(b"{}".to_vec()),
        timeout: Duration::from_secs(1),
    };
    let head =
        String::from_utf8(request_head(&req, "/v1/device/pair", &authority, true).expect("head"))
            .expect("utf8");
    assert!(head.starts_with("POST /v1/device/pair HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
    assert!(!head.contains("Connection"), "{head}");
    assert!(head.contains("\r\nX-Tapprove-SDK-Key: tap_sdk_x\r\n"));
    assert!(head.ends_with("Content-Length: 2\r\n\r\n"));
    req.headers = vec![("X-Tapprove-SDK-Key", "a\r\nEvil: 1".into())];
    assert!(matches!(
        request_head(&req, "/v1/device/pair", &authority, true),
        Err(CoreError::InvalidConfig { .. })
    ));
    req.headers.clear();
    let stream = String::from_utf8(
        request_head(&req, "/v1/device/events", &authority, false).expect("head"),
    )
    .expect("utf8");
    assert!(stream.contains("\r\nConnection: close\r\n"), "{stream}");
}

/// What a [`keeping_server`] does with the `n`-th request on a connection (from 0).
#[derive(Clone, Copy)]
enum Turn {
    /// Answers "ok" and keeps the connection open.
    Answer,
    /// Answers "ok" with `Connection: close` and keeps the connection open all the same.
    AnswerSayingClose,
    /// Answers "ok" and closes the connection.
    AnswerThenClose,
    /// Closes the connection without answering.
    Close,
    /// Waits, silent, until the client closes the connection, and says so in [`HUNG_UP`].
    Hang,
}

/// Set when a [`Turn::Hang`] saw its client close the connection.
static HUNG_UP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A server that answers requests on any number of connections, each as `turn(n)` says;
/// counts the connections it accepted.
fn keeping_server(
    turn: fn(usize) -> Turn,
) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let Ok(mut socket) = socket else { return };
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut pending = Vec::new();
                for n in 0.. {
                    while !pending.windows(4).any(|w| w == b"\r\n\r\n") {
                        let mut buf = [0u8; 4096];
                        match socket.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(k) => pending.extend_from_slice(&buf[..k]),
                        }
                    }
                    let end = pending
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .expect("end")
                        + 4;
                    pending.drain(..end);
                    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    let answer: &[u8] = match turn(n) {
                        Turn::Answer => OK,
                        Turn::AnswerSayingClose => {
                            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
                        }
                        Turn::AnswerThenClose => {
                            let _ = socket.write_all(OK);
                            return;
                        }
                        Turn::Close => return,
                        Turn::Hang => {
                            let _ = socket.set_read_timeout(Some(Duration::from_secs(20)));
                            if matches!(socket.read(&mut [0u8; 64]), Ok(0)) {
                                HUNG_UP.store(true, std::sync::atomic::Ordering::SeqCst);
                            }
                            return;
                        }
                    };
                    if socket.write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// Two calls one after the other to a [`keeping_server`] that answers as `turn` says: both
/// must get the answer; how many connections the server accepted.
fn connections_for_two_calls(turn: fn(usize) -> Turn) -> usize {
    let (addr, accepted) = keeping_server(turn);
    let client = HttpClient::new().expect("client");
    for _ in 0..2 {
        let body = client
            .send(get(format!("http://{addr}/"), Duration::from_secs(20)))
            .expect("call")
            .body;
        assert_eq!(body, b"ok");
    }
    accepted.load(std::sync::atomic::Ordering::SeqCst)
}

#[test]
fn a_kept_connection_serves_the_next_call() {
    assert_eq!(connections_for_two_calls(|_| Turn::Answer), 1);
}

#[test]
fn a_kept_connection_the_server_closed_is_replaced() {
    // The server reads the second request and closes the connection without an answer: the
    // request goes again on a new connection.
    let turn = |n| if n == 0 { Turn::Answer } else { Turn::Close };
    assert_eq!(connections_for_two_calls(turn), 2);
}

#[test]
fn an_answer_that_says_close_ends_its_connection() {
    assert_eq!(connections_for_two_calls(|_| Turn::AnswerSayingClose), 2);
}

#[test]
fn a_connection_closed_while_idle_is_not_taken() {
    let (addr, accepted) = keeping_server(|_| Turn::AnswerThenClose);
    let client = HttpClient::new().expect("client");
    let url = format!("http://{addr}/");
    client
        .send(get(url.clone(), Duration::from_secs(20)))
        .expect("first");
    // The server's close arrives; the kept connection is then dropped, not sent on.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let idle = client.idle.lock().expect("lock").take().expect("kept");
        if !keep::open_and_quiet(&idle.control) {
            *client.idle.lock().expect("lock") = Some(idle);
            break;
        }
        *client.idle.lock().expect("lock") = Some(idle);
        assert!(Instant::now() < deadline, "the close never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(client.take_idle(&format!("http://{addr}")).is_none());
    client
        .send(get(url, Duration::from_secs(20)))
        .expect("second");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[test]
fn a_dropped_call_closes_a_kept_connection_too() {
    let (addr, accepted) = keeping_server(|n| if n == 0 { Turn::Answer } else { Turn::Hang });
    let client = HttpClient::new().expect("client");
    let url = format!("http://{addr}/");
    client
        .send(get(url.clone(), Duration::from_secs(60)))
        .expect("first");
    let call = Box::pin(background::run(move || {
        client
            .send(get(url, Duration::from_secs(60)))
            .map(|r| r.head.status)
    }));
    let mut call = call;
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let _ = call.as_mut().poll(&mut cx);
    std::thread::sleep(Duration::from_millis(300));
    drop(call);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !HUNG_UP.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the kept connection stayed open");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}
