//! The PostgreSQL row of the fault table (docs/SECURITY.md): the database server stopped and
//! started again in the middle of a login, under a real `tapprove serve` on loopback with the
//! real `tapprove device` and `tapprove admin`.
//!
//! It needs a PostgreSQL cluster it may stop: `cargo xtask test postgres` starts a throwaway
//! one and sets `TAPPROVE_TEST_POSTGRES_URL` (its admin URL) and `TAPPROVE_TEST_POSTGRES_CTL`
//! (a script running its `pg_ctl` with the data directory, as the right user). Without them
//! the test says so and checks nothing.

mod common;
mod faults_support;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{FakeRp, TrustMode, failed_line, fixture, ok_json, rp_client};
use faults_support::*;
use serde_json::json;
use sqlx::Connection as _;
use tapprove_test_support::postgres::{self as test_db, URL_ENV};

const CTL_ENV: &str = "TAPPROVE_TEST_POSTGRES_CTL";

/// The cluster of `cargo xtask test postgres`, stoppable.
struct Cluster {
    admin_url: String,
    ctl: String,
}

impl Cluster {
    fn from_env() -> Option<Self> {
        Some(Self {
            admin_url: test_db::admin_url()?,
            ctl: std::env::var(CTL_ENV).ok()?,
        })
    }

    /// `pg_ctl ARGS` on the cluster; panics unless it succeeds.
    fn pg_ctl(&self, args: &[&str]) {
        let o = Command::new(&self.ctl)
            .args(args)
            .output()
            .expect("run the cluster's pg_ctl");
        assert!(
            o.status.success(),
            "pg_ctl {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// A crash of the database server: no shutdown checkpoint, every connection cut.
    fn crash(&self) {
        self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
    }

    fn start(&self) {
        self.pg_ctl(&["start", "-w"]);
    }

    /// A new empty database on the cluster whose commits survive a crash; its URL.
    async fn fresh_database(&self) -> String {
        let url = test_db::fresh_database(&self.admin_url).await;
        let name = url::Url::parse(&url).expect("URL").path()[1..].to_owned();
        let mut admin = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .expect("connect to the test cluster");
        // The throwaway cluster turns `synchronous_commit` off for speed: a crash would then
        // lose the last commits, which a real server (on, its default) keeps.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {name} SET synchronous_commit = on"
        )))
        .execute(&mut admin)
        .await
        .expect("durable commits");
        let _ = admin.close().await;
        url
    }
}

/// `SELECT COUNT(*)` on PostgreSQL with `$1` bound to `arg`.
async fn pg_count(db: &str, sql: &'static str, arg: &str) -> i64 {
    let mut c = sqlx::PgConnection::connect(db).await.expect("connect");
    let n: i64 = sqlx::query_scalar(sql)
        .bind(arg.to_owned())
        .fetch_one(&mut c)
        .await
        .expect("query");
    let _ = c.close().await;
    n
}

/// PostgreSQL crashes after the device got the login and before it answers, and comes back
/// while the service keeps running. While it is down the user's answer gets one line ("try
/// again later") and the site's view and a new login get `500 internal`; nothing is decided or
/// half-written. Once it is back — no operator, no service restart — the same answer decides
/// the login exactly once, a replay is refused, and the next login works.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarted_mid_login() {
    let Some(cluster) = Cluster::from_env() else {
        eprintln!(
            "postgres_restarted_mid_login: needs {URL_ENV} and {CTL_ENV} (run `cargo xtask test postgres`); not checked here"
        );
        return;
    };
    let db = cluster.fresh_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let service = Service::start_on(&db, dir.path(), &[], CONFIG);
    let hook = FakeRp::start(TrustMode::Accept(CODE.into())).await;
    let project = service.create_project(&hook.trust_url()).await;
    hook.set_credentials_json(&project);
    let site = rp_client(&service.url, &project);
    let device = common::Device::new(dir.path(), "phone");
    pair(&device, &service.url, &project, "alice").await;

    let session = site.login("alice", json!({})).await;
    let id = session["id"].as_str().expect("id").to_owned();
    let right = right_option(
        &device.request(&id).await,
        session["presence_code"].as_str().expect("code"),
    );

    cluster.crash();
    let line = failed_line(
        &device
            .run(&["respond", &id, "--choose", &right, "--json"])
            .await,
    );
    assert!(line.contains("try again later"), "{line}");
    let (status, body) = site.get_raw(&id, None).await;
    assert_eq!(
        (status.as_u16(), &body["error"]["code"]),
        (500, &json!("internal")),
        "{body}"
    );
    let (status, body) = site
        .create_raw(&fixture::create_session_body("alice"))
        .await;
    assert_eq!(
        (status.as_u16(), &body["error"]["code"]),
        (500, &json!("internal")),
        "{body}"
    );

    cluster.start();
    // The service's pool finds its connections dead and opens new ones; the site polls as it
    // would anyway, and sees the login still waiting for the user.
    let back = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = site.get_raw(&id, None).await;
        if status.as_u16() == 200 {
            assert_eq!(body["status"], json!("sent"), "{body}");
            break;
        }
        assert!(Instant::now() < back, "the service did not recover: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let v = ok_json(
        &device
            .run(&["respond", &id, "--choose", &right, "--json"])
            .await,
    );
    assert_eq!(v["status"], json!("accepted"));
    assert_eq!(
        site.outcome(&id).await,
        ("accepted".into(), "approved".into())
    );
    let line = failed_line(&device.run(&["respond", &id, "--choose", &right]).await);
    assert!(line.contains("answered elsewhere"), "{line}");
    assert_eq!(
        pg_count(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'session.decided' AND subject = $1",
            &id
        )
        .await,
        1,
        "exactly one decision"
    );
    // The login refused while the database was down left nothing behind: alice has the one
    // session, and the next login works.
    assert_eq!(
        pg_count(
            &db,
            "SELECT COUNT(*) FROM sessions WHERE user_name = $1",
            "alice"
        )
        .await,
        1
    );
    let next = site.login("alice", json!({})).await;
    let next_id = next["id"].as_str().expect("id");
    let right = right_option(
        &device.request(next_id).await,
        next["presence_code"].as_str().expect("code"),
    );
    let v = ok_json(
        &device
            .run(&["respond", next_id, "--choose", &right, "--json"])
            .await,
    );
    assert_eq!(v["status"], json!("accepted"));
}
