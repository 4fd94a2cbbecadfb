//! A fake relying party on loopback: the trust webhook the service calls at pairing, the events
//! URL it sends site events to, and the tests' face of the relying-party client `tapprove_rp`.
//!
//! The fake is strict where a real site would be: it checks HTTP Basic and the Standard
//! Webhooks signature (with the message id form the service makes: `msg_` for the trust
//! webhook, `evt_` for events) against the project's credentials, the trust webhook answers
//! `503` while it has none, and its redirect points somewhere real so a test can see the
//! service never follows it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tapprove_protocol::webhook::{
    ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookKey, basic_matches,
};

use crate::endpoint::{Endpoint, ServiceEndpoint as _, status_json};
use crate::fixture;

/// How the fake trust webhook answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustMode {
    /// 200 when the call is authentic (Basic auth and signature) and `challenge` equals this
    /// code, 403 otherwise.
    Accept(String),
    /// As `Accept`, but a `200` carries `{"user": <the name sent, lowercased>}`: the site's
    /// canonical name for the user.
    Canonical(String),
    /// Always 500.
    Fail500,
    /// Sleeps this long, then 200.
    Slow(Duration),
    /// 302 to this fake's own `/elsewhere` (which counts its hits and would answer 200).
    Redirect,
}

impl Default for TrustMode {
    fn default() -> Self {
        Self::Accept(fixture::PAIRING_CODE.into())
    }
}

/// One call to the fake relying party (trust webhook or events URL) as it saw it.
#[derive(Debug, Clone)]
pub struct WebhookCall {
    /// `Authorization: Basic` carried the project's webhook credentials.
    pub basic_ok: bool,
    /// The Standard Webhooks signature verified, the timestamp was within 300 s and the
    /// `webhook-id` has the form the service sends there (`msg_…` to the trust webhook,
    /// `evt_…` to the events URL).
    pub signature_ok: bool,
    /// `webhook-id`.
    pub msg_id: String,
    /// `webhook-timestamp` (0 when missing).
    pub timestamp: i64,
    /// The JSON body (`Null` when it is not JSON).
    pub body: Value,
}

impl WebhookCall {
    /// Basic auth and signature both verified.
    pub fn authentic(&self) -> bool {
        self.basic_ok && self.signature_ok
    }
}

/// The project's webhook credentials, as the fake checks them.
struct Credentials {
    username: String,
    password: String,
    key: WebhookKey,
}

#[derive(Clone)]
struct RpState {
    mode: Arc<Mutex<TrustMode>>,
    creds: Arc<Mutex<Option<Arc<Credentials>>>>,
    calls: Arc<Mutex<Vec<WebhookCall>>>,
    redirect_hits: Arc<AtomicUsize>,
    events: Arc<Mutex<Vec<WebhookCall>>>,
    /// Event calls still to answer with 503.
    events_failing: Arc<AtomicU32>,
}

/// The fake relying party's trust webhook and events URL, on a free loopback port until
/// dropped.
pub struct FakeRp {
    /// Its address.
    pub addr: SocketAddr,
    state: RpState,
    task: tokio::task::JoinHandle<()>,
}

fn inspect(
    creds: Option<&Credentials>,
    id_prefix: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> WebhookCall {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let (basic_ok, signature_ok) = creds.map_or((false, false), |c| {
        (
            basic_matches(
                h("authorization"),
                c.username.as_bytes(),
                c.password.as_bytes(),
            ),
            h(ID_HEADER).starts_with(id_prefix)
                && c.key
                    .verify(
                        h(ID_HEADER),
                        h(TIMESTAMP_HEADER),
                        h(SIGNATURE_HEADER),
                        body,
                        crate::now(),
                    )
                    .is_ok(),
        )
    });
    WebhookCall {
        basic_ok,
        signature_ok,
        msg_id: h(ID_HEADER).to_owned(),
        timestamp: h(TIMESTAMP_HEADER).parse().unwrap_or(0),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    }
}

async fn trust(State(s): State<RpState>, headers: HeaderMap, body: Bytes) -> Response {
    let creds = s.creds.lock().unwrap().clone();
    let call = inspect(creds.as_deref(), "msg_", &headers, &body);
    let accept = call.authentic();
    let challenge = call.body["challenge"].clone();
    let user = call.body["user"].as_str().map(str::to_lowercase);
    s.calls.lock().unwrap().push(call);
    let mode = s.mode.lock().unwrap().clone();
    match mode {
        TrustMode::Fail500 => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        TrustMode::Slow(d) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, "late").into_response()
        }
        TrustMode::Redirect => (StatusCode::FOUND, [("location", "/elsewhere")]).into_response(),
        // A site that has not been given the project's credentials cannot check anything.
        TrustMode::Accept(_) | TrustMode::Canonical(_) if creds.is_none() => {
            (StatusCode::SERVICE_UNAVAILABLE, "no credentials yet").into_response()
        }
        TrustMode::Accept(code) if accept && challenge == json!(code) => {
            (StatusCode::OK, "trusted").into_response()
        }
        TrustMode::Canonical(code) if accept && challenge == json!(code) => match user {
            Some(user) => (StatusCode::OK, axum::Json(json!({ "user": user }))).into_response(),
            None => (StatusCode::OK, "trusted").into_response(),
        },
        TrustMode::Accept(_) | TrustMode::Canonical(_) => {
            (StatusCode::FORBIDDEN, "not trusted").into_response()
        }
    }
}

/// The site's events URL: records the call, then 503 while failing, else 204.
async fn events(State(s): State<RpState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let creds = s.creds.lock().unwrap().clone();
    let call = inspect(creds.as_deref(), "evt_", &headers, &body);
    s.events.lock().unwrap().push(call);
    let failing = s
        .events_failing
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::NO_CONTENT
    }
}

async fn elsewhere(State(s): State<RpState>) -> StatusCode {
    s.redirect_hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::OK
}

impl FakeRp {
    /// Starts the webhook on a free loopback port.
    pub async fn start(mode: TrustMode) -> Self {
        let state = RpState {
            mode: Arc::new(Mutex::new(mode)),
            creds: Arc::new(Mutex::new(None)),
            calls: Arc::new(Mutex::new(Vec::new())),
            redirect_hits: Arc::new(AtomicUsize::new(0)),
            events: Arc::new(Mutex::new(Vec::new())),
            events_failing: Arc::new(AtomicU32::new(0)),
        };
        let app = axum::Router::new()
            .route("/users/trust", axum::routing::post(trust))
            .route("/elsewhere", axum::routing::any(elsewhere))
            .route("/tapprove/events", axum::routing::post(events))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state, task }
    }

    /// `http://127.0.0.1:PORT/users/trust`.
    pub fn trust_url(&self) -> String {
        format!("http://{}/users/trust", self.addr)
    }

    /// `http://127.0.0.1:PORT/tapprove/events`: the URL to give the project for site events.
    pub fn events_url(&self) -> String {
        format!("http://{}/tapprove/events", self.addr)
    }

    /// Sets the project's webhook credentials the calls are checked against (panics on a
    /// malformed `whsec_` secret).
    pub fn set_credentials(&self, username: &str, password: &str, secret: &str) {
        let key = WebhookKey::from_secret(secret).unwrap();
        *self.state.creds.lock().unwrap() = Some(Arc::new(Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
            key,
        }));
    }

    /// Sets the credentials from `tapprove admin project create --json` output.
    pub fn set_credentials_json(&self, project: &Value) {
        let s = |k: &str| {
            project[k]
                .as_str()
                .unwrap_or_else(|| panic!("no {k} in {project}"))
        };
        self.set_credentials(
            s("webhook_username"),
            s("webhook_password"),
            s("webhook_secret"),
        );
    }

    /// Changes how the webhook answers.
    pub fn set_mode(&self, mode: TrustMode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// The trust webhook calls seen so far.
    pub fn calls(&self) -> Vec<WebhookCall> {
        self.state.calls.lock().unwrap().clone()
    }

    /// The events URL answers the next `n` calls with 503 (`u32::MAX`: down until changed),
    /// then 204.
    pub fn fail_events(&self, n: u32) {
        self.state.events_failing.store(n, Ordering::SeqCst);
    }

    /// The events URL's calls seen so far.
    pub fn events(&self) -> Vec<WebhookCall> {
        self.state.events.lock().unwrap().clone()
    }

    /// Waits (up to `timeout`) until the events URL has seen at least `n` calls; returns them
    /// all, or panics with those it saw.
    pub async fn events_at_least(&self, n: usize, timeout: Duration) -> Vec<WebhookCall> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let seen = self.events();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the events URL saw {} of {n} calls in {timeout:?}: {seen:?}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How often `/elsewhere` (the redirect target) was requested.
    pub fn redirect_target_hits(&self) -> usize {
        self.state.redirect_hits.load(Ordering::SeqCst)
    }
}

impl Drop for FakeRp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A trust URL where nothing listens.
pub fn dead_trust_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/users/trust")
}

/// The relying party's side of the service API for tests: the typed calls go through
/// [`tapprove_rp::RpClient`] (the one Rust client, [`RpClient::typed`]) and answer JSON
/// [`Value`]s, panicking on errors; the `_raw` calls stay on the wire (any body, any status) for
/// the tests of the API's own checks.
#[derive(Clone)]
pub struct RpClient {
    at: Endpoint,
    api_key: String,
    typed: tapprove_rp::RpClient,
}

impl RpClient {
    /// A client of the service at `base_url` (e.g. `http://127.0.0.1:PORT`).
    pub fn new(base_url: &str, api_key: &str) -> Self {
        Self::at(Endpoint::new(base_url), api_key)
    }

    /// The same with a client of the caller's (connection pool, timeouts).
    pub fn with_http(http: reqwest::Client, base_url: &str, api_key: &str) -> Self {
        Self::at(Endpoint::with_http(http, base_url), api_key)
    }

    /// A client of the service at `at`.
    pub fn at(at: Endpoint, api_key: &str) -> Self {
        let typed = tapprove_rp::RpClient::with_http(
            at.http().clone(),
            at.base(),
            tapprove_rp::ApiKey::new(api_key),
        )
        .unwrap();
        Self {
            at,
            api_key: api_key.to_owned(),
            typed,
        }
    }

    /// The typed client (errors as [`tapprove_rp::RpError`]).
    pub fn typed(&self) -> &tapprove_rp::RpClient {
        &self.typed
    }

    /// `POST /v1/push/sessions` with `body`, as sent.
    pub async fn create_raw(&self, body: &Value) -> (StatusCode, Value) {
        let r = self
            .at
            .http()
            .post(self.at.url("/v1/push/sessions"))
            .header("x-api-key", &self.api_key)
            .json(body)
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    /// Starts the fixture's login for `user`, with `extra` fields merged into the body (e.g.
    /// `{"presence": "entry"}`); panics unless it is created.
    pub async fn login(&self, user: &str, extra: Value) -> Value {
        let mut body = fixture::create_session_body(user);
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let req: tapprove_rp::CreateSessionRequest = serde_json::from_value(body).unwrap();
        let created = self.typed.create_session(&req).await;
        let created = created.unwrap_or_else(|e| panic!("create session for {user}: {e}"));
        serde_json::to_value(created).unwrap()
    }

    /// `GET /v1/push/sessions/{id}[?wait=N]` (API key as a bearer token, the other accepted
    /// form), as answered.
    pub async fn get_raw(&self, id: &str, wait: Option<u32>) -> (StatusCode, Value) {
        let q = wait.map_or(String::new(), |w| format!("?wait={w}"));
        let r = self
            .at
            .http()
            .get(self.at.url(&format!("/v1/push/sessions/{id}{q}")))
            .bearer_auth(&self.api_key)
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    /// The session (after a long-poll of `wait` seconds); panics on an error.
    pub async fn get(&self, id: &str, wait: Option<u32>) -> Value {
        let view = match wait {
            Some(w) => {
                let wait = Duration::from_secs(u64::from(w));
                self.typed.wait_session(id, wait).await
            }
            None => self.typed.session(id).await,
        };
        let view = view.unwrap_or_else(|e| panic!("get session {id}: {e}"));
        serde_json::to_value(view).unwrap()
    }

    /// (status, reason) of a session (`""` for a missing reason); panics on an error.
    pub async fn outcome(&self, id: &str) -> (String, String) {
        let view = self.typed.session(id).await;
        let view = view.unwrap_or_else(|e| panic!("get session {id}: {e}"));
        let reason = view.reason.map_or("", |r| r.as_str());
        (view.status.as_str().to_owned(), reason.to_owned())
    }

    /// `DELETE /v1/users/{user}/lock` (lifts the lock a "not me" answer set): the status.
    pub async fn lift_lock_raw(&self, user: &str) -> StatusCode {
        match self.typed.lift_lock(user).await {
            Ok(()) => StatusCode::NO_CONTENT,
            Err(e) => e
                .status()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or_else(|| panic!("lift the lock of {user}: {e}")),
        }
    }

    /// The same; panics unless it was lifted.
    pub async fn lift_lock(&self, user: &str) {
        let status = self.lift_lock_raw(user).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "lift the lock of {user}");
    }

    /// `DELETE /v1/push/sessions/{id}`, as answered.
    pub async fn cancel_raw(&self, id: &str) -> (StatusCode, Value) {
        let r = self
            .at
            .http()
            .delete(self.at.url(&format!("/v1/push/sessions/{id}")))
            .header("x-api-key", &self.api_key)
            .send()
            .await
            .unwrap();
        status_json(r).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::http_client;
    use tapprove_protocol::webhook::basic_authorization;

    const SECRET: &str = "whsec_c2VjcmV0LWtleS1ieXRlcw==";

    async fn post(rp: &FakeRp, auth: &str, id: &str, ts: i64, sig: &str, body: &str) -> u16 {
        http_client()
            .post(rp.trust_url())
            .header("authorization", auth)
            .header(ID_HEADER, id)
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(SIGNATURE_HEADER, sig)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    #[tokio::test]
    async fn webhook_accepts_only_authentic_calls_with_the_code() {
        let rp = FakeRp::start(TrustMode::default()).await;
        rp.set_credentials("svc", "pw", SECRET);
        let key = WebhookKey::from_secret(SECRET).unwrap();
        let now = crate::now();
        let good = format!(
            r#"{{"user":"alice","challenge":"{}"}}"#,
            fixture::PAIRING_CODE
        );
        let wrong = r#"{"user":"alice","challenge":"0000-0000"}"#;
        let auth = basic_authorization("svc", "pw");
        let sig = key.sign("msg_1", now, good.as_bytes());
        assert_eq!(post(&rp, &auth, "msg_1", now, &sig, &good).await, 200);
        let bad_auth = basic_authorization("svc", "px");
        assert_eq!(post(&rp, &bad_auth, "msg_1", now, &sig, &good).await, 403);
        assert_eq!(post(&rp, &auth, "msg_2", now, &sig, &good).await, 403);
        let sig_wrong = key.sign("msg_3", now, wrong.as_bytes());
        assert_eq!(post(&rp, &auth, "msg_3", now, &sig_wrong, wrong).await, 403);
        let calls = rp.calls();
        assert_eq!(calls.len(), 4);
        assert!(calls[0].authentic() && calls[0].msg_id == "msg_1" && calls[0].timestamp == now);
        assert!(!calls[1].basic_ok && calls[1].signature_ok);
        assert!(calls[2].basic_ok && !calls[2].signature_ok);
        assert!(calls[3].authentic());
        rp.set_mode(TrustMode::Fail500);
        assert_eq!(post(&rp, &auth, "msg_1", now, &sig, &good).await, 500);
        // A correctly signed id without the service's `msg_` form is not the service's call.
        rp.set_mode(TrustMode::default());
        let sig_odd = key.sign("evt_1", now, good.as_bytes());
        assert_eq!(post(&rp, &auth, "evt_1", now, &sig_odd, &good).await, 403);
        assert!(!rp.calls()[5].signature_ok);
    }

    #[tokio::test]
    async fn events_url_checks_evt_ids_and_fails_as_told() {
        let rp = FakeRp::start(TrustMode::default()).await;
        rp.set_credentials("svc", "pw", SECRET);
        let key = WebhookKey::from_secret(SECRET).unwrap();
        let now = crate::now();
        let body = r#"{"type":"user.fraud_reported"}"#;
        let auth = basic_authorization("svc", "pw");
        let send = |id: &'static str| {
            let sig = key.sign(id, now, body.as_bytes());
            http_client()
                .post(rp.events_url())
                .header("authorization", auth.as_str())
                .header(ID_HEADER, id)
                .header(TIMESTAMP_HEADER, now.to_string())
                .header(SIGNATURE_HEADER, sig)
                .body(body)
                .send()
        };
        rp.fail_events(1);
        assert_eq!(send("evt_1").await.unwrap().status(), 503);
        assert_eq!(send("evt_1").await.unwrap().status(), 204);
        assert_eq!(send("msg_1").await.unwrap().status(), 204);
        let seen = rp.events_at_least(3, Duration::from_secs(1)).await;
        assert!(seen[0].authentic() && seen[1].authentic() && seen[1].msg_id == "evt_1");
        assert!(seen[2].basic_ok && !seen[2].signature_ok, "not an event id");
        assert!(rp.calls().is_empty(), "events are not trust calls");
    }

    #[tokio::test]
    async fn webhook_without_credentials_is_unavailable() {
        let rp = FakeRp::start(TrustMode::default()).await;
        let auth = basic_authorization("svc", "pw");
        let body = format!(
            r#"{{"user":"alice","challenge":"{}"}}"#,
            fixture::PAIRING_CODE
        );
        assert_eq!(
            post(&rp, &auth, "msg_1", crate::now(), "v1,x", &body).await,
            503
        );
        assert!(!rp.calls()[0].authentic());
    }

    #[tokio::test]
    async fn canonical_mode_answers_the_lowercased_name_and_redirect_points_elsewhere() {
        let rp = FakeRp::start(TrustMode::Canonical(fixture::PAIRING_CODE.into())).await;
        rp.set_credentials("svc", "pw", SECRET);
        let key = WebhookKey::from_secret(SECRET).unwrap();
        let now = crate::now();
        let body = format!(
            r#"{{"user":"Alice","challenge":"{}"}}"#,
            fixture::PAIRING_CODE
        );
        let sig = key.sign("msg_1", now, body.as_bytes());
        let r = http_client()
            .post(rp.trust_url())
            .header("authorization", basic_authorization("svc", "pw").as_str())
            .header(ID_HEADER, "msg_1")
            .header(TIMESTAMP_HEADER, now.to_string())
            .header(SIGNATURE_HEADER, sig.clone())
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let (status, v) = status_json(r).await;
        assert_eq!((status, v), (StatusCode::OK, json!({"user": "alice"})));
        let wrong = r#"{"user":"Alice","challenge":"0000-0000"}"#;
        let sig_wrong = key.sign("msg_2", now, wrong.as_bytes());
        let auth = basic_authorization("svc", "pw");
        assert_eq!(post(&rp, &auth, "msg_2", now, &sig_wrong, wrong).await, 403);

        rp.set_mode(TrustMode::Redirect);
        let no_follow = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = no_follow.post(rp.trust_url()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(r.headers()["location"], "/elsewhere");
        assert_eq!(rp.redirect_target_hits(), 0);
        // A client that follows it lands on a counted page.
        assert_eq!(post(&rp, &auth, "msg_3", now, &sig, &body).await, 200);
        assert_eq!(rp.redirect_target_hits(), 1);
    }
}
