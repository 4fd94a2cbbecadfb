//! The setup the push end-to-end tests share: a real `tapprove serve` pushing to the loopback
//! APNs and FCM of push/tests/support (their PKI, provider key and service account), a project
//! whose trust webhook is a fake relying party accepting [`CODE`], and the site's RP client.

use serde_json::Value;
use tapprove_core::{Authenticator, Decision, SessionStatus};
use tapprove_protocol::{Es256Signer as _, SoftwareKey};

use super::common::{FakeRp, RpClient, TrustMode, rp_client};
use super::faults_support::{CODE, CONFIG, Service};
use super::push_support::{self, Files, MockApns, MockFcm, TestPki};

/// Everything one push test runs against. Fields drop in order: the service stops before the
/// loopback providers and the files it reads.
pub struct PushWorld {
    pub site: RpClient,
    /// The project's SDK key.
    pub sdk: String,
    _project: Value,
    _hook: FakeRp,
    pub service: Service,
    _files: Files,
    pub fcm: MockFcm,
    pub apns: MockApns,
    _pki: TestPki,
    _dir: tempfile::TempDir,
}

impl PushWorld {
    /// Starts it all; the service tries each push `max_attempts` times.
    pub async fn start(max_attempts: u32) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = TestPki::new();
        let apns_key = SoftwareKey::generate().expect("apns key");
        let apns = MockApns::start(&pki, apns_key.public_key(), true);
        let fcm = MockFcm::start(&pki);
        let files = Files::new(&pki, &apns_key, Some(&fcm.token_url));
        let service = Service::start_with(
            dir.path(),
            dir.path(),
            &[],
            &config_text(&files, &apns, &fcm, max_attempts),
        );
        let hook = FakeRp::start(TrustMode::Accept(CODE.into())).await;
        let project = service.create_project(&hook.trust_url()).await;
        hook.set_credentials_json(&project);
        let site = rp_client(&service.url, &project);
        let sdk = project["sdk_key"].as_str().expect("sdk").to_owned();
        Self {
            apns,
            fcm,
            service,
            _hook: hook,
            _project: project,
            site,
            sdk,
            _files: files,
            _pki: pki,
            _dir: dir,
        }
    }
}

/// The service's config file: fast retries, the loopback providers and their CA.
fn config_text(files: &Files, apns: &MockApns, fcm: &MockFcm, max_attempts: u32) -> String {
    format!(
        "{CONFIG}\n[push]\nca_file = {ca:?}\n\n[push.retry]\nmax_attempts = {max_attempts}\ninitial_backoff_ms = 20\nmax_backoff_ms = 100\nrequest_timeout_ms = 5000\n\n[push.apns]\nkey_path = {p8:?}\nkey_id = {kid:?}\nteam_id = {team:?}\ntopic = {topic:?}\nhost = {ah:?}\n\n[push.fcm]\nservice_account_path = {sa:?}\nhost = {fh:?}\n",
        ca = files.ca_file.display().to_string(),
        p8 = files.p8.display().to_string(),
        kid = push_support::KEY_ID,
        team = push_support::TEAM_ID,
        topic = push_support::TOPIC,
        ah = apns.url,
        sa = files.service_account.display().to_string(),
        fh = fcm.url,
    )
}

/// The phone approves `id` with the code the login page showed; the site then sees it
/// accepted.
pub async fn approve(phone: &Authenticator, site: &RpClient, id: &str, code: &str) {
    let done = phone
        .respond(
            id,
            Decision::Approve {
                presence_answer: Some(code.to_owned()),
            },
        )
        .await
        .expect("answer");
    assert_eq!(done.status, SessionStatus::Accepted);
    assert_eq!(
        site.outcome(id).await,
        ("accepted".into(), "approved".into())
    );
}
