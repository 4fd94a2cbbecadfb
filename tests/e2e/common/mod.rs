//! Shared harness of the end-to-end tests: a REAL `tapprove serve` process on loopback and the
//! `tapprove admin` and `tapprove device` commands. The fake relying party (trust webhook and
//! RP API client) and the Demo Bank fixture come from `tapprove-test-support`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
pub use tapprove_test_support::fixture;
#[allow(unused_imports)] // each test crate uses a part
pub use tapprove_test_support::rp::{FakeRp, RpClient, TrustMode, dead_trust_url};

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

const CONFIG: &str = "webhook_timeout = 1.5\nsweep_interval = 1\n\n[limits]\nsessions_per_minute = 1000\nsessions_per_hour = 10000\npairings_per_minute_per_ip = 1000\npairings_per_hour_per_user = 1000\n";

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

/// The relying party's API client for the service at `url` with `project`'s API key (from
/// `tapprove admin project create --json`).
pub fn rp_client(url: &str, project: &Value) -> RpClient {
    RpClient::new(url, project["api_key"].as_str().expect("api_key"))
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
    pub rp: RpClient,
}

impl Setup {
    /// Service + fake RP accepting `code` + project.
    pub async fn new(code: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let serve = Serve::start(dir.path());
        let rp_hook = FakeRp::start(TrustMode::Accept(code.into())).await;
        let project = serve
            .create_project(fixture::PROJECT_NAME, &rp_hook.trust_url())
            .await;
        rp_hook.set_credentials_json(&project);
        let rp = rp_client(&serve.url, &project);
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
        self.rp_hook.set_mode(TrustMode::Accept(code.into()));
        let d = Device::new(self.dir.path(), name);
        let o = d.pair(&self.serve, &self.project, user, code).await;
        let account = ok_json(&o);
        assert_eq!(account["user"], json!(user));
        d
    }
}
