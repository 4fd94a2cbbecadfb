//! Loopback stand-ins for APNs and FCM that enforce each provider's documented contract.
//!
//! Both serve TLS with a certificate from a throwaway test CA (the sender is configured to trust
//! only that CA through `push.ca_file`). The APNs endpoint speaks HTTP/2 only (ALPN `h2`), as
//! Apple's does. Requests that break the contract get the provider's own error answer; valid
//! requests are recorded, then answered from a per-token script (defaulting to success), so a
//! test can make any device answer any documented error.
//!
//! Shared by the tests in `push/tests/` and by `push/benches/apns_throughput.rs`.

#![allow(dead_code)]

pub mod webpush;

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use ring::signature::{self, KeyPair as _, RsaKeyPair};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tapprove_protocol::api::{PushEnvironment, PushPlatform};
use tapprove_protocol::{Es256Signer as _, PublicKey, SoftwareKey};
use tapprove_push::{ApnsConfig, FcmConfig, PushConfig, PushMessage, PushTarget, RetryConfig};

pub const KEY_ID: &str = "ABCDE12345";
pub const TEAM_ID: &str = "TEAM123456";
pub const TOPIC: &str = "com.example.tapprove";
pub const PROJECT_ID: &str = "tapprove-test";
pub const CLIENT_EMAIL: &str = "push@tapprove-test.iam.gserviceaccount.com";
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const TEST_RSA_KEY: &str = include_str!("../fixtures/fcm-test-only-rsa-key.pem");

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

type Body = Full<Bytes>;
type Handler = Arc<
    dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> + Send + Sync,
>;

// ---------------------------------------------------------------------------------------------
// TLS with a throwaway CA

/// A test CA and a server certificate for `127.0.0.1` / `localhost` signed by it.
pub struct TestPki {
    pub ca_pem: String,
    cert_chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
}

impl TestPki {
    pub fn new() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Tapprove push test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key"))
            .expect("ca cert");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("leaf params")
            .signed_by(&leaf_key, &*ca)
            .expect("leaf cert");
        Self {
            ca_pem: ca.pem(),
            cert_chain: vec![leaf.der().clone()],
            key_der: leaf_key.serialize_der(),
        }
    }

    fn acceptor(&self, alpn: &[&[u8]]) -> tokio_rustls::TlsAcceptor {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                self.cert_chain.clone(),
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )
            .expect("server cert");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

/// Accepts TLS connections on `listener` and serves them with `handler` (HTTP/2 only, or
/// HTTP/1.1 and HTTP/2 by ALPN).
async fn serve(
    listener: std::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    handler: Handler,
    connections: Arc<AtomicUsize>,
    http2_only: bool,
    goaway: Arc<tokio::sync::Notify>,
) {
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        connections.fetch_add(1, Ordering::SeqCst);
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        let goaway = goaway.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let io = TokioIo::new(tls);
            let service = service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, std::convert::Infallible>(handler(req).await) }
            });
            if http2_only {
                let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .max_concurrent_streams(1000)
                    .serve_connection(io, service);
                tokio::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = goaway.notified() => {
                        // HTTP/2 GOAWAY, as APNs does before closing a connection.
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
            } else {
                let mut builder =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder.http2().max_concurrent_streams(1000);
                let _ = builder.serve_connection(io, service).await;
            }
        });
    }
}

fn respond(status: u16, headers: &[(&str, String)], body: Value) -> Response<Body> {
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    let bytes = if body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(body.to_string())
    };
    builder.body(Full::new(bytes)).expect("response")
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, ()> {
    Limited::new(req.into_body(), 1 << 20)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|_| ())
}

fn bind() -> (std::net::TcpListener, SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

// ---------------------------------------------------------------------------------------------
// APNs

/// A scripted APNs answer for one request to a token.
#[derive(Debug, Clone)]
pub enum ApnsReply {
    /// Answer this status and `{"reason"[, "timestamp"]}`.
    Error {
        status: u16,
        reason: &'static str,
        timestamp_ms: Option<i64>,
    },
    /// Treat the provider token used as expired from now on: 403 `ExpiredProviderToken`.
    ExpireProviderToken,
}

/// One accepted APNs request.
#[derive(Debug, Clone)]
pub struct ApnsRecord {
    pub token: String,
    pub headers: HashMap<String, String>,
    /// The request body exactly as it arrived (what Apple would see).
    pub raw: Bytes,
    pub payload: Value,
    pub payload_len: usize,
    pub jwt: String,
    pub version: Version,
}

pub struct ApnsState {
    key: PublicKey,
    record: bool,
    scripts: Mutex<HashMap<String, VecDeque<ApnsReply>>>,
    always: Mutex<HashMap<String, ApnsReply>>,
    verified: Mutex<HashMap<String, i64>>,
    expired: Mutex<HashSet<String>>,
    records: Mutex<Vec<ApnsRecord>>,
    /// Every request that reached the handler, whatever the answer.
    pub requests: AtomicUsize,
    /// The `apns-id` of every request, per device token.
    per_token: Mutex<HashMap<String, Vec<String>>>,
    pub connections: Arc<AtomicUsize>,
    goaway: Arc<tokio::sync::Notify>,
}

/// A running loopback APNs.
#[derive(Clone)]
pub struct MockApns {
    pub state: Arc<ApnsState>,
    pub url: String,
}

impl MockApns {
    /// Starts on the current runtime.
    pub fn start(pki: &TestPki, key: PublicKey, record: bool) -> Self {
        Self::start_on(&tokio::runtime::Handle::current(), pki, key, record)
    }

    /// Starts on `runtime` (the benchmark runs it on a runtime of its own).
    pub fn start_on(
        runtime: &tokio::runtime::Handle,
        pki: &TestPki,
        key: PublicKey,
        record: bool,
    ) -> Self {
        let state = Arc::new(ApnsState {
            key,
            record,
            scripts: Mutex::default(),
            always: Mutex::default(),
            verified: Mutex::default(),
            expired: Mutex::default(),
            records: Mutex::default(),
            requests: AtomicUsize::new(0),
            per_token: Mutex::default(),
            connections: Arc::new(AtomicUsize::new(0)),
            goaway: Arc::new(tokio::sync::Notify::new()),
        });
        let (listener, addr) = bind();
        let handler_state = state.clone();
        let handler: Handler = Arc::new(move |req| {
            let state = handler_state.clone();
            Box::pin(async move { apns_handle(&state, req).await })
        });
        let acceptor = pki.acceptor(&[b"h2"]);
        let connections = state.connections.clone();
        let goaway = state.goaway.clone();
        runtime.spawn(serve(
            listener,
            acceptor,
            handler,
            connections,
            true,
            goaway,
        ));
        Self {
            state,
            url: format!("https://127.0.0.1:{}", addr.port()),
        }
    }

    /// Sends GOAWAY on every open connection and closes it once its streams are done.
    pub fn goaway(&self) {
        self.state.goaway.notify_waiters();
    }

    /// Answers the next requests for `token` with `replies`, in order, then succeeds again.
    pub fn script(&self, token: &str, replies: Vec<ApnsReply>) {
        self.state
            .scripts
            .lock()
            .expect("lock")
            .entry(token.to_owned())
            .or_default()
            .extend(replies);
    }

    /// Answers every request for `token` with `reply`.
    pub fn always(&self, token: &str, reply: ApnsReply) {
        self.state
            .always
            .lock()
            .expect("lock")
            .insert(token.to_owned(), reply);
    }

    pub fn records(&self) -> Vec<ApnsRecord> {
        self.state.records.lock().expect("lock").clone()
    }

    /// Requests that reached the endpoint for `token`, whatever the answer.
    pub fn requests_for(&self, token: &str) -> usize {
        self.state
            .per_token
            .lock()
            .expect("lock")
            .get(token)
            .map_or(0, Vec::len)
    }

    /// The `apns-id` header of every request for `token`, in order.
    pub fn apns_ids_for(&self, token: &str) -> Vec<String> {
        self.state
            .per_token
            .lock()
            .expect("lock")
            .get(token)
            .cloned()
            .unwrap_or_default()
    }

    /// Distinct provider tokens that verified.
    pub fn distinct_provider_tokens(&self) -> usize {
        self.state.verified.lock().expect("lock").len()
    }

    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }
}

fn apns_error(status: u16, reason: &str) -> Response<Body> {
    respond(status, &[], json!({ "reason": reason }))
}

/// Checks an APNs provider token as Apple documents it: header exactly `{alg: ES256, kid}`,
/// claims `{iss: team id, iat}`, ES256 signature by the registered key, `iat` within the last
/// hour. Verified tokens are cached, as APNs does, so only a new token costs a signature check.
fn check_provider_token(state: &ApnsState, jwt: &str) -> Result<(), &'static str> {
    if state.expired.lock().expect("lock").contains(jwt) {
        return Err("ExpiredProviderToken");
    }
    let cached = state.verified.lock().expect("lock").get(jwt).copied();
    let iat = match cached {
        Some(iat) => iat,
        None => {
            let parts: Vec<&str> = jwt.split('.').collect();
            let [h, p, s] = parts[..] else {
                return Err("InvalidProviderToken");
            };
            let decode = |part: &str| {
                URL_SAFE_NO_PAD
                    .decode(part)
                    .map_err(|_| "InvalidProviderToken")
            };
            let header: Value =
                serde_json::from_slice(&decode(h)?).map_err(|_| "InvalidProviderToken")?;
            if header != json!({"alg": "ES256", "kid": KEY_ID}) {
                return Err("InvalidProviderToken");
            }
            let claims: Value =
                serde_json::from_slice(&decode(p)?).map_err(|_| "InvalidProviderToken")?;
            let obj = claims.as_object().ok_or("InvalidProviderToken")?;
            if obj.len() != 2 || obj.get("iss") != Some(&json!(TEAM_ID)) {
                return Err("InvalidProviderToken");
            }
            let iat = obj
                .get("iat")
                .and_then(Value::as_i64)
                .ok_or("InvalidProviderToken")?;
            let signing_input = &jwt[..h.len() + 1 + p.len()];
            state
                .key
                .verify(signing_input.as_bytes(), &decode(s)?)
                .map_err(|_| "InvalidProviderToken")?;
            state
                .verified
                .lock()
                .expect("lock")
                .insert(jwt.to_owned(), iat);
            iat
        }
    };
    let now = unix_now();
    if now - iat > 3600 {
        return Err("ExpiredProviderToken");
    }
    if iat > now + 60 {
        return Err("InvalidProviderToken");
    }
    Ok(())
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

async fn apns_handle(state: &ApnsState, req: Request<Incoming>) -> Response<Body> {
    state.requests.fetch_add(1, Ordering::Relaxed);
    if req.version() != Version::HTTP_2 {
        return apns_error(505, "HTTP/2 required");
    }
    if req.method() != hyper::Method::POST {
        return apns_error(405, "MethodNotAllowed");
    }
    let Some(token) = req
        .uri()
        .path()
        .strip_prefix("/3/device/")
        .map(str::to_owned)
    else {
        return apns_error(404, "BadPath");
    };
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    state
        .per_token
        .lock()
        .expect("lock")
        .entry(token.clone())
        .or_default()
        .push(header("apns-id").unwrap_or_default());
    let Some(jwt) =
        header("authorization").and_then(|a| a.strip_prefix("bearer ").map(str::to_owned))
    else {
        return apns_error(403, "MissingProviderToken");
    };
    if let Err(reason) = check_provider_token(state, &jwt) {
        return apns_error(403, reason);
    }
    match header("apns-topic") {
        None => return apns_error(400, "MissingTopic"),
        Some(t) if t != TOPIC => return apns_error(400, "BadTopic"),
        Some(_) => {}
    }
    if header("apns-push-type").as_deref() != Some("alert") {
        return apns_error(400, "InvalidPushType");
    }
    if header("apns-priority").as_deref() != Some("10") {
        return apns_error(400, "BadPriority");
    }
    match header("apns-expiration").and_then(|e| e.parse::<i64>().ok()) {
        Some(exp) if exp > unix_now() - 5 => {}
        _ => return apns_error(400, "BadExpirationDate"),
    }
    if header("apns-collapse-id").is_some_and(|c| c.len() > 64) {
        return apns_error(400, "BadCollapseId");
    }
    let apns_id = header("apns-id");
    if apns_id.as_deref().is_some_and(|id| !is_uuid(id)) {
        return apns_error(400, "BadMessageId");
    }
    if token.is_empty() || token.len() % 2 != 0 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return apns_error(400, "BadDeviceToken");
    }
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .filter(|(n, _)| n.as_str() != "authorization")
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let version = req.version();
    let Ok(body) = read_body(req).await else {
        return apns_error(400, "BadPayload");
    };
    if body.is_empty() {
        return apns_error(400, "PayloadEmpty");
    }
    if body.len() > 4096 {
        return apns_error(413, "PayloadTooLarge");
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return apns_error(400, "BadPayload");
    };
    // docs/PROTOCOL.md §11: the shape the app's notification service extension relies on.
    let aps = &payload["aps"];
    let shaped = aps["alert"]["title"].is_string()
        && aps["alert"]["body"].is_string()
        && aps["category"] == json!("TAPPROVE_LOGIN")
        && aps["mutable-content"] == json!(1)
        && (payload["tapprove"].is_string()
            || (payload["tapprove_sealed"].is_string() && payload["account"].is_string()));
    if !shaped {
        return apns_error(400, "PayloadNotTapprove");
    }
    let scripted = state
        .scripts
        .lock()
        .expect("lock")
        .get_mut(&token)
        .and_then(VecDeque::pop_front);
    let scripted = scripted.or_else(|| state.always.lock().expect("lock").get(&token).cloned());
    match scripted {
        Some(ApnsReply::Error {
            status,
            reason,
            timestamp_ms,
        }) => {
            let mut body = json!({ "reason": reason });
            if let Some(ts) = timestamp_ms {
                body["timestamp"] = json!(ts);
            }
            return respond(status, &[], body);
        }
        Some(ApnsReply::ExpireProviderToken) => {
            state.expired.lock().expect("lock").insert(jwt);
            return apns_error(403, "ExpiredProviderToken");
        }
        None => {}
    }
    if state.record {
        state.records.lock().expect("lock").push(ApnsRecord {
            token,
            headers,
            raw: body.clone(),
            payload,
            payload_len: body.len(),
            jwt,
            version,
        });
    }
    respond(
        200,
        &[("apns-id", apns_id.unwrap_or_default())],
        Value::Null,
    )
}

// ---------------------------------------------------------------------------------------------
// FCM and the OAuth2 token endpoint

/// A scripted FCM answer.
#[derive(Debug, Clone)]
pub enum FcmReply {
    /// Google's error body with `status` and, if given, an FCM `errorCode`.
    Error {
        http: u16,
        status: &'static str,
        code: Option<&'static str>,
        retry_after: Option<u64>,
    },
    /// Revoke the access token used: 401 `UNAUTHENTICATED`, and that token stays dead.
    RevokeAccessToken,
}

/// One accepted FCM send.
#[derive(Debug, Clone)]
pub struct FcmRecord {
    /// The request body exactly as it arrived (what Google would see).
    pub raw: Bytes,
    pub body: Value,
    pub data_len: usize,
    pub version: Version,
}

/// One token request that passed every check.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub header: Value,
    pub claims: Value,
}

pub struct FcmState {
    rsa_public: Vec<u8>,
    token_url: Mutex<String>,
    pub expires_in: AtomicU64,
    issued: Mutex<HashMap<String, Instant>>,
    pub token_requests: AtomicUsize,
    grants: Mutex<Vec<TokenGrant>>,
    token_script: Mutex<VecDeque<(u16, Value)>>,
    scripts: Mutex<HashMap<String, VecDeque<FcmReply>>>,
    always: Mutex<HashMap<String, FcmReply>>,
    records: Mutex<Vec<FcmRecord>>,
    per_token: Mutex<HashMap<String, usize>>,
    pub sends: AtomicUsize,
    pub connections: Arc<AtomicUsize>,
}

/// A running loopback FCM (`/v1/projects/{id}/messages:send`) with its token endpoint (`/token`).
#[derive(Clone)]
pub struct MockFcm {
    pub state: Arc<FcmState>,
    pub url: String,
    pub token_url: String,
}

impl MockFcm {
    pub fn start(pki: &TestPki) -> Self {
        let der = PrivatePkcs8KeyDer::from_pem_slice(TEST_RSA_KEY.as_bytes()).expect("fixture pem");
        let pair = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("fixture rsa");
        let state = Arc::new(FcmState {
            rsa_public: pair.public_key().as_ref().to_vec(),
            token_url: Mutex::default(),
            expires_in: AtomicU64::new(3599),
            issued: Mutex::default(),
            token_requests: AtomicUsize::new(0),
            grants: Mutex::default(),
            token_script: Mutex::default(),
            scripts: Mutex::default(),
            always: Mutex::default(),
            records: Mutex::default(),
            per_token: Mutex::default(),
            sends: AtomicUsize::new(0),
            connections: Arc::new(AtomicUsize::new(0)),
        });
        let (listener, addr) = bind();
        let url = format!("https://127.0.0.1:{}", addr.port());
        let token_url = format!("{url}/token");
        *state.token_url.lock().expect("lock") = token_url.clone();
        let handler_state = state.clone();
        let handler: Handler = Arc::new(move |req| {
            let state = handler_state.clone();
            Box::pin(async move { fcm_handle(&state, req).await })
        });
        let acceptor = pki.acceptor(&[b"h2", b"http/1.1"]);
        tokio::spawn(serve(
            listener,
            acceptor,
            handler,
            state.connections.clone(),
            false,
            Arc::new(tokio::sync::Notify::new()),
        ));
        Self {
            state,
            url,
            token_url,
        }
    }

    pub fn script(&self, token: &str, replies: Vec<FcmReply>) {
        self.state
            .scripts
            .lock()
            .expect("lock")
            .entry(token.to_owned())
            .or_default()
            .extend(replies);
    }

    pub fn always(&self, token: &str, reply: FcmReply) {
        self.state
            .always
            .lock()
            .expect("lock")
            .insert(token.to_owned(), reply);
    }

    /// The next token requests get these answers (status, JSON body) before succeeding again.
    pub fn script_token_endpoint(&self, replies: Vec<(u16, Value)>) {
        self.state
            .token_script
            .lock()
            .expect("lock")
            .extend(replies);
    }

    pub fn records(&self) -> Vec<FcmRecord> {
        self.state.records.lock().expect("lock").clone()
    }

    pub fn grants(&self) -> Vec<TokenGrant> {
        self.state.grants.lock().expect("lock").clone()
    }

    pub fn requests_for(&self, token: &str) -> usize {
        self.state
            .per_token
            .lock()
            .expect("lock")
            .get(token)
            .copied()
            .unwrap_or(0)
    }

    pub fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::SeqCst)
    }
}

fn google_error(http: u16, status: &str, message: &str, code: Option<&str>) -> Value {
    let details: Vec<Value> = code
        .map(|c| json!({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": c}))
        .into_iter()
        .collect();
    json!({"error": {"code": http, "message": message, "status": status, "details": details}})
}

fn invalid_argument(message: &str) -> Response<Body> {
    respond(
        400,
        &[],
        google_error(400, "INVALID_ARGUMENT", message, Some("INVALID_ARGUMENT")),
    )
}

async fn fcm_handle(state: &FcmState, req: Request<Incoming>) -> Response<Body> {
    if req.method() != hyper::Method::POST {
        return respond(405, &[], Value::Null);
    }
    let path = req.uri().path().to_owned();
    if path == "/token" {
        return token_endpoint(state, req).await;
    }
    if path != format!("/v1/projects/{PROJECT_ID}/messages:send") {
        return respond(
            404,
            &[],
            google_error(404, "NOT_FOUND", "Requested entity was not found.", None),
        );
    }
    state.sends.fetch_add(1, Ordering::SeqCst);
    let version = req.version();
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let authorized = bearer.as_ref().is_some_and(|b| {
        state
            .issued
            .lock()
            .expect("lock")
            .get(b)
            .is_some_and(|until| Instant::now() < *until)
    });
    if !authorized {
        return respond(
            401,
            &[],
            google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
                None,
            ),
        );
    }
    let Ok(raw) = read_body(req).await else {
        return invalid_argument("unreadable body");
    };
    let Ok(body) = serde_json::from_slice::<Value>(&raw) else {
        return invalid_argument("body is not JSON");
    };
    // The contract for a Tapprove login prompt: data-only, high priority, TTL, collapse key.
    let Some(message) = body.get("message").and_then(Value::as_object) else {
        return invalid_argument("missing message");
    };
    if body.as_object().map(|o| o.len()) != Some(1)
        || message
            .keys()
            .any(|k| !["token", "data", "android"].contains(&k.as_str()))
    {
        return invalid_argument(
            "a login prompt is data-only: message holds token, data and android only",
        );
    }
    let Some(token) = message
        .get("token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
    else {
        return invalid_argument("missing token");
    };
    *state
        .per_token
        .lock()
        .expect("lock")
        .entry(token.clone())
        .or_default() += 1;
    let Some(data) = message.get("data").and_then(Value::as_object) else {
        return invalid_argument("missing data");
    };
    if !data.values().all(Value::is_string) {
        return invalid_argument("data values must be strings");
    }
    if data
        .keys()
        .any(|k| k == "from" || k == "gcm" || k.starts_with("google"))
    {
        return invalid_argument("reserved data key");
    }
    let plain = ["tapprove", "title", "body"];
    let sealed = ["tapprove_sealed", "account", "title", "body"];
    if !plain.iter().all(|k| data.contains_key(*k)) && !sealed.iter().all(|k| data.contains_key(*k))
    {
        return invalid_argument(
            "data must carry tapprove (or tapprove_sealed and account), title and body (docs/PROTOCOL.md §11)",
        );
    }
    let data_len = serde_json::to_vec(data).expect("json").len();
    if data_len > 4096 {
        return invalid_argument("Message is too big");
    }
    let android = message.get("android").cloned().unwrap_or(Value::Null);
    if android["priority"] != json!("high") {
        return invalid_argument("android.priority must be high");
    }
    let ttl_ok = android["ttl"]
        .as_str()
        .and_then(|t| t.strip_suffix('s'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !ttl_ok {
        return invalid_argument("android.ttl must be a duration like \"120s\"");
    }
    if !android["collapse_key"].is_string() {
        return invalid_argument("android.collapse_key missing");
    }
    let scripted = state
        .scripts
        .lock()
        .expect("lock")
        .get_mut(&token)
        .and_then(VecDeque::pop_front);
    let scripted = scripted.or_else(|| state.always.lock().expect("lock").get(&token).cloned());
    match scripted {
        Some(FcmReply::Error {
            http,
            status,
            code,
            retry_after,
        }) => {
            let headers: Vec<(&str, String)> = retry_after
                .map(|s| ("retry-after", s.to_string()))
                .into_iter()
                .collect();
            return respond(http, &headers, google_error(http, status, "scripted", code));
        }
        Some(FcmReply::RevokeAccessToken) => {
            if let Some(b) = bearer {
                state.issued.lock().expect("lock").remove(&b);
            }
            return respond(
                401,
                &[],
                google_error(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials.",
                    None,
                ),
            );
        }
        None => {}
    }
    state.records.lock().expect("lock").push(FcmRecord {
        raw,
        body,
        data_len,
        version,
    });
    respond(
        200,
        &[],
        json!({"name": format!("projects/{PROJECT_ID}/messages/0:{}", state.sends.load(Ordering::SeqCst))}),
    )
}

fn invalid_grant(description: &str) -> Response<Body> {
    respond(
        400,
        &[],
        json!({"error": "invalid_grant", "error_description": description}),
    )
}

/// Google's OAuth2 JWT-bearer grant: form `grant_type` + `assertion`, the assertion RS256 by the
/// service-account key with `iss`, `scope`, `aud` = this endpoint, a current `iat` and
/// `exp ≤ iat + 3600`.
async fn token_endpoint(state: &FcmState, req: Request<Incoming>) -> Response<Body> {
    state.token_requests.fetch_add(1, Ordering::SeqCst);
    if let Some((status, body)) = state.token_script.lock().expect("lock").pop_front() {
        return respond(status, &[], body);
    }
    let form_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !form_type.starts_with("application/x-www-form-urlencoded") {
        return respond(
            400,
            &[],
            json!({"error": "invalid_request", "error_description": "form body expected"}),
        );
    }
    let Ok(body) = read_body(req).await else {
        return invalid_grant("unreadable");
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return respond(
            400,
            &[],
            json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}),
        );
    }
    let Some(assertion) = form.get("assertion") else {
        return invalid_grant("missing assertion");
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let [h, p, s] = parts[..] else {
        return invalid_grant("Invalid JWT");
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).ok();
    let (Some(hb), Some(pb), Some(sig)) = (decode(h), decode(p), decode(s)) else {
        return invalid_grant("Invalid JWT");
    };
    let (Ok(header), Ok(claims)) = (
        serde_json::from_slice::<Value>(&hb),
        serde_json::from_slice::<Value>(&pb),
    ) else {
        return invalid_grant("Invalid JWT");
    };
    if header["alg"] != json!("RS256") {
        return invalid_grant("Invalid JWT: alg must be RS256");
    }
    let key = signature::UnparsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        &state.rsa_public,
    );
    if key
        .verify(&assertion.as_bytes()[..h.len() + 1 + p.len()], &sig)
        .is_err()
    {
        return invalid_grant("Invalid JWT Signature.");
    }
    let token_url = state.token_url.lock().expect("lock").clone();
    if claims["iss"] != json!(CLIENT_EMAIL)
        || claims["scope"] != json!(FCM_SCOPE)
        || claims["aud"] != json!(token_url)
    {
        return invalid_grant("Invalid JWT: iss, scope or aud");
    }
    let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
        return invalid_grant("Invalid JWT: iat/exp");
    };
    let now = unix_now();
    if (iat - now).abs() > 60 || exp <= iat || exp - iat > 3600 {
        return invalid_grant(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        );
    }
    state
        .grants
        .lock()
        .expect("lock")
        .push(TokenGrant { header, claims });
    let mut random = [0u8; 24];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random).expect("random");
    let access = format!("ya29.test-{}", URL_SAFE_NO_PAD.encode(random));
    let expires_in = state.expires_in.load(Ordering::SeqCst);
    state.issued.lock().expect("lock").insert(
        access.clone(),
        Instant::now() + Duration::from_secs(expires_in),
    );
    respond(
        200,
        &[],
        json!({"access_token": access, "expires_in": expires_in, "token_type": "Bearer"}),
    )
}

// ---------------------------------------------------------------------------------------------
// Sender-side fixtures

/// PEM of a PKCS#8 key, as Apple's `.p8` files are.
pub fn p8_pem(key: &SoftwareKey) -> String {
    pem("PRIVATE KEY", key.secret_pkcs8_der())
}

pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("ascii"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Writes the CA, the `.p8` key and the service-account file into a temp dir.
pub struct Files {
    pub dir: tempfile::TempDir,
    pub ca_file: PathBuf,
    pub p8: PathBuf,
    pub service_account: PathBuf,
}

impl Files {
    pub fn new(pki: &TestPki, apns_key: &SoftwareKey, token_uri: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_file = dir.path().join("test-ca.pem");
        std::fs::write(&ca_file, &pki.ca_pem).expect("write ca");
        let p8 = dir.path().join(format!("AuthKey_{KEY_ID}.p8"));
        std::fs::write(&p8, p8_pem(apns_key)).expect("write p8");
        let service_account = dir.path().join("service-account.json");
        std::fs::write(
            &service_account,
            service_account_json(token_uri).to_string(),
        )
        .expect("write sa");
        Self {
            dir,
            ca_file,
            p8,
            service_account,
        }
    }
}

pub fn service_account_json(token_uri: Option<&str>) -> Value {
    let mut sa = json!({
        "type": "service_account",
        "project_id": PROJECT_ID,
        "private_key_id": "0123456789abcdef",
        "private_key": TEST_RSA_KEY,
        "client_email": CLIENT_EMAIL,
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    });
    if let Some(uri) = token_uri {
        sa["token_uri"] = json!(uri);
    }
    sa
}

pub fn fast_retry() -> RetryConfig {
    RetryConfig {
        max_attempts: 4,
        initial_backoff_ms: 20,
        max_backoff_ms: 100,
        request_timeout_ms: 5000,
    }
}

pub fn apns_config(files: &Files, host: &str) -> ApnsConfig {
    ApnsConfig {
        key_path: files.p8.clone(),
        key_id: KEY_ID.into(),
        team_id: TEAM_ID.into(),
        topic: TOPIC.into(),
        environment: None,
        host: Some(host.into()),
        token_refresh_secs: None,
    }
}

pub fn fcm_config(files: &Files, host: &str) -> FcmConfig {
    FcmConfig {
        service_account_path: files.service_account.clone(),
        host: Some(host.into()),
        token_uri: None,
    }
}

pub fn push_config(files: &Files, apns: Option<&MockApns>, fcm: Option<&MockFcm>) -> PushConfig {
    PushConfig {
        apns: apns.map(|m| apns_config(files, &m.url)),
        fcm: fcm.map(|m| fcm_config(files, &m.url)),
        webpush: None,
        ca_file: Some(files.ca_file.clone()),
        retry: fast_retry(),
    }
}

/// A realistic message: a real signed challenge (as the service makes them) expiring in `ttl` s.
pub fn message(ttl: i64) -> PushMessage {
    let service_key = SoftwareKey::generate().expect("key");
    let now = unix_now();
    let challenge = tapprove_protocol::jws::sign(
        &json!({"ver": 1, "session_id": "ses_01JTEST", "account_id": "acc_01JTEST", "user": "alice",
                "title": "Log in to Demo Bank?", "body": "Someone is signing in as alice.",
                "presence": {"mode": "choose", "options": ["17", "42", "88"]},
                "iat": now, "exp": now + ttl, "nonce": "n0nce"}),
        "tapprove-challenge+jwt",
        &service_key.public_key().key_id(),
        &service_key,
    )
    .expect("sign challenge");
    PushMessage {
        collapse_id: "c0ffee0123456789abcdef0123456789".into(),
        title: "Log in to Demo Bank?".into(),
        body: "Someone is signing in as alice.".into(),
        challenge,
        expires_at: now + ttl,
        sealed: None,
    }
}

/// A fresh 32-byte APNs device token (hex).
pub fn apns_token(n: u8) -> String {
    format!("{:02x}", n).repeat(32)
}

pub fn apns_target(device: &str, token: &str) -> PushTarget {
    PushTarget {
        device_id: device.into(),
        platform: PushPlatform::Apns,
        token: token.into(),
        environment: Some(PushEnvironment::Production),
        registered_at: unix_now() - 3600,
    }
}

pub fn fcm_target(device: &str, token: &str) -> PushTarget {
    PushTarget {
        device_id: device.into(),
        platform: PushPlatform::Fcm,
        token: token.into(),
        environment: None,
        registered_at: unix_now() - 3600,
    }
}

/// An FCM-looking registration token.
pub fn fcm_token(n: u8) -> String {
    format!("dEvIcE{n:03}:APA91b{}", "x".repeat(140))
}
