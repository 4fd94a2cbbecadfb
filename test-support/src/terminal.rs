//! The terminal authenticator (`tapprove device …`, the `tapprove` binary) as the phone of a
//! system test: it pairs through the CLI and answers from `tapprove device listen`'s prompt,
//! keys typed as a person at a terminal would.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// The `tapprove` binary: `TAPPROVE_BIN`, else `target/debug/tapprove` of this workspace (or
/// of `CARGO_TARGET_DIR`). Panics with the command that builds it when it is missing.
pub fn tapprove_bin() -> PathBuf {
    let path = std::env::var_os("TAPPROVE_BIN").map_or_else(
        || {
            let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
                || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
                PathBuf::from,
            );
            target.join("debug").join("tapprove")
        },
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "{} is missing: cargo build -p tapprove-cli (or set TAPPROVE_BIN)",
        path.display()
    );
    path
}

/// A terminal authenticator with its own store directory.
#[derive(Debug)]
pub struct Terminal {
    bin: PathBuf,
    store: PathBuf,
}

impl Terminal {
    /// A terminal authenticator keeping its accounts in `store`, run from [`tapprove_bin`].
    pub fn new(store: impl Into<PathBuf>) -> Self {
        Self::with_bin(tapprove_bin(), store)
    }

    /// The same, run from `bin` (e.g. the `CARGO_BIN_EXE_tapprove` of the CLI's own tests).
    pub fn with_bin(bin: impl Into<PathBuf>, store: impl Into<PathBuf>) -> Self {
        Self {
            bin: bin.into(),
            store: store.into(),
        }
    }

    /// `tapprove device pair`: pairs with the service at `server` as `user` with `code`;
    /// the account as `--json` prints it.
    pub fn pair(&self, server: &str, sdk_key: &str, user: &str, code: &str) -> serde_json::Value {
        let out = Command::new(&self.bin)
            .args(["device", "pair", "--server", server, "--sdk-key", sdk_key])
            .args(["--user", user, "--code", code, "--json", "--store"])
            .arg(&self.store)
            .output()
            .expect("run tapprove device pair");
        assert!(
            out.status.success(),
            "tapprove device pair failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("pair --json prints the account")
    }

    /// `tapprove device listen`, its prompt read line by line; returns once it listens.
    pub async fn listen(&self) -> Listening {
        let mut child = Command::new(&self.bin)
            .args(["device", "listen", "--store"])
            .arg(&self.store)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run tapprove device listen");
        let input = child.stdin.take().expect("stdin");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut listening = Listening {
            child: Some(child),
            input,
            lines,
            seen: Vec::new(),
        };
        listening.wait_for("Listening for login requests").await;
        listening
    }
}

/// A running `tapprove device listen`; killed when dropped.
#[derive(Debug)]
pub struct Listening {
    child: Option<Child>,
    input: ChildStdin,
    lines: UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Listening {
    /// The next line containing `what` (within 20 s); panics with what it printed instead.
    pub async fn wait_for(&mut self, what: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) if line.contains(what) => return line,
                Ok(Some(line)) => self.seen.push(line),
                _ => panic!(
                    "tapprove device listen never printed {what:?}; it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Types `keys` and Enter at the prompt.
    pub fn type_line(&mut self, keys: &str) {
        writeln!(self.input, "{keys}").expect("write to tapprove device listen");
    }

    /// Presses `[s]` on the code-to-phone request on screen; the code it shows.
    pub async fn show_code(&mut self) -> String {
        self.wait_for("[s] show the code").await;
        self.type_line("s");
        let line = self.wait_for("Code to type at the login prompt: ").await;
        let code: String = line
            .split("prompt: ")
            .nth(1)
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        assert!(code.len() >= 6, "no code in {line:?}");
        code
    }

    /// Types `q` and waits for `tapprove device listen` to end; how it ended.
    pub async fn quit(mut self) -> std::process::ExitStatus {
        self.type_line("q");
        let mut child = self.child.take().expect("running");
        tokio::task::spawn_blocking(move || child.wait())
            .await
            .expect("join")
            .expect("wait for tapprove device listen")
    }

    /// Picks the option showing `code` on the choose-mode request on screen.
    pub async fn choose(&mut self, code: &str) {
        let options = self.wait_for("[1] ").await;
        let key = (1..=3)
            .find(|i| options.contains(&format!("[{i}] {code}")))
            .unwrap_or_else(|| panic!("{code} is not among {options:?}"));
        self.type_line(&key.to_string());
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
