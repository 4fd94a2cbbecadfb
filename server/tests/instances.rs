//! Several instances on one PostgreSQL behave as one service: three real
//! instances (this process's and two child processes of this test binary, each a real
//! `Service` on its own loopback port), one database, real HTTP. Runs when
//! `TAPPROVE_TEST_POSTGRES_URL` names a server (`cargo xtask test postgres`); against SQLite
//! alone it says it is skipped (one SQLite file serves one process).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use serde_json::Value;
use tapprove_protocol::{Decision, DenyReason};
use tapprove_server::{Service, ServiceConfig};
use tapprove_test_support::postgres::URL_ENV;

/// Set in a child process: the file it writes its port to.
const CHILD_ENV: &str = "TAPPROVE_TEST_CHILD_INSTANCE";

/// The body of a child instance (configured by `TAPPROVE_*` like `tapprove serve`); does
/// nothing unless started by [`Instance::start`].
#[test]
#[ignore = "the body of a child instance; the multi-instance test starts it"]
fn child_instance() {
    let Ok(port_file) = std::env::var(CHILD_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config = ServiceConfig::load(None).expect("config from TAPPROVE_*");
        let running = Service::start(config).await.expect("child instance starts");
        std::fs::write(&port_file, running.local_addr().port().to_string()).expect("port file");
        std::future::pending::<()>().await;
    });
}

/// A child process running one instance; dropped, it is killed.
struct Instance {
    process: std::process::Child,
    base: String,
}

impl Instance {
    async fn start(config: &ServiceConfig, dir: &Path, name: &str) -> Self {
        let port_file = dir.join(format!("{name}.port"));
        let seal = config.seal_key.as_ref().expect("seal key").secret_base64();
        let process = Command::new(std::env::current_exe().expect("test binary"))
            .args(["child_instance", "--exact", "--ignored", "--test-threads=1"])
            .env(CHILD_ENV, &port_file)
            .env("TAPPROVE_DATABASE_URL", &config.database_url)
            .env("TAPPROVE_SEAL_KEY", seal.as_str())
            .env("TAPPROVE_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .spawn()
            .expect("start a child instance");
        // Owned at once, so a failed start still kills it (Drop).
        let mut instance = Self {
            process,
            base: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(port) = std::fs::read_to_string(&port_file)
                && !port.is_empty()
            {
                instance.base = format!("http://127.0.0.1:{}", port.trim());
                return instance;
            }
            assert!(Instant::now() < deadline, "instance {name} did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown, open connections just drop.
    fn kill(&mut self) {
        self.process.kill().expect("SIGKILL");
        let _ = self.process.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A long-poll (`wait=25`) for `id` on the instance at `base`, in the background.
fn long_poll(
    h: &Harness,
    base: &str,
    id: &str,
) -> tokio::task::JoinHandle<reqwest::Result<(StatusCode, Value)>> {
    let request = h
        .http
        .get(format!("{base}/v1/push/sessions/{id}?wait=25"))
        .bearer_auth(h.api_key());
    tokio::spawn(async move {
        let r = request.send().await?;
        let status = StatusCode::from_u16(r.status().as_u16()).expect("status");
        Ok((status, r.json::<Value>().await?))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_on_one_postgres_behave_as_one_service() {
    if tapprove_test_support::postgres::admin_url().is_none() {
        eprintln!("skipped: set {URL_ENV} (cargo xtask test postgres) to run it");
        return;
    }
    let mut h = Harness::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let a = h.base.clone();
    let b = Instance::start(&h.config, dir.path(), "b").await;
    let mut c = Instance::start(&h.config, dir.path(), "c").await;
    let code_of = |created: &Value| created["presence_code"].as_str().expect("code").to_owned();

    // Pair through A, listen on B, create on C.
    let device = h.pair("alice").await;
    h.base = b.base.clone();
    let mut events = device.events(&h).await;
    h.base = c.base.clone();
    let created = h.login("alice").await;
    let id = created["id"].as_str().expect("id").to_owned();
    let (name, jws) = events
        .next_event(Duration::from_secs(5))
        .await
        .expect("B's stream gets the challenge created on C");
    assert_eq!(name, "challenge");
    let challenge = device.verify(&jws);
    assert_eq!(challenge.session_id, id);

    // Long-poll on A, answer through B: A wakes at once (a 25 s wait, not its deadline).
    let poll = long_poll(&h, &a, &id);
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.base = b.base.clone();
    let answered = Instant::now();
    let pick = right_option(&challenge, &code_of(&created));
    let (status, body) = device
        .answer(&h, &challenge, Decision::Approve, Some(&pick), None)
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("accepted")),
        "{body}"
    );
    let (status, view) = poll.await.expect("task").expect("long-poll on A");
    assert_eq!(
        (status, view["status"].as_str()),
        (StatusCode::OK, Some("accepted")),
        "{view}"
    );
    assert!(
        answered.elapsed() < Duration::from_secs(5),
        "{:?}",
        answered.elapsed()
    );
    let (name, data) = events
        .next_event(Duration::from_secs(5))
        .await
        .expect("B's stream hears the decision");
    assert_eq!(name, "decided");
    assert!(data.contains(&id) && data.contains("accepted"), "{data}");

    // SIGKILL the instance holding a long-poll mid-login: the site retries on another and
    // sees the one decision.
    h.base = a.clone();
    let second = h.login("alice").await;
    let id2 = second["id"].as_str().expect("id").to_owned();
    let (_, jws2) = events
        .next_event(Duration::from_secs(5))
        .await
        .expect("B's stream gets the challenge created on A");
    let challenge2 = device.verify(&jws2);
    assert_eq!(challenge2.session_id, id2);
    let on_c = long_poll(&h, &c.base, &id2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.kill();
    assert!(
        on_c.await.expect("task").is_err(),
        "the long-poll on the killed instance fails"
    );
    let retry = long_poll(&h, &a, &id2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.base = b.base.clone();
    let pick = right_option(&challenge2, &code_of(&second));
    let (status, body) = device
        .answer(&h, &challenge2, Decision::Approve, Some(&pick), None)
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("accepted")),
        "{body}"
    );
    let (status, view) = retry.await.expect("task").expect("retried long-poll on A");
    assert_eq!(
        (status, view["status"].as_str()),
        (StatusCode::OK, Some("accepted")),
        "{view}"
    );
    // One decision, whichever instance is asked; a second answer decides nothing.
    let (_, on_b) = h.get_session(&id2, None).await;
    assert_eq!(on_b["decided_at"], view["decided_at"]);
    assert_eq!(on_b["status"], "accepted");
    let (status, body) = device
        .answer(
            &h,
            &challenge2,
            Decision::Deny,
            None,
            Some(DenyReason::NotMe),
        )
        .await;
    assert_error(status, &body, 409, "already_decided");
    h.base = a.clone();
    let (_, on_a) = h.get_session(&id2, None).await;
    assert_eq!(
        (on_a["status"].as_str(), &on_a["decided_at"]),
        (Some("accepted"), &view["decided_at"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_request_proofs_and_pairing_limits_hold_across_instances() {
    if tapprove_test_support::postgres::admin_url().is_none() {
        eprintln!("skipped: set {URL_ENV} (cargo xtask test postgres) to run it");
        return;
    }
    let mut h = Harness::start_with(|c| c.limits.pairings_per_minute_per_ip = 2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let a = h.base.clone();
    let b = Instance::start(&h.config, dir.path(), "b").await;
    let device = h.pair("alice").await;
    // A proof used on A is refused on B.
    let auth = device.proof("GET", "/v1/device/pending", b"");
    for (base, expect) in [(&a, 200), (&b.base, 401)] {
        let r = h
            .http
            .get(format!("{base}/v1/device/pending"))
            .header("authorization", &auth)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), expect, "{base}");
    }
    // Two pairings per minute per IP, counted over both instances: the first was on A.
    h.base = b.base.clone();
    let second = SoftwareDevice::new(&h.project.sdk_key);
    let (status, body) = second.pair(&h, "bob", PAIRING_CODE).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let third = SoftwareDevice::new(&h.project.sdk_key);
    h.base = a;
    let (status, body) = third.pair(&h, "carol", PAIRING_CODE).await;
    assert_error(status, &body, 429, "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_rotation_reaches_every_instance_at_once_through_notify() {
    if tapprove_test_support::postgres::admin_url().is_none() {
        eprintln!("skipped: set {URL_ENV} (cargo xtask test postgres) to run it");
        return;
    }
    let mut h = Harness::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let a = h.base.clone();
    let b = Instance::start(&h.config, dir.path(), "b").await;
    let mut device = h.pair("alice").await;
    let old = device.pairing.as_ref().expect("paired").service_key.clone();
    h.base = b.base.clone();
    let mut events = device.events(&h).await;

    let rotated = Instant::now();
    let r = tapprove_server::admin::rotate_service_key(
        &h.config.database_url,
        h.config.seal_key.as_ref().expect("seal key"),
        Duration::from_secs(3600),
    )
    .await
    .expect("rotate");
    // Well under the 5 s cache: the NOTIFY made B re-read the keys.
    let (name, token) = events
        .next_event(Duration::from_secs(3))
        .await
        .expect("B's stream announces the rotation within 3 s");
    assert_eq!(name, "key_update");
    assert!(rotated.elapsed() < Duration::from_secs(3));
    let update = tapprove_protocol::KeyUpdate::verify(&token, &old, now(), 60).expect("valid");
    assert_eq!(update.new_key.to_base64url(), r.public_key);
    device.pairing.as_mut().expect("paired").service_key = update.new_key;
    // A (this process) signs with the new key too, without waiting for its 5 s cache.
    h.base = a;
    while h
        .service
        .as_ref()
        .expect("running")
        .service_public_key()
        .key_id()
        != r.kid
    {
        assert!(
            rotated.elapsed() < Duration::from_secs(3),
            "A did not re-read the keys on the NOTIFY"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let created = h.login("alice").await;
    let (name, jws) = events
        .next_event(Duration::from_secs(5))
        .await
        .expect("B's stream gets the challenge created on A");
    assert_eq!(name, "challenge");
    let challenge = device.verify(&jws);
    assert_eq!(Some(challenge.session_id.as_str()), created["id"].as_str());
    drop(b);
}
