//! Credential lifecycle over loopback HTTP: the relying party lists and revokes
//! devices, revocation ends sessions left without a device, pairing is retry-safe and stores
//! the site's canonical user name, and operators do the same with `admin`.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};
use tapprove_server::admin::{self, RevokeTarget};

impl Harness {
    async fn rp(&self, method: reqwest::Method, path: &str, api_key: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .request(method, self.url(path))
            .header("x-api-key", api_key)
            .send()
            .await
            .expect("send");
        status_json(r).await
    }

    async fn devices(&self, user: &str) -> Vec<Value> {
        let (status, body) = self
            .rp(
                reqwest::Method::GET,
                &format!("/v1/users/{user}/devices"),
                self.api_key(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["devices"].as_array().expect("devices").clone()
    }

    async fn revoke_device(&self, id: &str) -> (StatusCode, Value) {
        self.rp(
            reqwest::Method::DELETE,
            &format!("/v1/devices/{id}"),
            self.api_key(),
        )
        .await
    }

    async fn revoke_user(&self, user: &str) -> (StatusCode, Value) {
        self.rp(
            reqwest::Method::DELETE,
            &format!("/v1/users/{user}/devices"),
            self.api_key(),
        )
        .await
    }

    async fn other_project(&self) -> tapprove_server::ProjectCredentials {
        admin::create_project(
            &self.config.database_url,
            self.config.seal_key.as_ref().expect("seal key"),
            "Other Shop",
            &self.rp.trust_url(),
        )
        .await
        .expect("project")
    }
}

#[tokio::test]
async fn the_site_lists_a_users_devices_with_what_they_reported() {
    let h = Harness::start().await;
    assert!(h.devices("alice").await.is_empty());
    let before = now();
    let first = h.pair("alice").await;
    let mut second = SoftwareDevice::new(&h.project.sdk_key);
    second.key_protection = Some("hardware");
    second.push = Some(json!({"platform": "fcm", "token": "fcm-token-1"}));
    let (status, body) = second.pair(&h, "alice", PAIRING_CODE).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let second = second.with_pairing(serde_json::from_value(body).expect("pairing"));
    h.pair("bob").await;

    let devices = h.devices("alice").await;
    assert_eq!(devices.len(), 2, "{devices:?}");
    assert_eq!(devices[0]["id"], first.account_id());
    assert_eq!(devices[0]["name"], "test device");
    assert_eq!(devices[0]["platform"], "none");
    assert_eq!(devices[0]["key_protection"], "unknown");
    assert_eq!(devices[0]["last_used_at"], Value::Null);
    assert!(devices[0]["created_at"].as_i64().expect("created_at") >= before);
    assert_eq!(devices[1]["id"], second.account_id());
    assert_eq!(devices[1]["platform"], "fcm");
    assert_eq!(devices[1]["key_protection"], "hardware");
    // An authenticated call is the device's last use.
    first.pending(&h).await;
    let devices = h.devices("alice").await;
    let used = devices[0]["last_used_at"].as_i64().expect("last_used_at");
    assert!((used - now()).abs() <= 2);

    // Another project sees none of them, and cannot revoke them.
    let other = h.other_project().await;
    let (status, body) = h
        .rp(
            reqwest::Method::GET,
            "/v1/users/alice/devices",
            other.api_key.expose(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"devices": []}));
    let (status, body) = h
        .rp(
            reqwest::Method::DELETE,
            &format!("/v1/devices/{}", first.account_id()),
            other.api_key.expose(),
        )
        .await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = h.revoke_device("acc_does_not_exist").await;
    assert_error(status, &body, 404, "not_found");
    assert_eq!(h.devices("alice").await.len(), 2, "nothing was revoked");
    // Without an API key: 401.
    let (status, body) = h
        .rp(reqwest::Method::DELETE, "/v1/users/alice/devices", "")
        .await;
    assert_error(status, &body, 401, "unauthorized");
}

#[tokio::test]
async fn revoking_the_last_device_ends_the_session_and_wakes_its_long_poll_at_once() {
    let h = Harness::start().await;
    let phone = h.pair("alice").await;
    let tablet = h.pair("alice").await;
    let session = h.login("alice").await;
    let id = session["id"].as_str().expect("id").to_owned();

    // One of two devices revoked: the session still waits for the other.
    let (status, _) = h.revoke_device(tablet.account_id()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, view) = h.get_session(&id, None).await;
    assert_eq!(view["status"], "sent", "{view}");
    let devices = h.devices("alice").await;
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["id"], phone.account_id());

    // A long-poll waiting when the last one goes is answered at once.
    let poll = {
        let http = h.http.clone();
        let url = h.url(&format!("/v1/push/sessions/{id}?wait=25"));
        let key = h.api_key().to_owned();
        tokio::spawn(async move {
            let started = Instant::now();
            let r = http
                .get(url)
                .header("x-api-key", key)
                .send()
                .await
                .expect("send");
            (status_json(r).await, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = h.revoke_user("alice").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let ((status, view), waited) = poll.await.expect("poll");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "canceled", "{view}");
    assert_eq!(view["reason"], "device_revoked", "{view}");
    assert!(waited < Duration::from_secs(5), "woke after {waited:?}");
    let (_, view) = h.get_session(&id, None).await;
    assert_eq!(view["reason"], "device_revoked", "stored: {view}");

    // Idempotent, and the user now has no device.
    for _ in 0..2 {
        assert_eq!(h.revoke_user("alice").await.0, StatusCode::NO_CONTENT);
        assert_eq!(
            h.revoke_device(phone.account_id()).await.0,
            StatusCode::NO_CONTENT
        );
    }
    assert!(h.devices("alice").await.is_empty());
    let (status, body) = h
        .create_session(json!({"user": "alice", "notification": {"title": "t", "body": "b"}}))
        .await;
    assert_error(status, &body, 422, "no_device");
}

#[tokio::test]
async fn a_revoked_device_is_refused_and_its_event_stream_ends() {
    let h = Harness::start().await;
    let phone = h.pair("alice").await;
    let mut events = phone.events(&h).await;
    let (status, _) = h.revoke_device(phone.account_id()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The stream ends instead of staying open.
    assert_eq!(
        events.ends_within(Duration::from_secs(5)).await,
        Ok(true),
        "the revoked device's event stream stays open"
    );
    // Its next calls get the typed `revoked` error with the time, not a generic 401.
    let (status, body) = phone.call(&h, "GET", "/v1/device/pending", None).await;
    let msg = assert_error(status, &body, 403, "revoked");
    assert!(msg.contains("removed"), "{msg}");
    let at = body["error"]["revoked_at"].as_i64().expect("revoked_at");
    assert!((at - now()).abs() <= 2, "{body}");
    let (status, body) = phone
        .call(
            &h,
            "PUT",
            "/v1/device/push-token",
            Some(json!({"platform": "fcm", "token": "t"})),
        )
        .await;
    assert_error(status, &body, 403, "revoked");
    assert_eq!(body["error"]["revoked_at"], at);
    // A proof signed by another key for this account still learns nothing.
    let mut stranger = SoftwareDevice::new(&h.project.sdk_key);
    stranger.pairing = phone.pairing.clone();
    let (status, body) = stranger.call(&h, "GET", "/v1/device/pending", None).await;
    assert_error(status, &body, 401, "unauthorized");
    // A device that unpaired itself is still `not_paired`.
    let other = h.pair("bob").await;
    assert_eq!(
        other.call(&h, "DELETE", "/v1/device", None).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = other.call(&h, "GET", "/v1/device/pending", None).await;
    assert_error(status, &body, 401, "not_paired");
}

#[tokio::test]
async fn a_revoked_devices_answer_gets_the_revoked_error() {
    let h = Harness::start().await;
    let phone = h.pair("alice").await;
    let tablet = h.pair("alice").await;
    let session = h.login("alice").await;
    let id = session["id"].as_str().expect("id");
    let challenge = tablet.challenge_for(&h, id).await;
    assert_eq!(
        h.revoke_device(tablet.account_id()).await.0,
        StatusCode::NO_CONTENT
    );
    let code = session["presence_code"].as_str().expect("code");
    let option = right_option(&challenge, code);
    let token = tablet.sign_answer(
        &challenge,
        tapprove_protocol::Decision::Approve,
        Some(&option),
        None,
    );
    let (status, body) = tablet.send_answer(&h, &token).await;
    assert_error(status, &body, 403, "revoked");
    let (_, view) = h.get_session(id, None).await;
    assert_eq!(view["status"], "sent", "the phone can still answer: {view}");
    assert_eq!(h.devices("alice").await[0]["id"], phone.account_id());
}

#[tokio::test]
async fn lost_phone_revoke_all_then_pair_anew_with_the_same_webhook() {
    let h = Harness::start().await;
    let old = h.pair("alice").await;
    // A pairing code for a user who already has a device works: the new phone.
    let new_phone = h.pair("alice").await;
    assert_ne!(old.account_id(), new_phone.account_id());
    assert_eq!(h.devices("alice").await.len(), 2);
    // Lost: revoke all, then pair again.
    assert_eq!(h.revoke_user("alice").await.0, StatusCode::NO_CONTENT);
    assert!(h.devices("alice").await.is_empty());
    let replacement = h.pair("alice").await;
    let devices = h.devices("alice").await;
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["id"], replacement.account_id());
    let session = h.login("alice").await;
    assert_eq!(replacement.pending(&h).await[0].1.session_id, session["id"]);
    assert_eq!(h.rp.calls().len(), 3, "each pairing asked the site");
}

#[tokio::test]
async fn a_repeated_pairing_returns_the_same_account_and_a_reused_key_is_refused() {
    let h = Harness::start().await;
    let device = SoftwareDevice::new(&h.project.sdk_key);
    let (status, first) = device.pair(&h, "alice", PAIRING_CODE).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    // The answer was lost; the device sends the same request again.
    let (status, again) = device.pair(&h, "alice", PAIRING_CODE).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["account_id"], first["account_id"]);
    assert_eq!(again["user"], "alice");
    assert_eq!(h.rp.calls().len(), 1, "the site was asked once");
    assert_eq!(h.devices("alice").await.len(), 1, "no second account");
    // The same key with another code is not a repeat: one key, one account.
    let (status, body) = device.pair(&h, "alice", "OTHER-CODE").await;
    let msg = assert_error(status, &body, 409, "invalid_request");
    assert!(msg.contains("new device key"), "{msg}");
    assert_eq!(h.devices("alice").await.len(), 1);
    // Once revoked, the key is no longer paired; a repeat does not resurrect it.
    assert_eq!(
        h.revoke_device(first["account_id"].as_str().expect("id"))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = device.pair(&h, "alice", PAIRING_CODE).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_ne!(body["account_id"], first["account_id"]);
}

#[tokio::test]
async fn the_sites_canonical_user_name_is_stored() {
    let h = Harness::start().await;
    h.rp.set_mode(TrustMode::Canonical(PAIRING_CODE.into()));
    let device = h.pair("Alice").await;
    assert_eq!(device.pairing.as_ref().expect("paired").user, "alice");
    assert_eq!(h.devices("alice").await.len(), 1);
    assert!(h.devices("Alice").await.is_empty());
    let session = h.login("alice").await;
    assert_eq!(device.pending(&h).await[0].1.session_id, session["id"]);
    // A bare 200 keeps the name the device sent.
    h.rp.set_mode(TrustMode::default());
    let bob = h.pair("Bob").await;
    assert_eq!(bob.pairing.as_ref().expect("paired").user, "Bob");
}

#[tokio::test]
async fn operators_list_and_revoke_devices() {
    let h = Harness::start().await;
    let url = &h.config.database_url;
    let project = &h.project.project_id;
    let phone = h.pair("alice").await;
    let tablet = h.pair("alice").await;
    h.pair("bob").await;
    let session = h.login("alice").await;

    let all = admin::list_devices(url, project, None).await.expect("list");
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].user, "alice");
    assert_eq!(all[2].user, "bob");
    let alice = admin::list_devices(url, project, Some("alice"))
        .await
        .expect("list");
    assert_eq!(alice.len(), 2);
    assert_eq!(alice[0].device.id, phone.account_id());
    let json = serde_json::to_value(&alice[0]).expect("json");
    assert_eq!(json["user"], "alice");
    assert_eq!(json["id"], phone.account_id());

    let e = admin::list_devices(url, "prj_nope", None)
        .await
        .expect_err("unknown project");
    assert!(e.to_string().contains("prj_nope"), "{e}");
    let e = admin::revoke_devices(url, project, RevokeTarget::Device("acc_nope".into()))
        .await
        .expect_err("unknown device");
    assert!(e.to_string().contains("admin device list"), "{e}");

    let one = admin::revoke_devices(
        url,
        project,
        RevokeTarget::Device(tablet.account_id().into()),
    )
    .await
    .expect("revoke");
    assert_eq!(one.revoked, vec![tablet.account_id().to_owned()]);
    assert_eq!(one.sessions_ended, 0, "the phone is still paired");
    let all = admin::revoke_devices(url, project, RevokeTarget::User("alice".into()))
        .await
        .expect("revoke");
    assert_eq!(all.revoked, vec![phone.account_id().to_owned()]);
    assert_eq!(all.sessions_ended, 1);
    let (_, view) = h
        .get_session(session["id"].as_str().expect("id"), None)
        .await;
    assert_eq!(view["status"], "canceled");
    assert_eq!(view["reason"], "device_revoked");
    let again = admin::revoke_devices(url, project, RevokeTarget::User("alice".into()))
        .await
        .expect("idempotent");
    assert!(again.revoked.is_empty());
    assert!(h.devices("alice").await.is_empty());
    assert_eq!(h.devices("bob").await.len(), 1);
}

#[tokio::test]
async fn api_keys_rotate_with_a_grace_period_and_a_leaked_one_stops_at_once() {
    let h = Harness::start().await;
    h.pair("alice").await;
    let url = &h.config.database_url;
    let project = &h.project.project_id;
    let works = |key: String| {
        let h = &h;
        async move {
            h.rp(reqwest::Method::GET, "/v1/users/alice/devices", &key)
                .await
                .0
        }
    };
    let first = h.api_key().to_owned();

    let second = admin::rotate_api_key(url, project, Duration::from_secs(86_400))
        .await
        .expect("rotate");
    let retires = second.old_key_retires_at.expect("the first key retires");
    assert!((retires - now() - 86_400).abs() <= 2);
    let second = second.api_key.expose().to_owned();
    assert_ne!(second, first);
    assert_eq!(
        works(first.clone()).await,
        StatusCode::OK,
        "old key in grace"
    );
    assert_eq!(works(second.clone()).await, StatusCode::OK, "new key");

    // Rotating again: at most two keys work, so the first stops now.
    let third = admin::rotate_api_key(url, project, Duration::from_secs(1))
        .await
        .expect("rotate");
    let third = third.api_key.expose().to_owned();
    assert_eq!(works(first.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        works(second.clone()).await,
        StatusCode::OK,
        "one second left"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = h
        .rp(reqwest::Method::GET, "/v1/users/alice/devices", &second)
        .await;
    let msg = assert_error(status, &body, 401, "unauthorized");
    assert!(msg.contains("rotated"), "{msg}");
    assert_eq!(works(third.clone()).await, StatusCode::OK);

    // A leak: zero grace, the old key stops at once.
    let fourth = admin::rotate_api_key(url, project, Duration::ZERO)
        .await
        .expect("revoke");
    assert_eq!(works(third).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        works(fourth.api_key.expose().to_owned()).await,
        StatusCode::OK
    );
    let e = admin::rotate_api_key(url, project, Duration::from_secs(31 * 86_400))
        .await
        .expect_err("too long");
    assert!(e.to_string().contains("30 days"), "{e}");
    let e = admin::rotate_api_key(url, "prj_nope", Duration::ZERO)
        .await
        .expect_err("unknown");
    assert!(e.to_string().contains("prj_nope"), "{e}");
}
