//! The public API against loopback servers that misbehave on purpose (not the Tapprove
//! service): each case must end with a typed error, not hang. Bounds are generous; the point
//! is that a call ends, not how fast.

#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tapprove_core::*;

const SDK_KEY: &str = "tap_sdk_TESTtestTESTtestTESTte";

/// Accepts connections and hands each to `serve` on a thread of its own.
fn server(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = Arc::new(serve);
    std::thread::spawn(move || {
        for socket in listener.incoming().flatten() {
            let serve = serve.clone();
            std::thread::spawn(move || serve(socket));
        }
    });
    addr
}

fn read_request(socket: &mut TcpStream) {
    let mut buf = [0u8; 8192];
    let _ = socket.read(&mut buf);
}

/// An authenticator with one account whose service is `addr`.
fn device(addr: SocketAddr) -> (Authenticator, String) {
    let store = Arc::new(MemoryStore::new());
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    let url = format!("http://{addr}");
    let auth =
        Authenticator::new(Config::new(&url, SDK_KEY).unwrap(), store, signer.clone()).unwrap();
    let device_key = signer.create_key("k").unwrap();
    let record = AccountRecord {
        retiring_key: None,
        revoked_at: None,
        vapid_public_key: None,
        user_verification: None,
        id: "acc_1".into(),
        project_id: "prj_1".into(),
        project_name: "Demo Bank".into(),
        user: "alice".into(),
        server_url: url,
        sdk_key: SDK_KEY.into(),
        service_key: signer.create_key("service").unwrap(),
        key_alias: "k".into(),
        device_key,
        clock_offset: 0,
        paired_at: 0,
    };
    auth.import_account(record).unwrap();
    (auth, "acc_1".into())
}

#[test]
fn an_event_stream_that_is_not_one_is_a_typed_error() {
    // A captive portal: 200 with an HTML page, then silence.
    let addr = server(|mut socket| {
        read_request(&mut socket);
        let _ = socket.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000000\r\n\r\n<html>Sign in to the Wi-Fi</html>",
        );
        std::thread::sleep(Duration::from_secs(60));
    });
    let (auth, account) = device(addr);
    let mut stream = auth.events(Some(&account));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(stream.blocking_next());
    });
    let item = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the stream reported something");
    match item {
        Some(Err(CoreError::Service { code, message, .. })) => {
            assert_eq!(code, "invalid_response");
            assert!(message.contains("text/html"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_dropped_call_stops_its_connection() {
    let (closed_tx, closed_rx) = mpsc::channel();
    let closed_tx = std::sync::Mutex::new(closed_tx);
    let addr = server(move |mut socket| {
        read_request(&mut socket);
        // Never answers; only the device closing the connection ends this read (or 25 s).
        let _ = socket.set_read_timeout(Some(Duration::from_secs(25)));
        let mut buf = [0u8; 64];
        let _ = socket.read(&mut buf);
        let _ = closed_tx.lock().unwrap().send(Instant::now());
    });
    let (auth, account) = device(addr);
    let dropped_at = Instant::now();
    let result =
        tokio::time::timeout(Duration::from_millis(500), auth.pending(Some(&account))).await;
    assert!(result.is_err(), "the silent server cannot have answered");
    let closed_at =
        tokio::task::spawn_blocking(move || closed_rx.recv_timeout(Duration::from_secs(40)))
            .await
            .unwrap()
            .expect("the server saw the connection end");
    // Without cancellation the call would wait for its 30 s timeout.
    assert!(
        closed_at.duration_since(dropped_at) < Duration::from_secs(15),
        "the connection stayed open {:?} after the future was dropped",
        closed_at.duration_since(dropped_at)
    );
}

/// A [`CancelToken`] ends a call whose service never answers at once, from another thread,
/// without the caller dropping the future (how Swift's task cancellation reaches the core),
/// and the background call closes its connection instead of waiting for the timeout.
#[tokio::test]
async fn a_cancel_token_ends_a_hanging_call_and_closes_its_socket() {
    let (closed_tx, closed_rx) = mpsc::channel();
    let addr = server(move |mut socket| {
        read_request(&mut socket);
        // Never answer; report when the client closes its end.
        let mut buf = [0u8; 64];
        let eof = matches!(socket.read(&mut buf), Ok(0) | Err(_));
        let _ = closed_tx.send(eof);
    });
    let (auth, account) = device(addr);
    let token = CancelToken::new();
    let canceller = token.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        canceller.cancel();
    });
    let started = Instant::now();
    let result = token.run(auth.pending(Some(&account))).await;
    assert!(matches!(result, Err(CoreError::Cancelled)), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        closed_rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        "the cancelled call closed its connection"
    );
    // A cancelled token cancels later calls before they start.
    assert!(matches!(
        token.run(auth.pending(Some(&account))).await,
        Err(CoreError::Cancelled)
    ));
}
