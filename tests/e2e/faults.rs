//! The fault table of docs/SECURITY.md, end to end through the real binary: a real
//! `tapprove serve` (SQLite) on loopback, the real `tapprove device` and `tapprove admin`, a
//! relying party played by the test. Each test says what the user (device) and the site see,
//! checks that exactly one decision is recorded and nothing half-written, and that the system
//! recovers without an operator.

mod common;
mod faults_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Device, FakeRp, TrustMode, failed_line, fixture, ok_json, rp_client, stderr, tapprove,
};
use faults_support::*;
use serde_json::json;

// ---------------------------------------------------------------- the rows

/// SQLite busy/locked beyond its timeout: another process holds the write lock for longer
/// than the service's 5 s busy timeout. The site gets `500 internal` ("try again later") for a
/// new login and nothing is stored; a device answering a login made before gets a one-line
/// error and the login stays `sent`; once the lock goes, the same answer decides it once.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_locked_beyond_busy_timeout() {
    use sqlx::Connection as _;
    let w = World::new(None, &[], "alice").await;
    let db = w.service.db();
    let (id, right) = w.login_seen("alice").await;
    let before = count(&db, "SELECT COUNT(*) FROM sessions", "").await;

    let mut locker = sqlx::SqliteConnection::connect(&db).await.expect("open db");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .expect("lock");

    let started = Instant::now();
    let (status, body) = w
        .site
        .create_raw(&fixture::create_session_body("alice"))
        .await;
    assert_eq!(status.as_u16(), 500, "{body}");
    assert_eq!(body["error"]["code"], json!("internal"));
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "the service waited its busy timeout first ({:?})",
        started.elapsed()
    );
    let o = w
        .device
        .run(&["respond", &id, "--choose", &right, "--json"])
        .await;
    let line = failed_line(&o);
    assert!(line.contains("try again"), "{line}");

    sqlx::query("ROLLBACK")
        .execute(&mut locker)
        .await
        .expect("unlock");
    let _ = locker.close().await;
    // Nothing half-written: no session from the refused login, the first still undecided.
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM sessions", "").await,
        before
    );
    assert_eq!(w.site.outcome(&id).await.0, "sent");
    // Recovery: the same answer again decides it, once.
    let v = ok_json(
        &w.device
            .run(&["respond", &id, "--choose", &right, "--json"])
            .await,
    );
    assert_eq!(v["status"], json!("accepted"));
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM sessions WHERE id = ? AND status = 'accepted'",
            &id
        )
        .await,
        1
    );
    w.recovered("alice").await;
}

/// A small tmpfs for the database, or `None` (with the reason printed) where mounting is not
/// allowed (not root, or no mount namespace rights).
fn small_tmpfs(dir: &Path, size: &str) -> Option<PathBuf> {
    let mnt = dir.join("disk");
    std::fs::create_dir_all(&mnt).expect("mkdir");
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(&mnt)
        .output();
    match out {
        Ok(o) if o.status.success() => Some(mnt),
        Ok(o) => {
            eprintln!(
                "disk_full: cannot mount a tmpfs here ({}); this row needs root",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            None
        }
        Err(e) => {
            eprintln!("disk_full: cannot run mount ({e}); this row needs root");
            None
        }
    }
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The disk full: the database lives on a 4 MB tmpfs that a file then fills. The site gets
/// `500 internal` for logins the service cannot store (and a device's answer gets a one-line
/// error, its login staying `sent`); every session the site was given an id for can still be
/// decided; once space is freed everything works again without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn disk_full() {
    let outer = tempfile::tempdir().expect("tempdir");
    let Some(mnt) = small_tmpfs(outer.path(), "4m") else {
        return;
    };
    let _unmount = Unmount(mnt.clone());
    // Room for the 30 tries below: a refused create must be the full disk's 500, never the
    // push budget's or the cooldown's 429 (superseded logins count as failures).
    let limits = [
        ("TAPPROVE_LIMITS_SESSIONS_PER_MINUTE", "100"),
        ("TAPPROVE_LIMITS_SESSIONS_PER_HOUR", "100"),
        ("TAPPROVE_LIMITS_FAILURES_BEFORE_COOLDOWN", "100"),
    ];
    let w = World::new(Some(&mnt), &limits, "alice").await;
    let db = w.service.db();
    let (id, right) = w.login_seen("alice").await;

    // Fill the disk.
    let filler = mnt.join("filler");
    {
        let mut f = std::fs::File::create(&filler).expect("filler");
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    // The answer to the login made before: decided once if its write still fits in the pages
    // SQLite already has, else a one-line error and the login stays `sent`.
    let o = w
        .device
        .run(&["respond", &id, "--choose", &right, "--json"])
        .await;
    let answered = o.status.success();
    if answered {
        assert_eq!(ok_json(&o)["status"], json!("accepted"));
    } else {
        let line = failed_line(&o);
        assert!(line.contains("try again"), "{line}");
        assert_eq!(w.site.outcome(&id).await.0, "sent");
    }
    // New logins: `500 internal` once nothing fits any more.
    let mut created = Vec::new();
    let mut refused = 0;
    for _ in 0..30 {
        let (status, body) = w
            .site
            .create_raw(&fixture::create_session_body("alice"))
            .await;
        match status.as_u16() {
            201 => created.push(body["id"].as_str().expect("id").to_owned()),
            500 => {
                assert_eq!(body["error"]["code"], json!("internal"), "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
        if refused >= 3 {
            break;
        }
    }
    assert!(refused >= 3, "a full disk refused logins");

    // Free the space: no restart, no operator.
    std::fs::remove_file(&filler).expect("free space");
    // Logins the site was given an id for exist and are decidable (superseded by the newer).
    for sid in &created {
        let (code, v) = w.site.get_raw(sid, None).await;
        assert_eq!(
            code.as_u16(),
            200,
            "session {sid} the site was told about exists: {v}"
        );
    }
    if !answered {
        // The answer that did not fit decides the login now (unless a newer login the site
        // was given replaced it meanwhile).
        let o = w
            .device
            .run(&["respond", &id, "--choose", &right, "--json"])
            .await;
        if created.is_empty() {
            assert_eq!(ok_json(&o)["status"], json!("accepted"));
        }
    }
    let decided = count(
        &db,
        "SELECT COUNT(*) FROM sessions WHERE id = ? AND decided_at IS NOT NULL",
        &id,
    )
    .await;
    assert!(decided <= 1);
    w.recovered("alice").await;
}

/// A trust webhook that answers one byte every second (slow-loris). The service gives up at
/// its webhook timeout (1.5 s here, 10 s by default) and closes the connection; the user sees
/// one line saying the site did not answer in time; nothing is stored; the next pairing with a
/// healthy webhook works.
#[tokio::test(flavor = "multi_thread")]
async fn trust_webhook_slow_loris() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = Service::start(dir.path(), dir.path(), &[]);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let loris_url = format!(
        "http://{}/users/trust",
        listener.local_addr().expect("addr")
    );
    let project = service.create_project(&loris_url).await;
    let cut_after = Arc::new(Mutex::new(None::<Duration>));
    let seen = cut_after.clone();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let started = Instant::now();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        for b in b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\ntrusted"
        {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
            // A closed peer shows as EOF or a reset on read.
            let _ = s.set_nonblocking(true);
            if matches!(s.read(&mut buf), Ok(0)) {
                break;
            }
            let _ = s.set_nonblocking(false);
        }
        *seen.lock().expect("lock") = Some(started.elapsed());
    });
    let device = Device::new(dir.path(), "phone");
    let sdk = project["sdk_key"].as_str().expect("sdk").to_owned();
    let started = Instant::now();
    let o = device
        .run(&[
            "pair",
            "--server",
            &service.url,
            "--sdk-key",
            &sdk,
            "--user",
            "alice",
            "--code",
            CODE,
        ])
        .await;
    let line = failed_line(&o);
    assert!(
        line.contains("did not answer the pairing check in time"),
        "{line}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The service hung up on the slow webhook instead of holding the connection.
    let deadline = Instant::now() + Duration::from_secs(10);
    while cut_after.lock().expect("lock").is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cut = cut_after
        .lock()
        .expect("lock")
        .expect("the service closed the connection");
    assert!(cut < Duration::from_secs(8), "held for {cut:?}");
    // Nothing stored.
    assert_eq!(
        count(&service.db(), "SELECT COUNT(*) FROM accounts", "").await,
        0
    );
    assert!(device.accounts().await.is_empty());
    // Recovery: the site fixes its webhook; pairing works with no restart.
    let hook = FakeRp::start(TrustMode::Accept(CODE.into())).await;
    hook.set_credentials_json(&project);
    let project_id = project["project_id"]
        .as_str()
        .expect("project_id")
        .to_owned();
    let db = service.db();
    let o = tapprove(&[
        "admin",
        "project",
        "set-trust-url",
        "--project",
        &project_id,
        "--trust-url",
        &hook.trust_url(),
        "--database",
        &db,
    ])
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    pair(&device, &service.url, &project, "alice").await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM accounts", "").await, 1);
}

/// SIGKILL of the service after it verified an answer and before it committed the decision
/// (a debug-build pause point, `TAPPROVE_TEST_PAUSE_AT=answer-before-commit`). The user sees
/// one line about the lost connection; the site still sees `sent`; after the restart the same
/// answer decides the login, exactly once, and a replay is `already decided`.
#[tokio::test(flavor = "multi_thread")]
async fn service_killed_between_answer_check_and_commit() {
    let pause = [("TAPPROVE_TEST_PAUSE_AT", "answer-before-commit")];
    let mut w = World::new(None, &pause, "alice").await;
    let (id, right) = w.login_seen("alice").await;
    let child = spawn_device(&w.device, &["respond", &id, "--choose", &right, "--json"]);
    assert!(
        w.service
            .saw(
                "test pause at answer-before-commit",
                Duration::from_secs(20)
            )
            .await,
        "the service reached the pause point"
    );
    w.service.kill();
    let o = wait_child(child).await;
    let line = failed_line(&o);
    assert!(
        line.contains("connection") || line.contains("reach"),
        "{line}"
    );
    // Nothing committed.
    let db = w.service.db();
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM sessions WHERE id = ? AND status = 'sent' AND decided_at IS NULL",
            &id
        )
        .await,
        1
    );
    w.service.restart(&[]);
    assert_eq!(w.site.outcome(&id).await.0, "sent");
    let v = ok_json(
        &w.device
            .run(&["respond", &id, "--choose", &right, "--json"])
            .await,
    );
    assert_eq!(v["status"], json!("accepted"));
    assert_eq!(
        w.site.outcome(&id).await,
        ("accepted".into(), "approved".into())
    );
    let line = failed_line(&w.device.run(&["respond", &id, "--choose", &right]).await);
    assert!(line.contains("answered elsewhere"), "{line}");
    w.recovered("alice").await;
}

/// A clock that is `offset` seconds off the real one.
struct Skewed(i64);

impl tapprove_core::Clock for Skewed {
    fn now_unix(&self) -> i64 {
        tapprove_core::SystemClock.now_unix() + self.0
    }
}

/// The device clock ten minutes fast, then ten minutes slow: the core corrects its clock with
/// the service's `Date` header, so challenges are not refused as expired / not yet valid, and
/// its answers and request proofs (±60 s allowed) are accepted. The user just logs in.
#[tokio::test(flavor = "multi_thread")]
async fn device_clock_ten_minutes_off() {
    let w = World::new(None, &[], "alice").await;
    for offset in [600, -600] {
        let store = Arc::new(tapprove_core::FileStore::open(&w.device.store).expect("store"));
        let signer = Arc::new(tapprove_core::SoftwareSigner::new(store.clone()));
        let config =
            tapprove_core::Config::new(&w.service.url, w.project["sdk_key"].as_str().expect("sdk"))
                .expect("config");
        let phone = tapprove_core::Authenticator::with_clock(
            config,
            store,
            signer,
            Arc::new(Skewed(offset)),
        )
        .expect("authenticator");
        let session = w.site.login("alice", json!({})).await;
        let id = session["id"].as_str().expect("id");
        let code = session["presence_code"].as_str().expect("code");
        let pending = phone
            .pending(None)
            .await
            .expect("pending with a skewed clock");
        let request = pending
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("offset {offset}: the request reached the device"));
        assert!(request.options.iter().any(|o| o == code));
        let outcome = phone
            .respond(
                id,
                tapprove_core::Decision::Approve {
                    presence_answer: Some(code.to_owned()),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("offset {offset}: {e}"));
        assert_eq!(outcome.status, tapprove_core::SessionStatus::Accepted);
        assert_eq!(
            w.site.outcome(id).await,
            ("accepted".into(), "approved".into()),
            "offset {offset}"
        );
    }
}

/// `request` (the start of an HTTP/1.1 request) with `Connection: close` after its request
/// line.
fn connection_close(request: &[u8]) -> Vec<u8> {
    let Some(line_end) = request.windows(2).position(|w| w == b"\r\n") else {
        return request.to_vec();
    };
    let mut out = request[..line_end + 2].to_vec();
    out.extend_from_slice(b"Connection: close\r\n");
    out.extend_from_slice(&request[line_end + 2..]);
    out
}

/// A loopback proxy in front of the service that passes everything through, except that on
/// the first answer call it forwards the request, waits for the service's reply and then tells
/// the test, which kills the device before the reply is relayed.
async fn answer_trap(upstream: SocketAddr) -> (String, tokio::sync::mpsc::Receiver<()>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(true));
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let (tx, armed) = (tx.clone(), armed.clone());
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let mut first = vec![0u8; 16 * 1024];
                let Ok(n) = client.read(&mut first).await else {
                    return;
                };
                first.truncate(n);
                let trap = first.starts_with(b"POST /v1/device/answers")
                    && armed.swap(false, std::sync::atomic::Ordering::SeqCst);
                if !trap {
                    // One request per connection, so that the answer comes on a new one
                    // (the device keeps a connection for its next call).
                    let first = connection_close(&first);
                    if server.write_all(&first).await.is_ok() {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                    return;
                }
                // The answer: forward all of it, read the whole reply, relay nothing.
                let (mut cr, _cw) = client.split();
                let _ = server.write_all(&first).await;
                let (mut sr, mut sw) = server.split();
                let forward = async {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                };
                let mut reply = Vec::new();
                let read_reply = async {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = sr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        reply.extend_from_slice(&buf[..n]);
                        if reply.windows(4).any(|w| w == b"\r\n\r\n") && reply.ends_with(b"}") {
                            break;
                        }
                    }
                };
                tokio::select! {
                    () = read_reply => {}
                    () = async { forward.await; std::future::pending::<()>().await } => {}
                }
                let _ = tx.send(()).await;
                // Hold the client connection until the test has killed the device.
                tokio::time::sleep(Duration::from_secs(5)).await;
            });
        }
    });
    (url, rx)
}

/// The device process killed after sending its answer and before reading the reply. The
/// login is decided by that answer, once (the site sees `accepted`); the restarted device has
/// nothing pending, answering again says it was already decided, and the next login works.
#[tokio::test(flavor = "multi_thread")]
async fn device_killed_before_reading_the_answer_reply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = Service::start(dir.path(), dir.path(), &[]);
    let hook = FakeRp::start(TrustMode::Accept(CODE.into())).await;
    let project = service.create_project(&hook.trust_url()).await;
    hook.set_credentials_json(&project);
    let site = rp_client(&service.url, &project);
    let (trap_url, mut answered) = answer_trap(service.addr).await;
    let device = Device::new(dir.path(), "phone");
    pair(&device, &trap_url, &project, "alice").await;

    let session = site.login("alice", json!({})).await;
    let id = session["id"].as_str().expect("id").to_owned();
    let request = device.request(&id).await;
    let right = right_option(&request, session["presence_code"].as_str().expect("code"));
    let mut child = spawn_device(&device, &["respond", &id, "--choose", &right, "--json"]);
    tokio::time::timeout(Duration::from_secs(20), answered.recv())
        .await
        .expect("the answer reached the service")
        .expect("trap");
    child.kill().expect("kill the device");
    let o = wait_child(child).await;
    assert!(
        !o.status.success(),
        "killed before it could print an outcome"
    );
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // The site: decided by that answer, once.
    assert_eq!(
        site.outcome(&id).await,
        ("accepted".into(), "approved".into())
    );
    assert_eq!(
        count(
            &service.db(),
            "SELECT COUNT(*) FROM sessions WHERE id = ? AND decided_at IS NOT NULL",
            &id
        )
        .await,
        1
    );
    // The restarted device: nothing pending; answering again is refused with one line.
    assert!(device.requests().await.is_empty());
    let line = failed_line(&device.run(&["respond", &id, "--choose", &right]).await);
    assert!(line.contains("answered elsewhere"), "{line}");
    // And the next login goes through.
    let session = site.login("alice", json!({})).await;
    let id = session["id"].as_str().expect("id").to_owned();
    let request = device.request(&id).await;
    let right = right_option(&request, session["presence_code"].as_str().expect("code"));
    let v = ok_json(
        &device
            .run(&["respond", &id, "--choose", &right, "--json"])
            .await,
    );
    assert_eq!(v["status"], json!("accepted"));
}

/// Runs `cmd` as the unprivileged user `nobody` when the tests run as root (for whom file
/// permissions do not apply); returns whether it did.
fn as_nobody(cmd: &mut Command) -> bool {
    use std::os::unix::process::CommandExt as _;
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if root {
        cmd.uid(65534).gid(65534);
    }
    root
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    if path.exists() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
}

/// The database file unwritable for the user running the service. SQLite would open it
/// read-only and the service would say "listening" yet refuse every login; instead it refuses
/// to start, with one line naming the file and the cause. The site cannot connect (nothing
/// half-started); once the permissions are fixed the service starts on the same data: the
/// paired device and the project work as before.
#[tokio::test(flavor = "multi_thread")]
async fn database_file_unwritable() {
    let mut w = World::new(None, &[], "alice").await;
    // World keeps its SQLite file and configuration in one directory.
    let dir = w.service.config.parent().expect("dir").to_owned();
    let db_path = dir.join("tapprove.db");
    let (database, config, addr) = (w.service.db(), w.service.config.clone(), w.service.addr);
    w.service.kill();
    // The service user may read, not write, the database (its files stay as they are when
    // the tests run as root, since they belong to root).
    chmod(&dir, 0o755);
    let wal = |ext: &str| PathBuf::from(format!("{}{ext}", db_path.display()));
    let files = [db_path.clone(), wal("-wal"), wal("-shm")];
    let mut cmd = serve_command(&database, &config, &addr.to_string(), &[]);
    if !as_nobody(&mut cmd) {
        for f in &files {
            chmod(f, 0o444);
        }
    }
    let o = tokio::task::spawn_blocking(move || cmd.output().expect("run serve"))
        .await
        .expect("join");
    assert!(!o.status.success(), "the service refused to start");
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("tapprove: cannot use database") && lines[0].contains("writable"),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "it never said it was listening");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "nothing listens for the site"
    );
    // The fix: the service user may write the files. Same data, same device, same project.
    chmod(&dir, 0o777);
    for f in &files {
        chmod(f, 0o666);
    }
    let mut cmd = serve_command(&database, &config, &addr.to_string(), &[]);
    as_nobody(&mut cmd);
    w.service = Service::spawn_cmd(cmd, database, config);
    w.recovered("alice").await;
}
