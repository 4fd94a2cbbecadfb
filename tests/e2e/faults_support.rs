//! Harness of the fault tests (tests/e2e/faults*.rs): a `tapprove serve` started with extra
//! environment and configuration and its stderr watched (on SQLite, or on a database URL the
//! test gives), the relying party's API, paired devices, and direct reads of the service's
//! SQLite file.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{
    self, Device, FakeRp, RpClient, SEAL_KEY, TrustMode, fixture, ok_json, rp_client, tapprove,
};
use serde_json::{Value, json};

/// The pairing code the fake relying party accepts.
pub const CODE: &str = fixture::PAIRING_CODE;
/// Service configuration of the tests (fast webhook timeout and sweeper, loose limits).
pub const CONFIG: &str = "webhook_timeout = 1.5\nsweep_interval = 1\n\n[limits]\nsessions_per_minute = 1000\nsessions_per_hour = 10000\npairings_per_minute_per_ip = 1000\npairings_per_hour_per_user = 1000\n";

/// A `tapprove serve` these tests start themselves: with extra environment, and its stderr
/// kept so a test can wait for a line.
pub struct Service {
    pub child: Child,
    pub url: String,
    pub addr: SocketAddr,
    /// Its `--database` URL.
    pub database: String,
    pub config: PathBuf,
    pub log: Arc<Mutex<String>>,
}

impl Service {
    pub fn start(db_dir: &Path, config_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_with(db_dir, config_dir, env, CONFIG)
    }

    /// Like [`Service::start`] with this configuration file text.
    pub fn start_with(
        db_dir: &Path,
        config_dir: &Path,
        env: &[(&str, &str)],
        config_text: &str,
    ) -> Self {
        Self::start_on(
            &sqlite_url(&db_dir.join("tapprove.db")),
            config_dir,
            env,
            config_text,
        )
    }

    /// Like [`Service::start_with`] on the database at `database` (any URL `serve` takes).
    pub fn start_on(
        database: &str,
        config_dir: &Path,
        env: &[(&str, &str)],
        config_text: &str,
    ) -> Self {
        let config = config_dir.join("tapprove.toml");
        std::fs::write(&config, config_text).expect("write config");
        Self::spawn(database.to_owned(), config, "127.0.0.1:0", env)
    }

    /// Its `--database` URL.
    pub fn db(&self) -> String {
        self.database.clone()
    }

    pub fn spawn(database: String, config: PathBuf, listen: &str, env: &[(&str, &str)]) -> Self {
        Self::spawn_cmd(
            serve_command(&database, &config, listen, env),
            database,
            config,
        )
    }

    /// Starts the service from `cmd` (see [`serve_command`]); panics unless it listens.
    pub fn spawn_cmd(mut cmd: Command, database: String, config: PathBuf) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tapprove serve");
        let log = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[serve] {line}");
                let mut l = sink.lock().expect("lock");
                l.push_str(&line);
                l.push('\n');
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
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
            database,
            config,
            log,
        }
    }

    /// SIGKILL (a crash, not a clean shutdown).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the process and starts it again on the same address and database.
    pub fn restart(&mut self, env: &[(&str, &str)]) {
        self.kill();
        for _ in 0..50 {
            if TcpListener::bind(self.addr).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let fresh = Self::spawn(
            self.database.clone(),
            self.config.clone(),
            &self.addr.to_string(),
            env,
        );
        drop(std::mem::replace(self, fresh));
    }

    /// Waits up to `timeout` for `needle` on the service's stderr.
    pub async fn saw(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log.lock().expect("lock").contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    pub async fn create_project(&self, trust_url: &str) -> Value {
        let db = self.db();
        ok_json(
            &tapprove(&[
                "admin",
                "project",
                "create",
                "--name",
                "Test Bank",
                "--trust-url",
                trust_url,
                "--json",
                "--database",
                &db,
            ])
            .await,
        )
    }
}

/// The `--database` URL of an SQLite file (created if missing).
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// The `tapprove serve` command line the fault tests use.
pub fn serve_command(database: &str, config: &Path, listen: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(common::BIN);
    cmd.args([
        "serve",
        "--listen",
        listen,
        "--database",
        database,
        "--config",
    ])
    .arg(config)
    .env("TAPPROVE_SEAL_KEY", SEAL_KEY)
    .env("TAPPROVE_LOG", "warn")
    .envs(env.iter().copied());
    cmd
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Pairs `d` as `user` with the service at `url`.
pub async fn pair(d: &Device, url: &str, project: &Value, user: &str) -> Value {
    let sdk = project["sdk_key"].as_str().expect("sdk_key").to_owned();
    ok_json(
        &d.run(&[
            "pair",
            "--server",
            url,
            "--sdk-key",
            &sdk,
            "--user",
            user,
            "--code",
            CODE,
            "--json",
        ])
        .await,
    )
}

/// The option of a choose-mode request that is the login page's code.
pub fn right_option(request: &Value, code: &str) -> String {
    request["options"]
        .as_array()
        .expect("options")
        .iter()
        .filter_map(Value::as_str)
        .find(|o| *o == code)
        .expect("the page's code is an option")
        .to_owned()
}

/// A service with a project whose trust webhook accepts [`CODE`], and one paired device.
pub struct World {
    pub _dir: tempfile::TempDir,
    pub service: Service,
    pub _hook: FakeRp,
    pub project: Value,
    pub site: RpClient,
    pub device: Device,
}

impl World {
    pub async fn new(db_dir: Option<&Path>, env: &[(&str, &str)], user: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let service = Service::start(db_dir.unwrap_or(dir.path()), dir.path(), env);
        let hook = FakeRp::start(TrustMode::Accept(CODE.into())).await;
        let project = service.create_project(&hook.trust_url()).await;
        hook.set_credentials_json(&project);
        let site = rp_client(&service.url, &project);
        let device = Device::new(dir.path(), "phone");
        pair(&device, &service.url, &project, user).await;
        Self {
            _dir: dir,
            service,
            _hook: hook,
            project,
            site,
            device,
        }
    }

    /// Starts a login and waits for it on the device: (session id, the right option).
    pub async fn login_seen(&self, user: &str) -> (String, String) {
        let session = self.site.login(user, json!({})).await;
        let id = session["id"].as_str().expect("id").to_owned();
        let request = self.device.request(&id).await;
        let right = right_option(&request, session["presence_code"].as_str().expect("code"));
        (id, right)
    }

    /// Logs in once more, approving on the device: the service works again.
    pub async fn recovered(&self, user: &str) {
        let (id, right) = self.login_seen(user).await;
        let v = ok_json(
            &self
                .device
                .run(&["respond", &id, "--choose", &right, "--json"])
                .await,
        );
        assert_eq!(v["status"], json!("accepted"));
        assert_eq!(
            self.site.outcome(&id).await,
            ("accepted".into(), "approved".into())
        );
    }
}

/// `tapprove device ARGS --store DIR` as a child process the test can kill.
pub fn spawn_device(d: &Device, args: &[&str]) -> Child {
    Command::new(common::BIN)
        .arg("device")
        .args(args)
        .arg("--store")
        .arg(&d.store)
        .env("TAPPROVE_SEAL_KEY", SEAL_KEY)
        .env_remove("TAPPROVE_HOME")
        .env_remove("TAPPROVE_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tapprove device")
}

pub async fn wait_child(child: Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .expect("join")
}

/// A `SELECT COUNT(*)` on the database at `db` (`?` bound to `arg`, if any), read with the
/// service stopped or running (WAL readers do not block it).
pub async fn count(db: &str, sql: &'static str, arg: &str) -> i64 {
    use sqlx::Connection as _;
    let mut c = sqlx::SqliteConnection::connect(db).await.expect("open db");
    let mut q = sqlx::query_scalar(sql);
    if sql.contains('?') {
        q = q.bind(arg.to_owned());
    }
    let n: i64 = q.fetch_one(&mut c).await.expect("query");
    let _ = c.close().await;
    n
}
