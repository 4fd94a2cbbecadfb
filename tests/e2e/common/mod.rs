//! Shared harness of the end-to-end tests: a REAL `tapprove serve` process on loopback, the
//! `tapprove admin` and `tapprove device` commands, and a fake relying party (trust webhook that
//! checks Basic auth and the Standard Webhooks HMAC, and a small RP API client).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tapprove");

/// A fixed seal key for the tests' databases.
pub const SEAL_KEY: &str = "dGFwcHJvdmUtZTJlLXRlc3Qtc2VhbC1rZXktMzJieXQ=";

/// Runs `tapprove ARGS` to completion (off the async runtime's threads).
pub async fn tapprove(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .env("TAPPROVE_SEAL_KEY", SEAL_KEY)
            .env_remove("TAPPROVE_HOME")
            .env_remove("TAPPROVE_STORE")
            .stdin(Stdio::null())
            .output()
            .expect("run tapprove")
    })
    .await
    .expect("join")
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the command succeeded and parses its stdout as JSON.
pub fn ok_json(o: &Output) -> Value {
    assert!(o.status.success(), "tapprove failed: {}", stderr(o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(o)))
}

/// Asserts the command failed with exactly one human line on stderr, and returns it.
pub fn failed_line(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "expected failure, got success: {}",
        stdout(o)
    );
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {err:?}");
    assert!(lines[0].starts_with("tapprove: "), "{err}");
    lines[0].to_owned()
}

/// A running `tapprove serve`.
pub struct Serve {
    child: Child,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// `sqlite://…` of its database.
    pub db: String,
    config: PathBuf,
}

const CONFIG: &str = "webhook_timeout = 1.5\nsweep_interval = 1\n\n[limits]\nsessions_per_minute = 1000\nsessions_per_hour = 10000\npairings_per_minute_per_ip = 1000\npairings_per_minute_per_sdk_key = 1000\n";

impl Serve {
    /// Starts `tapprove serve` on a free port with a fresh database in `dir`.
    pub fn start(dir: &Path) -> Self {
        let db = format!("sqlite://{}?mode=rwc", dir.join("tapprove.db").display());
        let config = dir.join("tapprove.toml");
        std::fs::write(&config, CONFIG).expect("write config");
        Self::spawn(db, config, "127.0.0.1:0")
    }

    fn spawn(db: String, config: PathBuf, listen: &str) -> Self {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", listen, "--database", &db, "--config"])
            .arg(&config)
            .env("TAPPROVE_SEAL_KEY", SEAL_KEY)
            .env("TAPPROVE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tapprove serve");
        let out = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .expect("read serve output");
        let url = line
            .trim()
            .strip_prefix("tapprove: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line of tapprove serve: {line:?}"))
            .to_owned();
        let addr = url.trim_start_matches("http://").parse().expect("addr");
        Self {
            child,
            url,
            addr,
            db,
            config,
        }
    }

    /// Creates a project whose trust webhook is `trust_url`; returns its credentials.
    pub async fn create_project(&self, name: &str, trust_url: &str) -> Value {
        let o = tapprove(&[
            "admin",
            "project",
            "create",
            "--name",
            name,
            "--trust-url",
            trust_url,
            "--json",
            "--database",
            &self.db,
        ])
        .await;
        ok_json(&o)
    }

    /// Stops the process (SIGKILL: a crash, not a clean shutdown) and starts it again on the
    /// same address and database.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let listen = self.addr.to_string();
        // The port may linger a moment.
        for attempt in 0..50 {
            let probe = std::net::TcpListener::bind(self.addr);
            if probe.is_ok() || attempt == 49 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let fresh = Self::spawn(self.db.clone(), self.config.clone(), &listen);
        drop(std::mem::replace(self, fresh)); // its child is already reaped
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the fake relying party's trust webhook answers.
#[derive(Debug, Clone)]
pub enum Mode {
    /// 200 when `challenge` equals this code (after checking auth + HMAC), 403 otherwise.
    Accept(String),
    /// Always 500.
    Fail500,
    /// Sleeps this long, then 200.
    Slow(Duration),
    /// 302 to another URL.
    Redirect,
}

/// One webhook call as the fake relying party saw it.
#[derive(Debug, Clone)]
pub struct Call {
    /// Basic auth and HMAC verified.
    pub authentic: bool,
    /// The JSON body.
    pub body: Value,
}

#[derive(Clone)]
struct RpState {
    mode: Arc<Mutex<Mode>>,
    creds: Arc<Mutex<Option<(String, String, String)>>>,
    calls: Arc<Mutex<Vec<Call>>>,
}

/// A fake relying party: its trust webhook on loopback.
pub struct FakeRp {
    state: RpState,
    /// `http://127.0.0.1:PORT/users/trust`
    pub trust_url: String,
    task: tokio::task::JoinHandle<()>,
}

fn verify(creds: &(String, String, String), headers: &HeaderMap, body: &[u8]) -> bool {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", creds.0, creds.1))
    );
    if h("authorization") != basic {
        return false;
    }
    let (id, ts, sig) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    );
    let Some(key_b64) = creds.2.strip_prefix("whsec_") else {
        return false;
    };
    let Ok(key) = STANDARD.decode(key_b64) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let mut msg = format!("{id}.{ts}.").into_bytes();
    msg.extend_from_slice(body);
    sig.split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| STANDARD.decode(s).ok())
        .any(|tag| ring::hmac::verify(&key, &msg, &tag).is_ok())
}

async fn trust(State(s): State<RpState>, headers: HeaderMap, body: Bytes) -> Response {
    let creds = s.creds.lock().expect("lock").clone();
    let authentic = creds.as_ref().is_some_and(|c| verify(c, &headers, &body));
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.calls.lock().expect("lock").push(Call {
        authentic,
        body: json.clone(),
    });
    let mode = s.mode.lock().expect("lock").clone();
    match mode {
        Mode::Accept(code) => {
            if authentic && json["challenge"] == json!(code) {
                (StatusCode::OK, "trusted").into_response()
            } else {
                (StatusCode::FORBIDDEN, "no").into_response()
            }
        }
        Mode::Fail500 => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, "late").into_response()
        }
        Mode::Redirect => (
            StatusCode::FOUND,
            [("location", "http://127.0.0.1:9/elsewhere")],
        )
            .into_response(),
    }
}

impl FakeRp {
    /// Starts the fake relying party on a free loopback port.
    pub async fn start(mode: Mode) -> Self {
        let state = RpState {
            mode: Arc::new(Mutex::new(mode)),
            creds: Arc::new(Mutex::new(None)),
            calls: Arc::new(Mutex::new(Vec::new())),
        };
        let app = axum::Router::new()
            .route("/users/trust", axum::routing::post(trust))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            state,
            trust_url: format!("http://{addr}/users/trust"),
            task,
        }
    }

    /// Sets the project credentials the webhook checks.
    pub fn set_credentials(&self, project: &Value) {
        let s = |k: &str| {
            project[k]
                .as_str()
                .unwrap_or_else(|| panic!("missing {k}"))
                .to_owned()
        };
        *self.state.creds.lock().expect("lock") = Some((
            s("webhook_username"),
            s("webhook_password"),
            s("webhook_secret"),
        ));
    }

    /// Changes how the webhook answers.
    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().expect("lock") = mode;
    }

    /// The calls seen so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().expect("lock").clone()
    }
}

impl Drop for FakeRp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A trust URL where nothing listens.
pub fn dead_trust_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}/users/trust")
}

/// The relying party's side of the service API.
pub struct Rp {
    http: reqwest::Client,
    base: String,
    api_key: String,
}

impl Rp {
    /// A client for `serve` with `project`'s API key.
    pub fn new(serve: &Serve, project: &Value) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(40))
                .build()
                .expect("client"),
            base: serve.url.clone(),
            api_key: project["api_key"].as_str().expect("api_key").to_owned(),
        }
    }

    /// `POST /v1/push/sessions` with `body`; returns status and JSON.
    pub async fn create_raw(&self, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/push/sessions", self.base))
            .header("x-api-key", &self.api_key)
            .json(body)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Starts a login for `user` (choose mode unless `extra` says otherwise); panics unless 201.
    pub async fn login(&self, user: &str, extra: Value) -> Value {
        let mut body = json!({"user": user, "notification": {"title": "Log in to Test Bank?", "body": format!("Someone is signing in as {user}.")},
            "context": {"ip": "203.0.113.7", "app": "Test Bank", "user_agent": "e2e"}});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let (status, v) = self.create_raw(&body).await;
        assert_eq!(status, 201, "create session: {v}");
        v
    }

    /// `GET /v1/push/sessions/{id}[?wait=N]`.
    pub async fn get(&self, id: &str, wait: Option<u32>) -> Value {
        let q = wait.map_or(String::new(), |w| format!("?wait={w}"));
        let r = self
            .http
            .get(format!("{}/v1/push/sessions/{id}{q}", self.base))
            .header("x-api-key", &self.api_key)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 200);
        r.json().await.expect("json")
    }
}

/// A terminal authenticator: `tapprove device … --store DIR`.
pub struct Device {
    /// Its store.
    pub store: PathBuf,
}

impl Device {
    /// A device with its store under `dir`.
    pub fn new(dir: &Path, name: &str) -> Self {
        Self {
            store: dir.join(name),
        }
    }

    /// Runs `tapprove device ARGS --store DIR`.
    pub async fn run(&self, args: &[&str]) -> Output {
        let store = self.store.to_string_lossy().into_owned();
        let mut all = vec!["device"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--store", &store]);
        tapprove(&all).await
    }

    /// Pairs with `serve`'s project as `user` with `code`.
    pub async fn pair(&self, serve: &Serve, project: &Value, user: &str, code: &str) -> Output {
        let sdk = project["sdk_key"].as_str().expect("sdk_key").to_owned();
        self.run(&[
            "pair",
            "--server",
            &serve.url,
            "--sdk-key",
            &sdk,
            "--user",
            user,
            "--code",
            code,
            "--json",
        ])
        .await
    }

    /// The paired accounts.
    pub async fn accounts(&self) -> Vec<Value> {
        ok_json(&self.run(&["accounts", "--json"]).await)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The pending requests.
    pub async fn requests(&self) -> Vec<Value> {
        ok_json(&self.run(&["requests", "--json"]).await)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The pending request of `session_id`, waiting a little for it to show up.
    pub async fn request(&self, session_id: &str) -> Value {
        for _ in 0..50 {
            if let Some(r) = self
                .requests()
                .await
                .into_iter()
                .find(|r| r["id"] == json!(session_id))
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("request {session_id} never reached the device");
    }
}

/// A paired setup: service, fake RP, project, and one device paired for `user`.
pub struct Setup {
    /// Keeps the files.
    pub dir: tempfile::TempDir,
    /// The service.
    pub serve: Serve,
    /// The relying party's webhook.
    pub rp_hook: FakeRp,
    /// The project's credentials.
    pub project: Value,
    /// The RP API client.
    pub rp: Rp,
}

impl Setup {
    /// Service + fake RP accepting `code` + project.
    pub async fn new(code: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let serve = Serve::start(dir.path());
        let rp_hook = FakeRp::start(Mode::Accept(code.into())).await;
        let project = serve.create_project("Test Bank", &rp_hook.trust_url).await;
        rp_hook.set_credentials(&project);
        let rp = Rp::new(&serve, &project);
        Self {
            dir,
            serve,
            rp_hook,
            project,
            rp,
        }
    }

    /// A new device paired as `user` (the webhook must accept `code`).
    pub async fn paired_device(&self, name: &str, user: &str, code: &str) -> Device {
        self.rp_hook.set_mode(Mode::Accept(code.into()));
        let d = Device::new(self.dir.path(), name);
        let o = d.pair(&self.serve, &self.project, user, code).await;
        let account = ok_json(&o);
        assert_eq!(account["user"], json!(user));
        d
    }
}
