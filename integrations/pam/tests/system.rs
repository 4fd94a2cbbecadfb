//! pam_tapprove.so in real PAM stacks: Debian's `pamtester` and a real `sshd` on loopback
//! logged into by `ssh`, against a real `tapprove serve`, with a software device that approves,
//! denies or stays silent.
//!
//! These tests create a local user and an `/etc/pam.d/` file (removed afterwards, also when a
//! test fails), so they need root and the Debian packages `pamtester`, `openssh-server` and
//! `openssh-client`; they are `#[ignore]`d in the plain workspace run, and
//! `cargo xtask test pam` installs those packages and runs them.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use tapprove_protocol::{Challenge, Decision, DenyReason, UvMethod};
use tapprove_test_support::device::{SoftwareDevice, right_option};
use tapprove_test_support::endpoint::Endpoint;
use tapprove_test_support::rp::{FakeRp, RpClient, TrustMode};
use tapprove_test_support::terminal::{Terminal, tapprove_bin};

const SEAL_KEY: &str = "dGFwcHJvdmUtcGFtLXRlc3Qtc2VhbC1rZXktMzJieXQ=";
/// Generous limits: the tests refuse on purpose, and the user's guard must not step in.
const SERVE_CONFIG: &str = "sweep_interval = 1\n\n[limits]\nsessions_per_minute = 1000\nsessions_per_hour = 10000\npairings_per_minute_per_ip = 1000\npairings_per_hour_per_user = 1000\nfailures_before_cooldown = 1000\n";
const PAIRING_CODE: &str = "PAM7-K2QX";

/// target/debug, where the test binary's `deps/` lives next to the module and `tapprove`.
fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_owned()
}

fn module_path() -> PathBuf {
    let p = build_dir().join("libpam_tapprove.so");
    assert!(
        p.is_file(),
        "{} is missing: cargo build -p tapprove-pam",
        p.display()
    );
    p
}

fn run_ok(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the test changed on the machine, undone on drop (also when an assertion fails).
#[derive(Default)]
struct Cleanup {
    user: Option<String>,
    pam_files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for f in &self.pam_files {
            let _ = std::fs::remove_file(f);
        }
        if let Some(user) = &self.user {
            let _ = Command::new("userdel").arg(user).status();
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_serve(dir: &Path) -> (Proc, String, String) {
    let db = format!("sqlite://{}?mode=rwc", dir.join("tapprove.db").display());
    let config = dir.join("tapprove.toml");
    std::fs::write(&config, SERVE_CONFIG).unwrap();
    let mut child = Command::new(tapprove_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &db,
            "--config",
        ])
        .arg(&config)
        .env("TAPPROVE_SEAL_KEY", SEAL_KEY)
        .env("TAPPROVE_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("tapprove: listening on ")
        .unwrap_or_else(|| panic!("tapprove serve said {line:?}"))
        .to_owned();
    (Proc(child), url, db)
}

/// How the software device answers the next push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Approve,
    Deny,
    /// A `display` push: the phone shows its code (returned) and the user types it.
    ShowCode,
}

/// A service, a project, a local user with a paired software device, and the module's files.
struct Rig {
    dir: PathBuf,
    url: String,
    rp: RpClient,
    device: SoftwareDevice,
    /// The project's SDK key (to pair more devices).
    sdk_key: String,
    at: Endpoint,
    user: String,
    api_key_file: PathBuf,
    seen: Mutex<HashSet<String>>,
    /// The last `display` challenge the device saw (to acknowledge it).
    shown: Mutex<Option<Challenge>>,
    db: String,
    project_id: String,
    _hook: FakeRp,
    _serve: Proc,
    cleanup: Cleanup,
}

impl Rig {
    async fn new(tag: &str) -> Self {
        let mut cleanup = Cleanup::default();
        let n = std::process::id();
        let dir = std::env::temp_dir().join(format!("tapprove-pam-{tag}-{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        cleanup.dirs.push(dir.clone());
        // A user name unique to this run: the machine's users are shared.
        let user = format!("tapp{tag}{n}");
        run_ok(
            "useradd",
            &["--no-create-home", "--shell", "/bin/sh", &user],
        );
        cleanup.user = Some(user.clone());

        let (serve, url, db) = start_serve(&dir);
        let hook = FakeRp::start(TrustMode::Accept(PAIRING_CODE.into())).await;
        let out = Command::new(tapprove_bin())
            .args([
                "admin",
                "project",
                "create",
                "--name",
                "PAM test",
                "--trust-url",
            ])
            .arg(hook.trust_url())
            .args(["--json", "--database", &db])
            .env("TAPPROVE_SEAL_KEY", SEAL_KEY)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let project: Value = serde_json::from_slice(&out.stdout).unwrap();
        hook.set_credentials_json(&project);
        let api_key = project["api_key"].as_str().unwrap();
        let rp = RpClient::new(&url, api_key);
        let at = Endpoint::new(&url);
        let device = SoftwareDevice::new(project["sdk_key"].as_str().unwrap());
        let (status, pairing) = device.pair(&at, &user, PAIRING_CODE).await;
        assert!(status.is_success(), "pairing: {status} {pairing}");
        let device = device.with_pairing(serde_json::from_value(pairing).unwrap());

        let api_key_file = dir.join("api-key");
        std::fs::write(&api_key_file, format!("{api_key}\n")).unwrap();
        std::fs::set_permissions(&api_key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        Self {
            dir,
            url,
            rp,
            device,
            sdk_key: project["sdk_key"].as_str().unwrap().to_owned(),
            at,
            user,
            api_key_file,
            seen: Mutex::default(),
            shown: Mutex::default(),
            project_id: project["project_id"].as_str().unwrap().to_owned(),
            db,
            _hook: hook,
            _serve: serve,
            cleanup,
        }
    }

    /// A module configuration file; `service_url` defaults to the rig's service.
    fn config(&self, name: &str, service_url: Option<&str>, mode: &str, timeout: u64) -> PathBuf {
        let path = self.dir.join(format!("{name}.toml"));
        let text = format!(
            "service_url = {:?}\napi_key_file = {:?}\nmode = {mode:?}\ntimeout_seconds = {timeout}\n",
            service_url.unwrap_or(&self.url),
            self.api_key_file,
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    fn log(&self) -> PathBuf {
        self.dir.join("pam.log")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// `/etc/pam.d/<service>` with the module (by absolute path) and `config`.
    fn install_pam(&mut self, service: &str, config: &Path) {
        let file = Path::new("/etc/pam.d").join(service);
        self.cleanup.pam_files.push(file.clone());
        let text = format!(
            "auth required {} config={} log={}\naccount required pam_permit.so\nsession required pam_permit.so\npassword required pam_deny.so\n",
            module_path().display(),
            config.display(),
            self.log().display()
        );
        std::fs::write(&file, text).unwrap();
    }

    /// `tapprove admin project set-policy` on the rig's project.
    fn set_policy(&self, policy: &str) {
        let out = Command::new(tapprove_bin())
            .args([
                "admin",
                "project",
                "set-policy",
                "--project",
                &self.project_id,
            ])
            .args(["--policy", policy, "--database", &self.db])
            .env("TAPPROVE_SEAL_KEY", SEAL_KEY)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits for the next push to reach the device and answers it as `how`; returns the
    /// session id and the code the login side showed.
    async fn answer_next(&self, how: Answer) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let fresh = self
                .device
                .pending(&self.at)
                .await
                .into_iter()
                .find(|(_, c)| !self.seen.lock().unwrap().contains(&c.session_id));
            if let Some((_, challenge)) = fresh {
                let id = challenge.session_id.clone();
                self.seen.lock().unwrap().insert(id.clone());
                if how == Answer::ShowCode {
                    let code = challenge.presence.code.clone();
                    *self.shown.lock().unwrap() = Some(challenge);
                    return (id, code.expect("a display challenge carries its code"));
                }
                // The user reads the code at the login side; the site's view of the session
                // holds the same code.
                let view = self.rp.typed().session(&id).await.unwrap();
                let code = view.presence_code.unwrap_or_default();
                let (status, body) = match how {
                    Answer::Approve => {
                        let option = right_option(&challenge, &code);
                        self.device
                            .answer(&self.at, &challenge, Decision::Approve, Some(&option), None)
                            .await
                    }
                    Answer::ShowCode => unreachable!("handled above"),
                    Answer::Deny => {
                        self.device
                            .answer(
                                &self.at,
                                &challenge,
                                Decision::Deny,
                                None,
                                Some(DenyReason::Cancelled),
                            )
                            .await
                    }
                };
                assert_eq!(status.as_u16(), 200, "{body}");
                return (id, code);
            }
            assert!(Instant::now() < deadline, "no push reached the device");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- module log ({}):\n{}",
                self.log().display(),
                self.log_text()
            );
        }
    }
}

/// `pamtester -v SERVICE USER authenticate`, off the runtime's thread; output and duration.
async fn pamtester(service: &str, user: &str) -> (Output, Duration) {
    let (service, user) = (service.to_owned(), user.to_owned());
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let out = Command::new("pamtester")
            .args(["-v", &service, &user, "authenticate"])
            .stdin(Stdio::null())
            .output()
            .expect("pamtester (apt-get install pamtester)");
        (out, started.elapsed())
    })
    .await
    .unwrap()
}

/// `pamtester` answering the module's prompt with the code `typed` delivers (what the user
/// reads off the phone); a dropped sender closes its input.
async fn pamtester_typing(
    service: &str,
    user: &str,
    typed: std::sync::mpsc::Receiver<String>,
) -> (Output, Instant) {
    let (service, user) = (service.to_owned(), user.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new("pamtester")
            .args(["-v", &service, &user, "authenticate"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pamtester (apt-get install pamtester)");
        let mut stdin = child.stdin.take().unwrap();
        if let Ok(code) = typed.recv() {
            std::io::Write::write_all(&mut stdin, format!("{code}\n").as_bytes()).unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        (out, Instant::now())
    })
    .await
    .unwrap()
}

/// The code with its last digit changed.
fn wrong(code: &str) -> String {
    let mut digits: Vec<u8> = code.bytes().collect();
    let last = digits.last_mut().unwrap();
    *last = if *last == b'9' { b'0' } else { *last + 1 };
    String::from_utf8(digits).unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, pamtester and a local user: run by `cargo xtask test pam`"]
async fn pamtester_push_approve_deny_timeout_and_failing_closed() {
    let mut rig = Rig::new("pt").await;
    let service = format!("tapprove-test-pt-{}", std::process::id());
    let push = rig.config("push", None, "push", 20);
    rig.install_pam(&service, &push);

    // Approve: the prompt shows the number the phone asks for, and the login passes.
    let ((out, took), (session, code)) = tokio::join!(
        pamtester(&service, &rig.user),
        rig.answer_next(Answer::Approve)
    );
    eprintln!("figure: pamtester push approved (device polling every 100 ms) in {took:?}");
    let said = text(&out);
    assert!(out.status.success(), "approved push must pass: {said}");
    assert!(said.contains("Approve on your phone"), "{said}");
    assert!(said.contains(&code), "the number to match is shown: {said}");
    assert!(
        rig.log_text()
            .contains(&format!("approved (session {session})"))
    );

    // Deny.
    let ((out, _), _) = tokio::join!(
        pamtester(&service, &rig.user),
        rig.answer_next(Answer::Deny)
    );
    assert!(
        !out.status.success(),
        "denied push must fail: {}",
        text(&out)
    );
    assert!(text(&out).contains("not approved"), "{}", text(&out));
    assert!(
        rig.log_text().contains("login refused: not approved"),
        "{}",
        rig.log_text()
    );

    // Nobody answers: refused when timeout_seconds is over, not later.
    let short = rig.config("short", None, "push", 3);
    rig.install_pam(&service, &short);
    let (out, took) = pamtester(&service, &rig.user).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(5),
        "the module waited {took:?} with timeout_seconds = 3"
    );
    assert!(
        rig.log_text().contains("no answer within 3 s"),
        "{}",
        rig.log_text()
    );
    eprintln!("figure: pamtester refused after {took:?} with timeout_seconds = 3");

    // The service is down: refused at once (fail closed).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let down = rig.config("down", Some(&dead_url), "push", 20);
    rig.install_pam(&service, &down);
    let (out, took) = pamtester(&service, &rig.user).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        took < Duration::from_secs(3),
        "failing closed took {took:?}"
    );
    assert!(
        text(&out).contains("Tapprove is unavailable"),
        "{}",
        text(&out)
    );
    assert!(
        rig.log_text().contains("cannot reach the Tapprove service"),
        "{}",
        rig.log_text()
    );
    eprintln!("figure: pamtester refused with the service down in {took:?}");

    // The service answers with an error (no phone paired for that user): refused.
    rig.install_pam(&service, &push);
    let (out, _) = pamtester(&service, "nobody-paired").await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no phone is paired"), "{}", text(&out));
    assert!(
        rig.log_text().contains("user=nobody-paired"),
        "{}",
        rig.log_text()
    );

    // A key file others can read: refused, with the fix in the log line.
    std::fs::set_permissions(&rig.api_key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    rig.install_pam(&service, &push);
    let (out, _) = pamtester(&service, &rig.user).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(rig.log_text().contains("chmod 600"), "{}", rig.log_text());
    std::fs::set_permissions(&rig.api_key_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    // No config= on the line: refused.
    let file = Path::new("/etc/pam.d").join(&service);
    std::fs::write(
        &file,
        format!(
            "auth required {} log={}\n",
            module_path().display(),
            rig.log().display()
        ),
    )
    .unwrap();
    let (out, _) = pamtester(&service, &rig.user).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        rig.log_text().contains("no config=FILE"),
        "{}",
        rig.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, pamtester and a local user: run by `cargo xtask test pam`"]
async fn pamtester_code_mode_right_and_wrong_code() {
    let mut rig = Rig::new("pc").await;
    let service = format!("tapprove-test-pc-{}", std::process::id());
    let code_mode = rig.config("code", None, "code", 20);
    rig.install_pam(&service, &code_mode);

    for right in [true, false] {
        let (tx, rx) = std::sync::mpsc::channel();
        let ((out, _), (session, code)) =
            tokio::join!(pamtester_typing(&service, &rig.user, rx), async {
                let (session, code) = rig.answer_next(Answer::ShowCode).await;
                let typed = if right { code.clone() } else { wrong(&code) };
                tx.send(typed).unwrap();
                (session, code)
            });
        let said = text(&out);
        assert!(said.contains("Code shown in Tapprove:"), "{said}");
        assert!(
            !said.contains(&code),
            "the login side never shows the code: {said}"
        );
        if right {
            assert!(out.status.success(), "the right code must pass: {said}");
            assert!(
                rig.log_text()
                    .contains(&format!("approved (session {session})")),
                "{}",
                rig.log_text()
            );
        } else {
            assert!(!out.status.success(), "a wrong code must fail: {said}");
            assert!(said.contains("wrong code"), "{said}");
            let (status, reason) = rig.rp.outcome(&session).await;
            assert_eq!(
                (status.as_str(), reason.as_str()),
                ("rejected", "wrong_number")
            );
        }
    }

    // Nothing typed (end of input): refused.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    drop(tx);
    let ((out, _), _) = tokio::join!(
        pamtester_typing(&service, &rig.user, rx),
        rig.answer_next(Answer::ShowCode)
    );
    assert!(!out.status.success(), "{}", text(&out));

    // Under nist-aal2 the service takes the code only once the phone acknowledged showing it
    // to a verified user: the module submits again until then.
    rig.set_policy("nist-aal2");
    let (tx, rx) = std::sync::mpsc::channel();
    let ((out, finished), (session, acked)) =
        tokio::join!(pamtester_typing(&service, &rig.user, rx), async {
            let (session, code) = rig.answer_next(Answer::ShowCode).await;
            tx.send(code).unwrap();
            // The user typed the code; the phone's acknowledgement comes later.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let challenge = rig.shown.lock().unwrap().take().unwrap();
            let (status, body) = rig
                .device
                .shown(&rig.at, &challenge, UvMethod::AppPassphrase)
                .await;
            assert!(status.is_success(), "shown: {status} {body}");
            (session, Instant::now())
        });
    assert!(
        out.status.success(),
        "the code after the acknowledgement must pass: {}\n{}",
        text(&out),
        rig.log_text()
    );
    assert!(
        finished > acked,
        "the login ended before the acknowledgement"
    );
    assert!(
        rig.log_text()
            .contains(&format!("approved (session {session})"))
    );
}

/// A real `sshd` on a loopback port with its own configuration and host key, its PAM service
/// named after the binary's name (OpenSSH uses its program name as the PAM service).
struct Sshd {
    port: u16,
    log: PathBuf,
    _proc: Proc,
}

impl Sshd {
    fn start(dir: &Path, service: &str) -> Self {
        // Privilege separation needs this directory; a system with sshd installed has it
        // after boot, a fresh container may not.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let key = dir.join("host_ed25519");
        run_ok(
            "ssh-keygen",
            &["-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nUsePAM yes\n\
                 KbdInteractiveAuthentication yes\nAuthenticationMethods keyboard-interactive\n\
                 PasswordAuthentication no\nPubkeyAuthentication no\nPermitRootLogin no\n\
                 MaxAuthTries 2\nLogLevel VERBOSE\n",
                key.display(),
                dir.join("sshd.pid").display()
            ),
        )
        .unwrap();
        let bin = dir.join(service);
        std::os::unix::fs::symlink("/usr/sbin/sshd", &bin).unwrap();
        let log = dir.join("sshd.log");
        let child = Command::new(&bin)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("sshd (apt-get install openssh-server)");
        let proc = Proc(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            port,
            log,
            _proc: proc,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `ssh USER@127.0.0.1 echo …` with keyboard-interactive only; prompts are answered by
/// `askpass` (SSH_ASKPASS_REQUIRE=force: no terminal needed).
async fn ssh(port: u16, user: &str, askpass: &Path) -> (Output, Duration) {
    let (user, askpass) = (user.to_owned(), askpass.to_owned());
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let out = Command::new("ssh")
            .args(["-F", "/dev/null", "-p", &port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "PreferredAuthentications=keyboard-interactive",
                "-o",
                "NumberOfPasswordPrompts=1",
                "-o",
                "ConnectTimeout=10",
                "-o",
                "LogLevel=ERROR",
            ])
            .arg(format!("{user}@127.0.0.1"))
            .args(["echo", "tapprove-ssh-ok"])
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .stdin(Stdio::null())
            .output()
            .expect("ssh (apt-get install openssh-client)");
        (out, started.elapsed())
    })
    .await
    .unwrap()
}

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// An askpass that answers keyboard-interactive with what the test writes to the returned
/// file (the user typing the code the phone shows): `(file, askpass)`.
fn askpass_typing_a_file(dir: &Path) -> (PathBuf, PathBuf) {
    let typed = dir.join("typed-code");
    let askpass = dir.join("askpass-code");
    script(
        &askpass,
        &format!(
            "i=0\nwhile [ ! -s {f} ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done\ncat {f}",
            f = typed.display()
        ),
    );
    (typed, askpass)
}

/// An sshd whose PAM service (returned) runs the module in push mode, and an askpass for
/// push mode, which asks nothing: an askpass that is called at all fails the login.
fn sshd_in_push_mode(rig: &mut Rig, tag: &str) -> (String, Sshd, PathBuf) {
    let service = format!("tapprove-test-{tag}-{}", std::process::id());
    let push = rig.config("push", None, "push", 20);
    rig.install_pam(&service, &push);
    let sshd = Sshd::start(&rig.dir, &service);
    let askpass = rig.dir.join("askpass-none");
    script(&askpass, "exit 1");
    (service, sshd, askpass)
}

/// `ssh` ran its command: the login passed.
fn assert_logged_in(out: &Output, sshd: &Sshd, what: &str) {
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("tapprove-ssh-ok"),
        "{what} must log in: {}\n--- sshd:\n{}",
        text(out),
        sshd.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, sshd, ssh and a local user: run by `cargo xtask test pam`"]
async fn ssh_login_through_sshd_keyboard_interactive_push_and_code() {
    let mut rig = Rig::new("ssh").await;
    let (service, sshd, askpass) = sshd_in_push_mode(&mut rig, "ssh");

    let ((out, _), (session, _)) = tokio::join!(
        ssh(sshd.port, &rig.user, &askpass),
        rig.answer_next(Answer::Approve)
    );
    assert_logged_in(&out, &sshd, "ssh with an approved push");
    assert!(
        rig.log_text()
            .contains(&format!("approved (session {session})"))
    );

    let ((out, _), _) = tokio::join!(
        ssh(sshd.port, &rig.user, &askpass),
        rig.answer_next(Answer::Deny)
    );
    assert!(
        !out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("tapprove-ssh-ok"),
        "ssh with a denied push must not log in: {}",
        text(&out)
    );
    assert!(
        rig.log_text().contains("login refused: not approved"),
        "{}",
        rig.log_text()
    );

    // Code mode: keyboard-interactive asks for the code, askpass types what the phone shows.
    let code_mode = rig.config("code", None, "code", 20);
    rig.install_pam(&service, &code_mode);
    let (typed, askpass) = askpass_typing_a_file(&rig.dir);
    let ((out, _), session) = tokio::join!(ssh(sshd.port, &rig.user, &askpass), async {
        let (session, code) = rig.answer_next(Answer::ShowCode).await;
        std::fs::write(&typed, code).unwrap();
        session
    });
    assert_logged_in(&out, &sshd, "ssh with the code from the phone");
    assert!(
        rig.log_text()
            .contains(&format!("approved (session {session})"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, sshd, ssh and a local user: run by `cargo xtask test pam`"]
async fn ssh_login_answered_by_the_terminal_authenticator_push_and_code() {
    // The whole SSH path: ssh → sshd → pam_tapprove → push → `tapprove device listen`.
    let mut rig = Rig::new("term").await;
    let terminal = Terminal::new(rig.dir.join("terminal"));
    terminal.pair(&rig.url, &rig.sdk_key, &rig.user, PAIRING_CODE);
    let mut listen = terminal.listen().await;
    let (service, sshd, askpass) = sshd_in_push_mode(&mut rig, "term");

    // Push mode: the user matches the number the SSH prompt showed (the site's view of the
    // session holds the same one).
    let ((out, _), session) = tokio::join!(ssh(sshd.port, &rig.user, &askpass), async {
        let line = listen.wait_for("── Login request ").await;
        let id = line
            .split("Login request ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("session id")
            .to_owned();
        let view = rig.rp.typed().session(&id).await.unwrap();
        listen
            .choose(&view.presence_code.expect("number to match"))
            .await;
        listen.wait_for("approved").await;
        id
    });
    assert_logged_in(&out, &sshd, "ssh approved on the terminal");
    assert!(
        rig.log_text()
            .contains(&format!("approved (session {session})")),
        "{}",
        rig.log_text()
    );

    // Code mode: keyboard-interactive asks for the code, typed from the terminal's [s].
    let code_mode = rig.config("code", None, "code", 20);
    rig.install_pam(&service, &code_mode);
    let (typed, askpass) = askpass_typing_a_file(&rig.dir);
    let ((out, _), ()) = tokio::join!(ssh(sshd.port, &rig.user, &askpass), async {
        let code = listen.show_code().await;
        std::fs::write(&typed, code).unwrap();
    });
    assert_logged_in(&out, &sshd, "ssh with the code from the terminal");
}
