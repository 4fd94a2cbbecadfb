//! Test support: a tiny loopback **stub** of the device API (docs/PROTOCOL.md §5/§6).
//!
//! This is NOT the real Tapprove service (crate tapprove-server); it is a few hundred lines that
//! enforce what the device core must do on the wire — the `X-Tapprove-SDK` header on every
//! request, the SDK key on pairing, a valid request proof (signature, method, path, body hash,
//! time, fresh `jti`) on authenticated calls, answers signed with the paired device key and
//! echoing the challenge nonce — so the core's HTTP client is tested over real loopback HTTP.
//! The real end-to-end tests against `tapprove serve` live in tests/e2e (another crate).

#![allow(dead_code, clippy::unwrap_used, clippy::result_large_err)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use futures_util::StreamExt as _;
use tapprove_core::{Clock, Config, PresenceMode, PushRegistration, UserVerification, UvMethod};
use tapprove_protocol::api::{
    AnswerRequest, AnswerResponse, DecidedEvent, ErrorBody, ErrorCode, PairRequest, PairResponse,
    PendingResponse, SessionReason, SessionStatus,
};
use tapprove_protocol::request_auth::RequestProof;
use tapprove_protocol::{
    Answer, Challenge, Context, Decision, DenyReason, Es256Signer, KeyUpdate, Presence, PublicKey,
    SoftwareKey,
};

pub const SDK_KEY: &str = "tap_sdk_TESTtestTESTtestTESTte";
pub const PAIRING_CODE: &str = "7KQ2-M9XD";

/// A clock tests can move.
#[derive(Debug)]
pub struct FakeClock(pub AtomicI64);

impl FakeClock {
    pub fn new(now: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(now)))
    }
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[derive(Debug, Clone)]
pub struct Device {
    pub key: PublicKey,
    pub user: String,
    pub push: Option<PushRegistration>,
    /// The push key of the first pairing request (a retry returns the same account as is).
    pub push_key: Option<tapprove_protocol::sealed::PushPublicKey>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub account_id: String,
    pub token: String,
    pub nonce: String,
    pub code: Option<String>,
    pub exp: i64,
    pub status: SessionStatus,
    pub reason: Option<SessionReason>,
    /// The `uv` of the accepted answer.
    pub uv: Option<UvMethod>,
}

#[derive(Debug, Clone)]
pub enum Live {
    Challenge {
        account_id: String,
        token: String,
    },
    Decided {
        account_id: String,
        session_id: String,
        status: SessionStatus,
    },
    /// A key update on the event streams.
    KeyUpdate {
        token: String,
    },
    /// Ends every open event stream (as a service restart would).
    CloseStreams,
}

/// Behaviour switches for error paths.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// Answer every request with this status + code + message (+ Retry-After for 429).
    pub fail_all: Option<(u16, &'static str, &'static str)>,
    /// Pairings (registered, then the connection is dropped without an answer) still to lose.
    pub lose_pair_responses: usize,
    /// The id the next new pairing gets (to simulate a service reusing another's ids).
    pub next_account_id: Option<String>,
}

pub struct StubState {
    /// The key that signs challenges now (a rollover replaces it).
    pub service_key: Mutex<Arc<SoftwareKey>>,
    /// Sent in the `x-tapprove-key-update` header of every response and in pending responses.
    pub key_update: Mutex<Option<String>>,
    /// Revoked accounts and when.
    pub revoked: Mutex<HashMap<String, i64>>,
    pub offset: AtomicI64,
    pub devices: Mutex<HashMap<String, Device>>,
    pub sessions: Mutex<HashMap<String, Session>>,
    pub jtis: Mutex<HashSet<String>>,
    pub counter: AtomicUsize,
    pub answer_calls: AtomicUsize,
    /// Verified code-shown acknowledgements: (session id, uv).
    pub shown: Mutex<Vec<(String, UvMethod)>>,
    pub pending_calls: AtomicUsize,
    pub push_token_calls: AtomicUsize,
    /// Accounts whose push token the "provider" refused (cleared until a new one arrives).
    pub lost_push: Mutex<HashSet<String>>,
    pub event_connects: AtomicUsize,
    pub faults: Mutex<Faults>,
    pub live: tokio::sync::broadcast::Sender<Live>,
    pub project_name: String,
}

impl StubState {
    pub fn now(&self) -> i64 {
        real_now() + self.offset.load(Ordering::SeqCst)
    }

    pub fn signing_key(&self) -> Arc<SoftwareKey> {
        self.service_key.lock().unwrap().clone()
    }

    fn revoked_error(&self, account_id: &str) -> Option<Response> {
        let at = *self.revoked.lock().unwrap().get(account_id)?;
        let body = ErrorBody::revoked("Demo Bank removed this device.", at);
        Some((StatusCode::FORBIDDEN, axum::Json(body)).into_response())
    }
}

pub struct Stub {
    pub addr: SocketAddr,
    pub state: Arc<StubState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stub {
    pub async fn start() -> Self {
        Self::start_named("Demo Bank").await
    }

    pub async fn start_named(project_name: &str) -> Self {
        let (live, _) = tokio::sync::broadcast::channel(64);
        let state = Arc::new(StubState {
            service_key: Mutex::new(Arc::new(SoftwareKey::generate().unwrap())),
            key_update: Mutex::new(None),
            revoked: Mutex::new(HashMap::new()),
            offset: AtomicI64::new(0),
            devices: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            jtis: Mutex::new(HashSet::new()),
            counter: AtomicUsize::new(0),
            answer_calls: AtomicUsize::new(0),
            shown: Mutex::new(Vec::new()),
            pending_calls: AtomicUsize::new(0),
            push_token_calls: AtomicUsize::new(0),
            lost_push: Mutex::new(HashSet::new()),
            event_connects: AtomicUsize::new(0),
            faults: Mutex::new(Faults::default()),
            live,
            project_name: project_name.to_owned(),
        });
        let app = Router::new()
            .route("/v1/device/pair", post(pair))
            .route("/v1/device/push-token", put(push_token))
            .route("/v1/device", delete(unpair))
            .route("/v1/device/pending", get(pending))
            .route("/v1/device/answers", post(answers))
            .route("/v1/device/shown", post(shown))
            .route("/v1/device/events", get(events))
            .layer(axum::middleware::from_fn_with_state(state.clone(), common))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, state, task }
    }

    /// An APNs payload for the challenge `token` as the service sends it: sealed to the
    /// account's push key when the device sent one at pairing, readable otherwise.
    pub fn apns(&self, token: &str) -> String {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        let account_id = claims["account_id"].as_str().unwrap_or_default().to_owned();
        let alert = serde_json::json!({"title": "Login request", "body": "b"});
        match self.device(&account_id).and_then(|d| d.push_key) {
            Some(key) => serde_json::json!({
                "aps": {"alert": alert, "mutable-content": 1},
                "tapprove_sealed": tapprove_protocol::sealed::seal(&key, &account_id, token).unwrap(),
                "account": account_id,
            })
            .to_string(),
            None => serde_json::json!({"aps": {"alert": alert}, "tapprove": token}).to_string(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> Config {
        Config::new(&self.url(), SDK_KEY).unwrap()
    }

    pub fn service_key(&self) -> PublicKey {
        self.state.signing_key().public_key()
    }

    /// Rolls the service key: a new key signs challenges from now on, and the key update
    /// (signed by the old key) is returned; with `announce` it is also served in headers and
    /// pending responses.
    pub fn rotate_key(&self, grace: i64, announce: bool) -> (Arc<SoftwareKey>, String) {
        let old = self.state.signing_key();
        let new = Arc::new(SoftwareKey::generate().unwrap());
        let now = self.state.now();
        let token = KeyUpdate {
            ver: 1,
            new_key: new.public_key(),
            old_key_valid_until: now + grace,
            iat: now,
        }
        .sign(old.as_ref())
        .unwrap();
        *self.state.service_key.lock().unwrap() = new.clone();
        if announce {
            *self.state.key_update.lock().unwrap() = Some(token.clone());
        }
        (old, token)
    }

    /// Serves `token` as the key update in headers and pending responses (None: stop).
    pub fn announce_key_update(&self, token: Option<String>) {
        *self.state.key_update.lock().unwrap() = token;
    }

    /// Sends a key update on the open event streams.
    pub fn send_key_update_event(&self, token: &str) {
        let _ = self.state.live.send(Live::KeyUpdate {
            token: token.to_owned(),
        });
    }

    /// Revokes an account at `at`: its next call gets `403 revoked`.
    pub fn revoke(&self, account_id: &str, at: i64) {
        self.state
            .revoked
            .lock()
            .unwrap()
            .insert(account_id.to_owned(), at);
    }

    pub fn next_account_id(&self, id: &str) {
        self.state.faults.lock().unwrap().next_account_id = Some(id.to_owned());
    }

    pub fn lose_pair_responses(&self, n: usize) {
        self.state.faults.lock().unwrap().lose_pair_responses = n;
    }

    pub fn device_count(&self) -> usize {
        self.state.devices.lock().unwrap().len()
    }

    /// Sets the service clock to real time + `secs`.
    pub fn set_offset(&self, secs: i64) {
        self.state.offset.store(secs, Ordering::SeqCst);
    }

    pub fn fail_all(&self, fault: Option<(u16, &'static str, &'static str)>) {
        self.state.faults.lock().unwrap().fail_all = fault;
    }

    /// Creates a login session for `account_id` (as the RP API would), publishes it on the
    /// event streams, and returns (session id, signed challenge, presence code).
    pub fn create_session(
        &self,
        account_id: &str,
        mode: PresenceMode,
        ttl: i64,
    ) -> (String, String, Option<String>) {
        self.create_session_with(account_id, mode, ttl, None, None)
    }

    /// Like `create_session`; an entry session with `length` has the code "123456"[..length]
    /// (up to 6), and `uv` is the challenge's user-verification policy.
    pub fn create_session_with(
        &self,
        account_id: &str,
        mode: PresenceMode,
        ttl: i64,
        length: Option<u8>,
        uv: Option<UserVerification>,
    ) -> (String, String, Option<String>) {
        let n = self.state.counter.fetch_add(1, Ordering::SeqCst);
        let session_id = format!("ses_{n:04}_{}", self.addr.port());
        let now = self.state.now();
        let (code, options) = match mode {
            PresenceMode::Choose => (
                Some("42".to_owned()),
                vec!["17".into(), "42".into(), "88".into()],
            ),
            PresenceMode::Entry => match length {
                Some(n) => (Some("123456"[..usize::from(n)].to_owned()), vec![]),
                None => (Some("42".to_owned()), vec![]),
            },
            PresenceMode::None => (None, vec![]),
            PresenceMode::Display => (Some("482913".to_owned()), vec![]),
        };
        let nonce = format!("nonce-{n}");
        let challenge = Challenge {
            user_verification: uv,
            ver: 1,
            session_id: session_id.clone(),
            account_id: account_id.to_owned(),
            user: "alice".into(),
            title: "Log in to Demo Bank?".into(),
            body: "Someone is signing in as alice.".into(),
            context: Context {
                app: Some("Demo Bank".into()),
                ip: Some("203.0.113.7".into()),
                ..Context::default()
            },
            presence: Presence {
                code: code.clone().filter(|_| mode == PresenceMode::Display),
                length: if mode == PresenceMode::Entry {
                    length
                } else {
                    None
                },
                mode,
                options,
            },
            iat: now,
            exp: now + ttl,
            nonce: nonce.clone(),
        };
        let token = challenge.sign(self.state.signing_key().as_ref()).unwrap();
        self.state.sessions.lock().unwrap().insert(
            session_id.clone(),
            Session {
                account_id: account_id.to_owned(),
                token: token.clone(),
                nonce,
                code: code.clone(),
                exp: now + ttl,
                status: SessionStatus::Sent,
                reason: None,
                uv: None,
            },
        );
        let _ = self.state.live.send(Live::Challenge {
            account_id: account_id.to_owned(),
            token: token.clone(),
        });
        (session_id, token, code)
    }

    /// Finalises a session as if another device or the site had (publishes `decided`).
    pub fn decide_elsewhere(&self, session_id: &str, status: SessionStatus) {
        let mut sessions = self.state.sessions.lock().unwrap();
        let s = sessions.get_mut(session_id).unwrap();
        s.status = status;
        let _ = self.state.live.send(Live::Decided {
            account_id: s.account_id.clone(),
            session_id: session_id.to_owned(),
            status,
        });
    }

    pub fn close_streams(&self) {
        let _ = self.state.live.send(Live::CloseStreams);
    }

    pub fn session(&self, id: &str) -> Session {
        self.state
            .sessions
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .unwrap()
    }

    pub fn forget_device(&self, account_id: &str) {
        self.state.devices.lock().unwrap().remove(account_id);
    }

    pub fn device(&self, account_id: &str) -> Option<Device> {
        self.state.devices.lock().unwrap().get(account_id).cloned()
    }

    /// `PUT /v1/device/push-token` calls so far.
    pub fn push_token_calls(&self) -> usize {
        self.state.push_token_calls.load(Ordering::SeqCst)
    }

    /// Forgets the account's push token, as the service does when the provider refuses it;
    /// `pending` then says `push_token_missing` until a new one arrives.
    pub fn lose_push_token(&self, account_id: &str) {
        self.state
            .devices
            .lock()
            .unwrap()
            .get_mut(account_id)
            .unwrap()
            .push = None;
        self.state
            .lost_push
            .lock()
            .unwrap()
            .insert(account_id.to_owned());
    }

    pub fn answer_calls(&self) -> usize {
        self.state.answer_calls.load(Ordering::SeqCst)
    }
}

fn error(status: u16, code: ErrorCode, message: &str) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(ErrorBody::new(code, message)),
    )
        .into_response();
    if status == 429 {
        r.headers_mut()
            .insert("retry-after", HeaderValue::from_static("17"));
    }
    r
}

/// Every request: the SDK header must be present; faults apply; the Date header carries the
/// stub's (possibly skewed) clock.
async fn common(
    State(st): State<Arc<StubState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let sdk = req
        .headers()
        .get("x-tapprove-sdk")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut resp = if sdk != concat!("rust/", env!("CARGO_PKG_VERSION")) {
        error(
            400,
            ErrorCode::InvalidRequest,
            "missing or wrong X-Tapprove-SDK header",
        )
    } else if let Some((status, code, message)) = st.faults.lock().unwrap().fail_all {
        let code: ErrorCode =
            serde_json::from_value(serde_json::Value::String(code.into())).unwrap();
        error(status, code, message)
    } else {
        next.run(req).await
    };
    let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(st.now() as u64));
    resp.headers_mut()
        .insert("date", HeaderValue::from_str(&date).unwrap());
    if let Some(update) = st.key_update.lock().unwrap().clone() {
        resp.headers_mut().insert(
            tapprove_protocol::api::KEY_UPDATE_HEADER,
            HeaderValue::from_str(&update).unwrap(),
        );
    }
    resp
}

/// Verifies the request proof; returns the account id.
fn authenticate(
    st: &StubState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, Response> {
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(error(401, ErrorCode::Unauthorized, "missing request proof"));
    };
    let account_id = RequestProof::peek_account_id(auth)
        .map_err(|_| error(401, ErrorCode::Unauthorized, "bad proof"))?;
    if let Some(r) = st.revoked_error(&account_id) {
        return Err(r);
    }
    let Some(device) = st.devices.lock().unwrap().get(&account_id).cloned() else {
        return Err(error(
            401,
            ErrorCode::NotPaired,
            "This device is not paired.",
        ));
    };
    let proof = RequestProof::verify(
        auth,
        &device.key,
        method.as_str(),
        uri.path(),
        body,
        st.now(),
        60,
    )
    .map_err(|e| {
        error(
            401,
            ErrorCode::Unauthorized,
            &format!("request proof refused: {e}"),
        )
    })?;
    if proof.jti.len() < 16 || !st.jtis.lock().unwrap().insert(proof.jti) {
        return Err(error(
            401,
            ErrorCode::Unauthorized,
            "replayed request proof",
        ));
    }
    Ok(account_id)
}

async fn pair(State(st): State<Arc<StubState>>, headers: HeaderMap, body: Bytes) -> Response {
    if headers
        .get("x-tapprove-sdk-key")
        .and_then(|v| v.to_str().ok())
        != Some(SDK_KEY)
    {
        return error(401, ErrorCode::InvalidSdkKey, "unknown SDK key");
    }
    if headers.get("authorization").is_some() {
        return error(
            400,
            ErrorCode::InvalidRequest,
            "pairing carries no request proof",
        );
    }
    let Ok(req) = serde_json::from_slice::<PairRequest>(&body) else {
        return error(400, ErrorCode::InvalidRequest, "bad pairing body");
    };
    if req.pairing_code != PAIRING_CODE {
        return error(
            403,
            ErrorCode::PairingRejected,
            "The site did not accept this pairing code. Ask for a new one.",
        );
    }
    // Retry-safe pairing (PROTOCOL §6): the same device key for the same user is the same
    // pairing, answered with the same account.
    let existing = st
        .devices
        .lock()
        .unwrap()
        .iter()
        .find(|(_, d)| d.key == req.public_key && d.user == req.user)
        .map(|(id, _)| id.clone());
    let account_id = match existing {
        Some(id) => id,
        None => {
            let n = st.counter.fetch_add(1, Ordering::SeqCst);
            // Real services use random ids; the process-wide counter keeps stubs from colliding.
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let forced = st.faults.lock().unwrap().next_account_id.take();
            let account_id = forced.unwrap_or_else(|| {
                format!("acc_{n:04}_{:04}", NEXT.fetch_add(1, Ordering::SeqCst))
            });
            st.devices.lock().unwrap().insert(
                account_id.clone(),
                Device {
                    key: req.public_key,
                    user: req.user.clone(),
                    push: req.push,
                    push_key: req.push_key,
                },
            );
            account_id
        }
    };
    {
        let mut faults = st.faults.lock().unwrap();
        if faults.lose_pair_responses > 0 {
            faults.lose_pair_responses -= 1;
            drop(faults);
            // The pairing is stored; the answer never arrives (the connection just closes).
            std::panic::resume_unwind(Box::new("stub: losing the pairing response"));
        }
    }
    let resp = PairResponse {
        user_verification: None,
        account_id,
        project_id: "prj_0001".into(),
        project_name: st.project_name.clone(),
        user: req.user,
        service_key: st.signing_key().public_key(),
        server_time: st.now(),
    };
    (StatusCode::CREATED, axum::Json(resp)).into_response()
}

async fn push_token(
    State(st): State<Arc<StubState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let account_id = match authenticate(&st, &method, &uri, &headers, &body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Ok(reg) = serde_json::from_slice::<PushRegistration>(&body) else {
        return error(400, ErrorCode::InvalidRequest, "bad body");
    };
    st.push_token_calls.fetch_add(1, Ordering::SeqCst);
    st.lost_push.lock().unwrap().remove(&account_id);
    st.devices
        .lock()
        .unwrap()
        .get_mut(&account_id)
        .unwrap()
        .push = Some(reg);
    StatusCode::NO_CONTENT.into_response()
}

async fn unpair(
    State(st): State<Arc<StubState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match authenticate(&st, &method, &uri, &headers, &body) {
        Ok(a) => {
            st.devices.lock().unwrap().remove(&a);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => r,
    }
}

fn pending_tokens(st: &StubState, account_id: &str) -> Vec<String> {
    let now = st.now();
    let mut list: Vec<(String, String)> = st
        .sessions
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, s)| {
            s.account_id == account_id && s.status == SessionStatus::Sent && s.exp >= now
        })
        .map(|(id, s)| (id.clone(), s.token.clone()))
        .collect();
    list.sort();
    list.into_iter().map(|(_, t)| t).collect()
}

async fn pending(
    State(st): State<Arc<StubState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    st.pending_calls.fetch_add(1, Ordering::SeqCst);
    let account_id = match authenticate(&st, &method, &uri, &headers, &body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    axum::Json(PendingResponse {
        key_update: st.key_update.lock().unwrap().clone(),
        challenges: pending_tokens(&st, &account_id),
        push_token_missing: st.lost_push.lock().unwrap().contains(&account_id),
    })
    .into_response()
}

/// `POST /v1/device/shown`: verified like an answer; recorded for the tests.
async fn shown(State(st): State<Arc<StubState>>, body: Bytes) -> Response {
    let Ok(tapprove_protocol::api::ShownRequest { shown }) = serde_json::from_slice(&body) else {
        return error(400, ErrorCode::InvalidRequest, "bad body");
    };
    let Ok((session_id, account_id)) = tapprove_protocol::CodeShown::peek_ids(&shown) else {
        return error(400, ErrorCode::InvalidRequest, "bad token");
    };
    let Some(device) = st.devices.lock().unwrap().get(&account_id).cloned() else {
        return error(401, ErrorCode::NotPaired, "This device is not paired.");
    };
    let ack = match tapprove_protocol::CodeShown::verify(&shown, &device.key, st.now(), 60) {
        Ok(a) => a,
        Err(e) => return error(400, ErrorCode::BadSignature, &format!("refused: {e}")),
    };
    let sessions = st.sessions.lock().unwrap();
    let Some(s) = sessions
        .get(&session_id)
        .filter(|s| s.account_id == account_id && s.nonce == ack.nonce)
    else {
        return error(404, ErrorCode::NotFound, "no such session");
    };
    st.shown.lock().unwrap().push((session_id.clone(), ack.uv));
    axum::Json(AnswerResponse {
        session_id,
        status: s.status,
        reason: None,
    })
    .into_response()
}

async fn answers(State(st): State<Arc<StubState>>, headers: HeaderMap, body: Bytes) -> Response {
    st.answer_calls.fetch_add(1, Ordering::SeqCst);
    if headers.get("authorization").is_some() {
        return error(
            400,
            ErrorCode::InvalidRequest,
            "answers carry no request proof",
        );
    }
    let Ok(AnswerRequest { answer }) = serde_json::from_slice(&body) else {
        return error(400, ErrorCode::InvalidRequest, "bad body");
    };
    let Ok((session_id, account_id)) = Answer::peek_ids(&answer) else {
        return error(400, ErrorCode::InvalidRequest, "bad answer");
    };
    if let Some(r) = st.revoked_error(&account_id) {
        return r;
    }
    let Some(device) = st.devices.lock().unwrap().get(&account_id).cloned() else {
        return error(401, ErrorCode::NotPaired, "This device is not paired.");
    };
    let answer = match Answer::verify(&answer, &device.key, st.now(), 60) {
        Ok(a) => a,
        Err(
            e @ (tapprove_protocol::ProtocolError::Expired
            | tapprove_protocol::ProtocolError::NotYetValid),
        ) => {
            return error(400, ErrorCode::ClockSkew, &format!("answer refused: {e}"));
        }
        Err(e) => {
            return error(
                400,
                ErrorCode::BadSignature,
                &format!("answer refused: {e}"),
            );
        }
    };
    let mut sessions = st.sessions.lock().unwrap();
    let Some(s) = sessions
        .get_mut(&session_id)
        .filter(|s| s.account_id == account_id)
    else {
        return error(404, ErrorCode::NotFound, "no such session");
    };
    if s.nonce != answer.nonce {
        return error(400, ErrorCode::BadSignature, "nonce mismatch");
    }
    if s.status != SessionStatus::Sent {
        return error(409, ErrorCode::AlreadyDecided, "already decided");
    }
    if st.now() > s.exp {
        s.status = SessionStatus::Expired;
        return error(410, ErrorCode::Expired, "expired");
    }
    let (status, reason) = match (answer.decision, answer.deny_reason) {
        (Decision::Approve, _) if answer.presence_answer == s.code => {
            (SessionStatus::Accepted, SessionReason::Approved)
        }
        (Decision::Approve, _) => (SessionStatus::Rejected, SessionReason::WrongNumber),
        (Decision::Deny, Some(DenyReason::NotMe)) => {
            (SessionStatus::Rejected, SessionReason::FraudReported)
        }
        (Decision::Deny, _) => (SessionStatus::Rejected, SessionReason::UserDenied),
    };
    s.status = status;
    s.reason = Some(reason);
    s.uv = answer.uv;
    let _ = st.live.send(Live::Decided {
        account_id,
        session_id: session_id.clone(),
        status,
    });
    axum::Json(AnswerResponse {
        session_id,
        status,
        reason: Some(reason),
    })
    .into_response()
}

async fn events(
    State(st): State<Arc<StubState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let account_id = match authenticate(&st, &method, &uri, &headers, &body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    st.event_connects.fetch_add(1, Ordering::SeqCst);
    let rx = st.live.subscribe();
    let mut first = String::from(": hello\n\n");
    for token in pending_tokens(&st, &account_id) {
        first.push_str(&format!("event: challenge\ndata: {token}\n\n"));
    }
    let head =
        futures_util::stream::once(
            async move { Ok::<_, std::convert::Infallible>(Bytes::from(first)) },
        );
    let tail = futures_util::stream::unfold((rx, account_id), |(mut rx, account_id)| async move {
        loop {
            match rx.recv().await {
                Ok(Live::Challenge {
                    account_id: a,
                    token,
                }) if a == account_id => {
                    // CRLF line endings, as some proxies produce.
                    let text = format!("event: challenge\r\ndata: {token}\r\n\r\n");
                    return Some((Ok(Bytes::from(text)), (rx, account_id)));
                }
                Ok(Live::Decided {
                    account_id: a,
                    session_id,
                    status,
                }) if a == account_id => {
                    let data = serde_json::to_string(&DecidedEvent { session_id, status }).unwrap();
                    return Some((
                        Ok(Bytes::from(format!("event: decided\ndata: {data}\n\n"))),
                        (rx, account_id),
                    ));
                }
                Ok(Live::KeyUpdate { token }) => {
                    let text = format!("event: key_update\ndata: {token}\n\n");
                    return Some((Ok(Bytes::from(text)), (rx, account_id)));
                }
                Ok(Live::CloseStreams) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(head.chain(tail)))
        .unwrap()
}
