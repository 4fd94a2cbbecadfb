//! The server's test harness: a real service (`Service::start`) on a loopback port with a
//! fresh database (a temp SQLite file, or PostgreSQL under `cargo xtask test postgres`), a
//! project whose trust webhook is test-support's fake relying party, and the relying party's
//! calls. The fake site, the software device and the event-stream reader are test-support's.

#![allow(dead_code)]

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tapprove_server::{ProjectCredentials, SealKey, Service, ServiceConfig, admin};
// Each test file uses a part of what test-support offers.
#[allow(unused_imports)]
pub use tapprove_test_support::{
    device::{SoftwareDevice, SseReader, rand_suffix, right_option, wrong_option},
    endpoint::{ServiceEndpoint, http_client, status_json},
    fixture::PAIRING_CODE,
    now,
    rp::{FakeRp, RpClient, TrustMode, WebhookCall},
};

/// A service plus everything to drive it.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub config: ServiceConfig,
    pub service: Option<tapprove_server::RunningService>,
    pub base: String,
    pub rp: FakeRp,
    pub project: ProjectCredentials,
    pub http: reqwest::Client,
}

/// A fresh, empty database for one test: an SQLite file in `dir`, or a new database on the
/// PostgreSQL server named by `TAPPROVE_TEST_POSTGRES_URL` (test-support's `postgres`).
pub async fn test_database_url(dir: &std::path::Path) -> String {
    tapprove_test_support::postgres::database_url(dir, "tapprove.db").await
}

pub async fn test_config(dir: &std::path::Path) -> ServiceConfig {
    ServiceConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        database_url: test_database_url(dir).await,
        seal_key: Some(SealKey::generate().expect("seal key")),
        webhook_timeout: Duration::from_millis(700),
        sweep_interval: Duration::from_millis(200),
        ..ServiceConfig::default()
    }
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut ServiceConfig)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(dir.path()).await;
        tweak(&mut config);
        let service = Service::start(config.clone())
            .await
            .expect("service starts");
        Self::finish(dir, config, service).await
    }

    pub async fn finish(
        dir: tempfile::TempDir,
        config: ServiceConfig,
        service: tapprove_server::RunningService,
    ) -> Self {
        let base = format!("http://{}", service.local_addr());
        let rp = FakeRp::start(TrustMode::default()).await;
        let project = admin::create_project(
            &config.database_url,
            config.seal_key.as_ref().expect("seal key"),
            "Demo Bank",
            &rp.trust_url(),
        )
        .await
        .expect("project");
        set_site_credentials(&rp, &project);
        Self {
            dir,
            config,
            service: Some(service),
            base,
            rp,
            project,
            http: http_client(),
        }
    }

    /// Stops and starts the service on the same database and seal key (new port).
    pub async fn restart(&mut self) {
        if let Some(s) = self.service.take() {
            s.shutdown().await.expect("shutdown");
        }
        let s = Service::start(self.config.clone()).await.expect("restart");
        self.base = format!("http://{}", s.local_addr());
        self.service = Some(s);
    }

    pub fn api_key(&self) -> &str {
        self.project.api_key.expose()
    }

    /// The relying party's client of the service as it runs now (its port changes on restart).
    pub fn rp_client(&self) -> RpClient {
        RpClient::with_http(self.http.clone(), &self.base, self.api_key())
    }

    /// Creates a session as the relying party; returns (status, body).
    pub async fn create_session(&self, body: Value) -> (StatusCode, Value) {
        self.rp_client().create_raw(&body).await
    }

    /// Starts the Demo Bank login for `user` (test-support's fixture); panics unless `201`.
    pub async fn login(&self, user: &str) -> Value {
        self.rp_client().login(user, json!({})).await
    }

    /// Lifts the user's lock (after "not me") as the relying party; returns the status.
    pub async fn lift_lock(&self, user: &str) -> StatusCode {
        self.rp_client().lift_lock_raw(user).await
    }

    pub async fn get_session(&self, id: &str, wait: Option<u32>) -> (StatusCode, Value) {
        self.rp_client().get_raw(id, wait).await
    }

    /// A new device paired as `user` (the fake site accepts [`PAIRING_CODE`]).
    pub async fn pair(&self, user: &str) -> SoftwareDevice {
        let device = SoftwareDevice::new(&self.project.sdk_key);
        let (status, body) = device.pair(self, user, PAIRING_CODE).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        device.with_pairing(serde_json::from_value(body).expect("pair response"))
    }
}

/// The devices and the relying-party client reach the service where it runs now.
impl ServiceEndpoint for Harness {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// Gives the fake site `project`'s webhook credentials (what a site does with the output of
/// `tapprove admin project create`).
pub fn set_site_credentials(rp: &FakeRp, project: &ProjectCredentials) {
    rp.set_credentials(
        &project.webhook_username,
        project.webhook_password.expose(),
        project.webhook_secret.expose(),
    );
}

/// Asserts the §10 error shape and returns the message.
pub fn assert_error(status: StatusCode, body: &Value, expect_status: u16, code: &str) -> String {
    assert_eq!(status.as_u16(), expect_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(
        message.len() > 10,
        "message should be a sentence: {message}"
    );
    message
}
