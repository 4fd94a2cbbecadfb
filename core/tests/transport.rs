//! A platform HTTP transport (Rust stand-in for HttpURLConnection / URLSession) carrying the
//! device API calls to the protocol stub over loopback: the core builds and signs every
//! request, the transport only moves bytes.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use support::{FakeClock, PAIRING_CODE, Stub, real_now};
use tapprove_core::*;

/// Plain HTTP/1.1 with `Connection: close`, recording what it was asked to send.
#[derive(Default)]
struct RecordingTransport {
    seen: Mutex<Vec<HttpRequest>>,
    down: bool,
}

impl HttpTransport for RecordingTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.seen.lock().unwrap().push(request.clone());
        if self.down {
            return Err(TransportError {
                message: "the VPN is not connected".into(),
            });
        }
        let url = url::Url::parse(&request.url).unwrap();
        let authority = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
        let mut socket = TcpStream::connect(&authority).unwrap();
        socket.set_read_timeout(Some(request.timeout)).unwrap();
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
            request.method,
            url.path(),
            request.body.len()
        );
        for (name, value) in &request.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        socket.write_all(head.as_bytes()).unwrap();
        socket.write_all(&request.body).unwrap();
        let mut raw = Vec::new();
        socket.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(raw[..split].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v == "chunked")
        {
            body = dechunk(&body);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
        raw = &raw[line_end + 4 + size..];
    }
}

fn device(stub: &Stub, transport: Arc<RecordingTransport>) -> Authenticator {
    let store = Arc::new(MemoryStore::new());
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    Authenticator::with_parts(
        stub.config(),
        store,
        signer,
        FakeClock::new(real_now()),
        Some(transport),
    )
    .unwrap()
}

#[tokio::test]
async fn every_device_call_goes_through_the_platform_transport() {
    let stub = Stub::start().await;
    let transport = Arc::new(RecordingTransport::default());
    let auth = device(&stub, transport.clone());
    let account = auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let (sid, _, code) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    let pending = auth.pending(None).await.unwrap();
    assert_eq!(
        pending.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [sid.as_str()]
    );
    let outcome = auth
        .respond(
            &sid,
            Decision::Approve {
                presence_answer: code,
            },
        )
        .await
        .unwrap();
    assert!(outcome.is_accepted());
    assert_eq!(stub.session(&sid).status, SessionStatus::Accepted);

    let seen = transport.seen.lock().unwrap();
    let calls: Vec<(&str, &str)> = seen
        .iter()
        .map(|r| (r.method.as_str(), r.url.trim_start_matches(&stub.url())))
        .collect();
    assert_eq!(
        calls,
        [
            ("POST", "/v1/device/pair"),
            ("GET", "/v1/device/pending"),
            ("POST", "/v1/device/answers"),
        ]
    );
    // The proof was made in Rust; the transport got a finished header, and no private key.
    let pending_call = &seen[1];
    let proof = pending_call
        .headers
        .iter()
        .find(|(n, _)| n == "Authorization")
        .map(|(_, v)| v.as_str())
        .unwrap();
    assert!(proof.starts_with("Tapprove ey"), "{proof}");
    assert!(
        !format!("{pending_call:?}").contains(proof),
        "Debug shows header values"
    );
}

#[tokio::test]
async fn a_failing_transport_is_a_network_error() {
    let stub = Stub::start().await;
    let transport = Arc::new(RecordingTransport {
        down: true,
        ..Default::default()
    });
    let auth = device(&stub, transport);
    match auth.pair("alice", PAIRING_CODE, None).await {
        Err(CoreError::Network { message }) => {
            assert!(message.contains("the VPN is not connected"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(auth.accounts().unwrap().is_empty());
}

/// The streaming variant: plain HTTP/1.0 (so the body is not chunk-encoded and arrives as
/// the server writes it), each `read` returning what one socket read got.
#[derive(Default)]
struct StreamingTransport {
    opened: Mutex<Vec<HttpRequest>>,
    streams: Mutex<Vec<Arc<SocketStream>>>,
}

struct SocketStream {
    status: u16,
    headers: Vec<(String, String)>,
    /// Body bytes read together with the head.
    first: Mutex<Option<Vec<u8>>>,
    socket: Mutex<TcpStream>,
    control: TcpStream,
    cancelled: std::sync::atomic::AtomicBool,
}

impl HttpBodyStream for SocketStream {
    fn status(&self) -> u16 {
        self.status
    }
    fn headers(&self) -> Vec<(String, String)> {
        self.headers.clone()
    }
    fn read(&self) -> Result<Option<Vec<u8>>, TransportError> {
        if let Some(first) = self.first.lock().unwrap().take()
            && !first.is_empty()
        {
            return Ok(Some(first));
        }
        let mut buf = vec![0u8; 4096];
        match self.socket.lock().unwrap().read(&mut buf) {
            Ok(0) => Ok(None),
            Ok(n) => Ok(Some(buf[..n].to_vec())),
            Err(e) => Err(TransportError {
                message: e.to_string(),
            }),
        }
    }
    fn cancel(&self) {
        self.cancelled
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.control.shutdown(std::net::Shutdown::Both);
    }
}

impl HttpStreamTransport for StreamingTransport {
    fn open_stream(&self, request: HttpRequest) -> Result<Arc<dyn HttpBodyStream>, TransportError> {
        self.opened.lock().unwrap().push(request.clone());
        let url = url::Url::parse(&request.url).unwrap();
        let authority = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
        let mut socket = TcpStream::connect(&authority).unwrap();
        socket.set_read_timeout(Some(request.timeout)).unwrap();
        let mut head = format!(
            "{} {} HTTP/1.0\r\nHost: {authority}\r\n",
            request.method,
            url.path()
        );
        for (name, value) in &request.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        socket.write_all(head.as_bytes()).unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let split = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let n = socket.read(&mut buf).unwrap();
            assert!(n > 0, "the server closed before the head");
            raw.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8(raw[..split].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let stream = Arc::new(SocketStream {
            status,
            headers,
            first: Mutex::new(Some(raw[split + 4..].to_vec())),
            control: socket.try_clone().unwrap(),
            socket: Mutex::new(socket),
            cancelled: Default::default(),
        });
        self.streams.lock().unwrap().push(stream.clone());
        Ok(stream)
    }
}

#[tokio::test]
async fn the_event_stream_goes_through_the_streaming_transport_and_stops_it() {
    use futures_util::StreamExt as _;
    let stub = Stub::start().await;
    let calls = Arc::new(RecordingTransport::default());
    let streaming = Arc::new(StreamingTransport::default());
    let store = Arc::new(MemoryStore::new());
    let auth = Authenticator::with_transports(
        stub.config(),
        store.clone(),
        Arc::new(SoftwareSigner::new(store)),
        FakeClock::new(real_now()),
        Some(calls.clone()),
        Some(streaming.clone()),
    )
    .unwrap();
    let account = auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let mut events = auth.events(Some(&account.id));
    let (sid, _, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
        .await
        .expect("a request within 10 s")
        .unwrap()
        .unwrap();
    match first {
        RequestEvent::Request(r) => assert_eq!(r.id, sid),
        other => panic!("{other:?}"),
    }
    {
        let opened = streaming.opened.lock().unwrap();
        assert_eq!(opened.len(), 1);
        assert!(opened[0].url.ends_with("/v1/device/events"));
        assert!(opened[0].headers.iter().any(|(n, _)| n == "Authorization"));
        // The other calls still went through the plain transport, none through the built-in client.
        assert_eq!(calls.seen.lock().unwrap().len(), 1, "pairing");
    }
    drop(events);
    let stream = streaming.streams.lock().unwrap()[0].clone();
    for _ in 0..100 {
        if stream.cancelled.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        stream.cancelled.load(std::sync::atomic::Ordering::SeqCst),
        "dropping the stream cancels the platform stream"
    );
}
