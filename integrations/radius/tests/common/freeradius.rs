//! The real programs of the VPN-style tests: Debian's FreeRADIUS as the upstream password
//! check, the `tapprove-radius` binary, and `radclient` as the NAS. `cargo xtask test radius`
//! installs them (`freeradius freeradius-utils`).

#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback UDP port (bound, then released).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped, its output in a file.
pub struct Process {
    pub child: Child,
    pub log: PathBuf,
}

impl Process {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; panics with the log after `within`.
    pub fn wait_for(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if self.log_text().contains(needle) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("exited ({status}) before {needle:?}:\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {within:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(program: &str, args: &[&str], log: PathBuf, envs: &[(&str, &str)]) -> Process {
    let out = std::fs::File::create(&log).unwrap();
    let err = out.try_clone().unwrap();
    let child = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {program}: {e} (cargo xtask test radius installs it)")
        });
    Process { child, log }
}

/// FreeRADIUS with its own minimal config in `dir`: one client (127.0.0.1, `secret`), a users
/// file of `(user, password)`, PAP, on `port`. Foreground (`-f`) with debug output (`-X`).
pub fn start_freeradius(dir: &Path, port: u16, secret: &str, users: &[(&str, &str)]) -> Process {
    let d = dir.display();
    std::fs::create_dir_all(dir.join("run")).unwrap();
    let conf = format!(
        r#"prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = {d}
raddbdir = {d}
radacctdir = {d}
name = freeradius
confdir = {d}
modconfdir = {d}
run_dir = {d}/run
db_dir = {d}
libdir = /usr/lib/freeradius
pidfile = {d}/run/freeradius.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {{
  destination = stdout
}}
security {{
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}}
client tapprove {{
  ipaddr = 127.0.0.1
  secret = {secret}
  require_message_authenticator = yes
}}
modules {{
  files {{
    filename = {d}/users
  }}
  pap {{
  }}
}}
server default {{
  listen {{
    type = auth
    ipaddr = 127.0.0.1
    port = {port}
  }}
  authorize {{
    files
    pap
  }}
  authenticate {{
    Auth-Type PAP {{
      pap
    }}
  }}
}}
"#
    );
    std::fs::write(dir.join("radiusd.conf"), conf).unwrap();
    std::fs::write(
        dir.join("dictionary"),
        "$INCLUDE /usr/share/freeradius/dictionary\n",
    )
    .unwrap();
    let users: String = users
        .iter()
        .map(|(u, p)| format!("{u} Cleartext-Password := \"{p}\"\n"))
        .collect();
    std::fs::write(dir.join("users"), users).unwrap();
    let mut p = spawn(
        "freeradius",
        &["-X", "-f", "-d", &dir.display().to_string()],
        dir.join("freeradius.log"),
        &[],
    );
    p.wait_for("Ready to process requests", Duration::from_secs(30));
    p
}

/// The `tapprove-radius` binary with `config`; returns once it listens.
pub fn start_tapprove_radius(config: &Path, log: PathBuf) -> Process {
    let mut p = spawn(
        env!("CARGO_BIN_EXE_tapprove-radius"),
        &["--config", &config.display().to_string()],
        log,
        &[("TAPPROVE_RADIUS_LOG", "info"), ("NO_COLOR", "1")],
    );
    p.wait_for("listening on", Duration::from_secs(30));
    p
}

/// What radclient printed and how it ended.
#[derive(Debug)]
pub struct Radclient {
    pub out: String,
    pub took: Duration,
}

impl Radclient {
    /// `Access-Accept`, `Access-Reject`, `Access-Challenge`, or `None` for no reply.
    pub fn received(&self) -> Option<&str> {
        self.out.lines().find_map(|l| {
            let rest = l.trim().strip_prefix("Received ")?;
            rest.split_whitespace().next()
        })
    }

    /// The value radclient printed for `attribute` in the reply (`State = 0x…`).
    pub fn attribute(&self, attribute: &str) -> Option<String> {
        let after = self.out.split("Received ").nth(1)?;
        after.lines().find_map(|l| {
            let (k, v) = l.trim().split_once(" = ")?;
            (k == attribute).then(|| v.trim_matches('"').to_owned())
        })
    }
}

/// Runs `radclient -x -t timeout -r retries SERVER auth SECRET` with `input` (one request, in
/// radclient's attribute syntax) on stdin. Blocking: call it from `spawn_blocking`.
pub fn radclient(
    server: SocketAddr,
    secret: &str,
    input: &str,
    timeout_secs: u32,
    retries: u32,
) -> Radclient {
    let started = Instant::now();
    let mut child = Command::new("radclient")
        .args([
            "-x",
            "-t",
            &timeout_secs.to_string(),
            "-r",
            &retries.to_string(),
            &server.to_string(),
            "auth",
            secret,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start radclient: {e} (cargo xtask test radius installs it)")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Radclient {
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        took: started.elapsed(),
    }
}

/// The same from async code.
pub async fn radclient_async(
    server: SocketAddr,
    secret: &str,
    input: String,
    timeout_secs: u32,
    retries: u32,
) -> Radclient {
    let secret = secret.to_owned();
    tokio::task::spawn_blocking(move || radclient(server, &secret, &input, timeout_secs, retries))
        .await
        .unwrap()
}
