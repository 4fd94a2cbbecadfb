//! The harness against the real service (in-process, loopback, temp SQLite): the fake relying
//! party's webhook accepts a pairing, the RP client starts a login, the software device answers
//! it, and the decision reaches both the long-poll and the event stream.

#![allow(missing_docs)]

use std::time::Duration;

use serde_json::json;
use tapprove_protocol::Decision;
use tapprove_server::{SealKey, Service, ServiceConfig, admin};
use tapprove_test_support::device::{SoftwareDevice, right_option};
use tapprove_test_support::endpoint::Endpoint;
use tapprove_test_support::fixture;
use tapprove_test_support::rp::{FakeRp, RpClient, TrustMode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_login_and_answer_against_the_real_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seal = SealKey::generate().expect("seal key");
    let config = ServiceConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        database_url: format!("sqlite://{}/t.db?mode=rwc", dir.path().display()),
        seal_key: Some(seal.clone()),
        ..ServiceConfig::default()
    };
    let service = Service::start(config.clone()).await.expect("service");
    let at = Endpoint::new(&format!("http://{}", service.local_addr()));
    let rp = FakeRp::start(TrustMode::default()).await;
    let project = admin::create_project(
        &config.database_url,
        &seal,
        fixture::PROJECT_NAME,
        &rp.trust_url(),
    )
    .await
    .expect("project");
    rp.set_credentials(
        &project.webhook_username,
        project.webhook_password.expose(),
        project.webhook_secret.expose(),
    );

    let device = SoftwareDevice::new(&project.sdk_key);
    let (status, body) = device.pair(&at, fixture::USER, "0000-0000").await;
    assert_eq!(status.as_u16(), 403, "a wrong code is refused: {body}");
    let (status, body) = device.pair(&at, fixture::USER, fixture::PAIRING_CODE).await;
    assert_eq!(status.as_u16(), 201, "{body}");
    let device = device.with_pairing(serde_json::from_value(body).expect("pairing"));
    let calls = rp.calls();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.authentic()), "{calls:?}");
    assert_eq!(calls[1].body["challenge"], json!(fixture::PAIRING_CODE));

    let mut events = device.events(&at).await;
    let client = RpClient::at(at.clone(), project.api_key.expose());
    let created = client.login(fixture::USER, json!({})).await;
    let id = created["id"].as_str().expect("id");
    let code = created["presence_code"].as_str().expect("code");
    let (name, _) = events
        .next_event(Duration::from_secs(10))
        .await
        .expect("challenge event");
    assert_eq!(name, "challenge");
    let c = device.challenge_for(&at, id).await;
    assert_eq!(c.title, fixture::title());
    let pick = right_option(&c, code);
    let (status, body) = device
        .answer(&at, &c, Decision::Approve, Some(&pick), None)
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    assert_eq!(client.get(id, Some(5)).await["status"], json!("accepted"));
    service.shutdown().await.expect("shutdown");
}
