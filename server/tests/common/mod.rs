//! Test harness: a real service on a loopback port with a temp SQLite file, a fake relying
//! party (trust webhook + API client) and software devices.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tapprove_protocol::api::{PairResponse, PendingResponse};
use tapprove_protocol::request_auth::RequestProof;
use tapprove_protocol::webhook;
use tapprove_protocol::{
    Answer, Challenge, Decision, DenyReason, Es256Signer as _, PROTOCOL_VERSION, SoftwareKey,
};
use tapprove_server::{ProjectCredentials, SealKey, Service, ServiceConfig, admin};

pub const GOOD_CODE: &str = "7KQ2-M9XD";

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(40))
        .build()
        .expect("client")
}

/// How the fake trust webhook behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookMode {
    /// 200 for GOOD_CODE with valid Basic auth and signature, 403 otherwise.
    Normal,
    /// Always 500.
    Error500,
    /// Sleeps longer than the service's timeout.
    Slow,
    /// 302 to another URL.
    Redirect,
    /// As `Normal`, but a 200 carries `{"user": <the name lowercased>}` (the canonical name).
    Canonical,
}

/// What the fake webhook saw.
#[derive(Debug, Clone)]
pub struct WebhookCall {
    pub basic_ok: bool,
    pub signature_ok: bool,
    pub body: Value,
    pub timestamp: i64,
}

pub struct FakeRp {
    pub addr: SocketAddr,
    pub mode: Arc<Mutex<WebhookMode>>,
    pub creds: Arc<Mutex<Option<(String, String, String)>>>,
    pub calls: Arc<Mutex<Vec<WebhookCall>>>,
    pub redirect_target_hits: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct RpState {
    mode: Arc<Mutex<WebhookMode>>,
    creds: Arc<Mutex<Option<(String, String, String)>>>,
    calls: Arc<Mutex<Vec<WebhookCall>>>,
    redirect_target_hits: Arc<AtomicUsize>,
}

fn check_signature(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = get(webhook::ID_HEADER);
    let Ok(key) = webhook::WebhookKey::from_secret(secret) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    id.starts_with("msg_")
        && key
            .verify(
                &id,
                &get(webhook::TIMESTAMP_HEADER),
                &get(webhook::SIGNATURE_HEADER),
                body,
                now,
            )
            .is_ok()
}

async fn trust(
    State(s): State<RpState>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let mode = *s.mode.lock().expect("lock");
    let status = trust_status(&s, mode, &headers, &body).await;
    let user = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null)["user"]
        .as_str()
        .map(str::to_lowercase);
    match (mode, status, user) {
        (WebhookMode::Canonical, StatusCode::OK, Some(user)) => {
            (status, axum::Json(json!({ "user": user }))).into_response()
        }
        _ => status.into_response(),
    }
}

async fn trust_status(
    s: &RpState,
    mode: WebhookMode,
    headers: &HeaderMap,
    body: &[u8],
) -> StatusCode {
    match mode {
        WebhookMode::Error500 => return StatusCode::INTERNAL_SERVER_ERROR,
        WebhookMode::Slow => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            return StatusCode::OK;
        }
        WebhookMode::Redirect => return StatusCode::FOUND,
        WebhookMode::Normal | WebhookMode::Canonical => {}
    }
    let Some((user, pass, secret)) = s.creds.lock().expect("lock").clone() else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let basic_ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| webhook::basic_matches(v, user.as_bytes(), pass.as_bytes()));
    let signature_ok = check_signature(&secret, headers, body);
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let timestamp = headers
        .get(webhook::TIMESTAMP_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    s.calls.lock().expect("lock").push(WebhookCall {
        basic_ok,
        signature_ok,
        body: parsed.clone(),
        timestamp,
    });
    if basic_ok && signature_ok && parsed["challenge"] == GOOD_CODE {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    }
}

impl FakeRp {
    pub async fn start() -> Self {
        let state = RpState {
            mode: Arc::new(Mutex::new(WebhookMode::Normal)),
            creds: Arc::new(Mutex::new(None)),
            calls: Arc::new(Mutex::new(Vec::new())),
            redirect_target_hits: Arc::new(AtomicUsize::new(0)),
        };
        let hits = state.redirect_target_hits.clone();
        let app = axum::Router::new()
            .route("/users/trust", axum::routing::post(trust))
            .route(
                "/elsewhere",
                axum::routing::any(move || {
                    let hits = hits.clone();
                    async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        StatusCode::OK
                    }
                }),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            mode: state.mode,
            creds: state.creds,
            calls: state.calls,
            redirect_target_hits: state.redirect_target_hits,
        }
    }

    pub fn trust_url(&self) -> String {
        format!("http://{}/users/trust", self.addr)
    }

    pub fn set_mode(&self, mode: WebhookMode) {
        *self.mode.lock().expect("lock") = mode;
    }

    pub fn set_creds(&self, c: &ProjectCredentials) {
        *self.creds.lock().expect("lock") = Some((
            c.webhook_username.clone(),
            c.webhook_password.expose().to_owned(),
            c.webhook_secret.expose().to_owned(),
        ));
    }

    pub fn calls(&self) -> Vec<WebhookCall> {
        self.calls.lock().expect("lock").clone()
    }
}

/// A service plus everything to drive it.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub config: ServiceConfig,
    pub service: Option<tapprove_server::RunningService>,
    pub base: String,
    pub rp: FakeRp,
    pub project: ProjectCredentials,
    pub http: reqwest::Client,
}

/// The environment variable naming a PostgreSQL server the tests run against (an admin URL
/// such as `postgres://postgres@127.0.0.1:5432/postgres`); unset, they use SQLite files.
/// `cargo xtask test postgres` starts a throwaway cluster and sets it.
pub const POSTGRES_ENV: &str = "TAPPROVE_TEST_POSTGRES_URL";

/// A fresh, empty database for one test: an SQLite file in `dir`, or a new database on the
/// PostgreSQL server named by [`POSTGRES_ENV`].
pub async fn test_database_url(dir: &std::path::Path) -> String {
    let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
        return format!("sqlite://{}/tapprove.db?mode=rwc", dir.display());
    };
    let mut id = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id).expect("rand");
    let name: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("tapprove_test_{name}");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .expect("connect to the test PostgreSQL server");
    sqlx::Executor::execute(
        &mut conn,
        sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
    )
    .await
    .expect("create a test database");
    let mut url = url::Url::parse(&admin_url).expect("postgres URL");
    url.set_path(&name);
    url.to_string()
}

pub async fn test_config(dir: &std::path::Path) -> ServiceConfig {
    ServiceConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        database_url: test_database_url(dir).await,
        seal_key: Some(SealKey::generate().expect("seal key")),
        webhook_timeout: Duration::from_millis(700),
        sweep_interval: Duration::from_millis(200),
        ..ServiceConfig::default()
    }
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut ServiceConfig)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(dir.path()).await;
        tweak(&mut config);
        let service = Service::start(config.clone())
            .await
            .expect("service starts");
        Self::finish(dir, config, service).await
    }

    pub async fn finish(
        dir: tempfile::TempDir,
        config: ServiceConfig,
        service: tapprove_server::RunningService,
    ) -> Self {
        let base = format!("http://{}", service.local_addr());
        let rp = FakeRp::start().await;
        let project = admin::create_project(
            &config.database_url,
            config.seal_key.as_ref().expect("seal key"),
            "Demo Bank",
            &rp.trust_url(),
        )
        .await
        .expect("project");
        rp.set_creds(&project);
        Self {
            dir,
            config,
            service: Some(service),
            base,
            rp,
            project,
            http: http(),
        }
    }

    /// Stops and starts the service on the same database and seal key (new port).
    pub async fn restart(&mut self) {
        if let Some(s) = self.service.take() {
            s.shutdown().await.expect("shutdown");
        }
        let s = Service::start(self.config.clone()).await.expect("restart");
        self.base = format!("http://{}", s.local_addr());
        self.service = Some(s);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn api_key(&self) -> &str {
        self.project.api_key.expose()
    }

    /// Creates a session as the relying party; returns (status, body).
    pub async fn create_session(&self, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url("/v1/push/sessions"))
            .header("x-api-key", self.api_key())
            .json(&body)
            .send()
            .await
            .expect("send");
        status_json(r).await
    }

    pub async fn login(&self, user: &str) -> Value {
        let (status, body) = self
            .create_session(json!({"user": user, "notification": {"title": "Log in to Demo Bank?", "body": "Someone is signing in."},
                                   "context": {"ip": "203.0.113.7", "app": "Demo Bank"}}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Lifts the user's lock (after "not me") as the relying party; returns the status.
    pub async fn lift_lock(&self, user: &str) -> StatusCode {
        self.http
            .delete(self.url(&format!("/v1/users/{user}/lock")))
            .header("x-api-key", self.api_key())
            .send()
            .await
            .expect("send")
            .status()
    }

    pub async fn get_session(&self, id: &str, wait: Option<u32>) -> (StatusCode, Value) {
        let mut url = self.url(&format!("/v1/push/sessions/{id}"));
        if let Some(w) = wait {
            url.push_str(&format!("?wait={w}"));
        }
        let r = self
            .http
            .get(url)
            .bearer_auth(self.api_key())
            .send()
            .await
            .expect("send");
        status_json(r).await
    }

    pub async fn pair(&self, user: &str) -> Device {
        let device = Device::new(&self.project.sdk_key);
        let (status, body) = device.pair(self, user, GOOD_CODE).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        device.with_pairing(serde_json::from_value(body).expect("pair response"))
    }
}

pub async fn status_json(r: reqwest::Response) -> (StatusCode, Value) {
    let status = StatusCode::from_u16(r.status().as_u16()).expect("status");
    let text = r.text().await.expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

/// Asserts the §10 error shape and returns the message.
pub fn assert_error(status: StatusCode, body: &Value, expect_status: u16, code: &str) -> String {
    assert_eq!(status.as_u16(), expect_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(
        message.len() > 10,
        "message should be a sentence: {message}"
    );
    message
}

/// A software device (one account).
pub struct Device {
    pub key: Arc<SoftwareKey>,
    pub sdk_key: String,
    pub sdk_header: String,
    pub pairing: Option<PairResponse>,
    pub push: Option<Value>,
    /// `key_protection` sent at pairing, if any.
    pub key_protection: Option<&'static str>,
}

impl Device {
    pub fn new(sdk_key: &str) -> Self {
        Self {
            key: Arc::new(SoftwareKey::generate().expect("key")),
            sdk_key: sdk_key.to_owned(),
            sdk_header: "rust/0.1.0".into(),
            pairing: None,
            push: None,
            key_protection: None,
        }
    }

    pub fn key_b64(&self) -> String {
        self.key.public_key().to_base64url()
    }

    pub fn with_pairing(mut self, p: PairResponse) -> Self {
        self.pairing = Some(p);
        self
    }

    pub fn account_id(&self) -> &str {
        &self.pairing.as_ref().expect("paired").account_id
    }

    pub async fn pair(&self, h: &Harness, user: &str, code: &str) -> (StatusCode, Value) {
        let mut body = json!({"user": user, "pairing_code": code,
                              "public_key": self.key.public_key().to_base64url(),
                              "device_name": "test device"});
        if let Some(p) = &self.push {
            body["push"] = p.clone();
        }
        if let Some(k) = self.key_protection {
            body["key_protection"] = json!(k);
        }
        let r = h
            .http
            .post(h.url("/v1/device/pair"))
            .header("x-tapprove-sdk-key", &self.sdk_key)
            .header("x-tapprove-sdk", &self.sdk_header)
            .json(&body)
            .send()
            .await
            .expect("send");
        status_json(r).await
    }

    pub fn proof(&self, method: &str, path: &str, body: &[u8]) -> String {
        let jti = format!("jti-{}", rand_suffix());
        RequestProof::authorization(
            self.account_id(),
            method,
            path,
            body,
            now(),
            &jti,
            self.key.as_ref(),
        )
        .expect("proof")
    }

    pub async fn call(
        &self,
        h: &Harness,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let bytes = body
            .map(|b| serde_json::to_vec(&b).expect("json"))
            .unwrap_or_default();
        let auth = self.proof(method, path, &bytes);
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = h
            .http
            .request(m, h.url(path))
            .header("authorization", auth)
            .header("x-tapprove-sdk", &self.sdk_header);
        if !bytes.is_empty() {
            req = req.header("content-type", "application/json").body(bytes);
        }
        status_json(req.send().await.expect("send")).await
    }

    /// Pending challenges, verified with the pinned service key.
    pub async fn pending(&self, h: &Harness) -> Vec<(String, Challenge)> {
        let (status, body) = self.call(h, "GET", "/v1/device/pending", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let p: PendingResponse = serde_json::from_value(body).expect("pending");
        p.challenges
            .into_iter()
            .map(|t| {
                let c = self.verify(&t);
                (t, c)
            })
            .collect()
    }

    pub fn verify(&self, token: &str) -> Challenge {
        let key = &self.pairing.as_ref().expect("paired").service_key;
        let c = Challenge::verify(token, key, now(), 60)
            .expect("challenge verifies with the pinned key");
        assert_eq!(c.account_id, self.account_id());
        c
    }

    pub fn sign_answer(
        &self,
        c: &Challenge,
        decision: Decision,
        presence: Option<&str>,
        deny: Option<DenyReason>,
    ) -> String {
        Answer {
            uv: None,
            ver: PROTOCOL_VERSION,
            session_id: c.session_id.clone(),
            account_id: self.account_id().to_owned(),
            decision,
            presence_answer: presence.map(str::to_owned),
            deny_reason: deny,
            iat: now(),
            nonce: c.nonce.clone(),
        }
        .sign(self.key.as_ref())
        .expect("sign answer")
    }

    pub async fn send_answer(&self, h: &Harness, token: &str) -> (StatusCode, Value) {
        let r = h
            .http
            .post(h.url("/v1/device/answers"))
            .header("x-tapprove-sdk", &self.sdk_header)
            .json(&json!({"answer": token}))
            .send()
            .await
            .expect("send");
        status_json(r).await
    }

    pub async fn answer(
        &self,
        h: &Harness,
        c: &Challenge,
        decision: Decision,
        presence: Option<&str>,
        deny: Option<DenyReason>,
    ) -> (StatusCode, Value) {
        let token = self.sign_answer(c, decision, presence, deny);
        self.send_answer(h, &token).await
    }

    /// The one pending challenge for `session_id`.
    pub async fn challenge_for(&self, h: &Harness, session_id: &str) -> Challenge {
        self.pending(h)
            .await
            .into_iter()
            .map(|(_, c)| c)
            .find(|c| c.session_id == session_id)
            .expect("challenge pending for this device")
    }

    /// Opens the event stream.
    pub async fn events(&self, h: &Harness) -> SseReader {
        let auth = self.proof("GET", "/v1/device/events", b"");
        let r = h
            .http
            .get(h.url("/v1/device/events"))
            .header("authorization", auth)
            .header("x-tapprove-sdk", &self.sdk_header)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .expect("ct")
                .starts_with("text/event-stream")
        );
        SseReader {
            stream: Box::pin(r.bytes_stream()),
            buf: String::new(),
        }
    }
}

pub fn rand_suffix() -> String {
    let mut b = [0u8; 12];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("rand");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Reads SSE events (`event` name, `data`), skipping comments.
pub struct SseReader {
    stream: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buf: String,
}

impl SseReader {
    /// Next event or comment block within `timeout`: (event name or "comment", data).
    pub async fn next_raw(&mut self, timeout: Duration) -> Option<(String, String)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..pos + 2).collect();
                let mut event = String::from("message");
                let mut data = Vec::new();
                let mut comment = None;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push(v.to_owned());
                    } else if let Some(v) = line.strip_prefix(':') {
                        comment = Some(v.trim().to_owned());
                    }
                }
                if data.is_empty() {
                    if let Some(c) = comment {
                        return Some(("comment".into(), c));
                    }
                    continue;
                }
                return Some((event, data.join("\n")));
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??
                .ok()?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Whether the stream ends within `timeout`; `Err` with an event it sent first (comments
    /// are skipped).
    pub async fn ends_within(&mut self, timeout: Duration) -> Result<bool, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..pos + 2).collect();
                if block.lines().any(|l| l.starts_with("data:")) {
                    return Err(block);
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Ok(false),
                Ok(None) | Ok(Some(Err(_))) => return Ok(true),
                Ok(Some(Ok(chunk))) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
            }
        }
    }

    /// Next real event (comments skipped).
    pub async fn next_event(&mut self, timeout: Duration) -> Option<(String, String)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (name, data) = self.next_raw(left).await?;
            if name != "comment" {
                return Some((name, data));
            }
        }
    }
}

/// Picks the option equal to the code the login page shows.
pub fn right_option(c: &Challenge, code: &str) -> String {
    assert!(
        c.presence.options.iter().any(|o| o == code),
        "code among the options"
    );
    code.to_owned()
}

/// Picks an option that is not the code.
pub fn wrong_option(c: &Challenge, code: &str) -> String {
    c.presence
        .options
        .iter()
        .find(|o| *o != code)
        .expect("a decoy")
        .clone()
}
