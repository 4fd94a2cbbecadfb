//! Private push payloads (docs/PROTOCOL.md §11 "Sealed payloads"): the real
//! `tapprove serve` pushes to the loopback APNs and FCM of push/tests/support, which record each
//! request body exactly as Apple or Google would receive it. A phone paired through the core
//! (which sends a push key) gets a payload with no user name, IP, place, browser, app name or
//! title in it, opens it offline and approves; a device paired without a push key (an older
//! app) still gets the readable payload.

mod common;
mod faults_support;
#[path = "../../push/tests/support/mod.rs"]
mod push_support;
mod push_world;

use std::sync::Arc;
use std::time::Duration;

use faults_support::*;
use push_support::{MockApns, MockFcm, apns_token, fcm_token};
use push_world::PushWorld;
use serde_json::{Value, json};
use tapprove_core::{
    Authenticator, Config, CoreError, MemoryStore, PushEnvironment, PushPlatform, PushRegistration,
    SoftwareSigner,
};
use tapprove_protocol::sealed::PushSecretKey;
use tapprove_test_support::device::SoftwareDevice;
use tapprove_test_support::endpoint::Endpoint;
use tapprove_test_support::rp::RpClient;

/// What the site knows about the login: none of it may reach the push provider.
const TITLE: &str = "Log in to Sealed Bank?";
const BODY: &str = "Someone is signing in to Sealed Bank.";
const APP: &str = "Sealed Bank web";
const IP: &str = "198.51.100.77";
const PLACE: &str = "Montevideo, UY";
const BROWSER: &str = "Mozilla/5.0 (SealedTestBrowser 9.9)";

/// A login with every context field filled in; the session as the site sees it.
async fn login(site: &RpClient, user: &str) -> Value {
    let (status, v) = site
        .create_raw(
            &json!({"user": user, "notification": {"title": TITLE, "body": BODY},
            "context": {"app": APP, "ip": IP, "location": PLACE, "user_agent": BROWSER}}),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "create session: {v}");
    v
}

/// Waits for the provider to have received one push for `token`: (raw body, what the app
/// hands the core — the APNs `userInfo` or the FCM data map).
async fn received(
    apns: &MockApns,
    fcm: &MockFcm,
    platform: PushPlatform,
    token: &str,
) -> (Vec<u8>, String) {
    for _ in 0..100 {
        let found = match platform {
            PushPlatform::Apns => apns
                .records()
                .into_iter()
                .rev()
                .find(|r| r.token == token)
                .map(|r| {
                    // The headers too: Apple sees them (`apns-collapse-id`, for one).
                    let mut raw = r.raw.to_vec();
                    for (name, value) in &r.headers {
                        raw.extend_from_slice(format!("\n{name}: {value}").as_bytes());
                    }
                    (raw, r.payload.to_string())
                }),
            _ => fcm
                .records()
                .into_iter()
                .rev()
                .find(|r| r.body["message"]["token"] == token)
                .map(|r| (r.raw.to_vec(), r.body["message"]["data"].to_string())),
        };
        if let Some(found) = found {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no push arrived for {token}");
}

fn phone(url: &str, sdk: &str) -> Authenticator {
    let store = Arc::new(MemoryStore::new());
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    Authenticator::new(Config::new(url, sdk).expect("config"), store, signer)
        .expect("authenticator")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_push_provider_sees_no_login_details_and_the_phone_still_approves_offline() {
    let world = PushWorld::start(2).await;
    let PushWorld {
        apns,
        fcm,
        service,
        site,
        sdk,
        ..
    } = &world;

    for (n, platform) in [(1u8, PushPlatform::Apns), (2, PushPlatform::Fcm)] {
        let user = format!("sealed-user-{n}");
        let token = match platform {
            PushPlatform::Apns => apns_token(n),
            _ => fcm_token(n),
        };
        let auth = phone(&service.url, sdk);
        let account = auth
            .pair(
                &user,
                CODE,
                Some(PushRegistration {
                    platform,
                    token: token.clone(),
                    environment: (platform == PushPlatform::Apns)
                        .then_some(PushEnvironment::Production),
                }),
            )
            .await
            .expect("pair");
        let session = login(site, &user).await;
        let id = session["id"].as_str().expect("id");
        let (raw, payload) = received(apns, fcm, platform, &token).await;

        // What Apple / Google receive: nothing about the login.
        let text = String::from_utf8(raw).expect("utf8");
        for secret in [
            user.as_str(),
            id,
            TITLE,
            BODY,
            APP,
            IP,
            PLACE,
            BROWSER,
            "Sealed",
            "198.51",
            "Montevideo",
            "Mozilla",
        ] {
            assert!(
                !text.contains(secret),
                "{platform:?}: {secret:?} reached the provider: {text}"
            );
        }
        // Not even the challenge JWS (whose payload is base64url of the same details). Every JWS
        // header Tapprove signs opens with `{"alg"`, base64url `eyJhbGci`; the sealed value is
        // random base64url too, so a shorter probe (`eyJ` alone) matches it about once in 150 runs.
        assert!(
            !text.contains("eyJhbGci"),
            "{platform:?}: a readable JWS reached the provider: {text}"
        );
        let data: Value = serde_json::from_str(&payload).expect("json");
        assert_eq!(data["account"], account.id.as_str(), "{platform:?}");
        assert!(data["tapprove_sealed"].is_string(), "{platform:?}: {data}");
        assert!(data.get("tapprove").is_none(), "{platform:?}: {data}");
        let (title, body) = match platform {
            PushPlatform::Apns => (
                &data["aps"]["alert"]["title"],
                &data["aps"]["alert"]["body"],
            ),
            _ => (&data["title"], &data["body"]),
        };
        assert_eq!(title, "Login request", "{platform:?}");
        assert_eq!(body, "Open to review a sign-in", "{platform:?}");

        // The phone opens and verifies it offline (a second process with the same store, as an
        // extension would be, sees the same), then approves.
        let request = auth.handle_push(&payload).expect("opens").expect("ours");
        assert_eq!(request.id, id);
        assert_eq!(request.user, user);
        assert_eq!(request.title, TITLE);
        assert_eq!(request.context.ip.as_deref(), Some(IP));
        assert_eq!(request.context.location.as_deref(), Some(PLACE));
        assert_eq!(request.context.user_agent.as_deref(), Some(BROWSER));
        let code = session["presence_code"].as_str().expect("code");
        push_world::approve(&auth, site, id, code).await;

        // Another phone (another push key) cannot open it: a typed refusal, not "not ours".
        let other = phone(&service.url, sdk);
        assert!(matches!(
            other.handle_push(&payload),
            Err(CoreError::UnknownAccount { .. })
        ));
        // Unpairing deletes the push key with the account.
        auth.unpair(&account.id).await.expect("unpair");
        assert!(matches!(
            auth.handle_push(&payload),
            Err(CoreError::UnknownAccount { .. })
        ));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_paired_without_a_push_key_keeps_the_readable_payload() {
    let world = PushWorld::start(2).await;
    let PushWorld {
        apns,
        fcm,
        service,
        site,
        sdk,
        ..
    } = &world;

    // An older app: its PairRequest has no push_key.
    let token = apns_token(9);
    let at = Endpoint::new(&service.url);
    let old = SoftwareDevice {
        push: Some(json!({"platform": "apns", "token": token, "environment": "production"})),
        ..SoftwareDevice::new(sdk)
    };
    let (status, paired) = old.pair(&at, "old-app-user", CODE).await;
    assert_eq!(status.as_u16(), 201, "{paired}");
    let old = old.with_pairing(serde_json::from_value(paired).expect("pairing"));
    let session = login(site, "old-app-user").await;
    let (raw, payload) = received(apns, fcm, PushPlatform::Apns, &token).await;
    let data: Value = serde_json::from_str(&payload).expect("json");
    assert!(data.get("tapprove_sealed").is_none(), "{data}");
    assert_eq!(data["aps"]["alert"]["title"], TITLE);
    let challenge = old.verify(data["tapprove"].as_str().expect("readable challenge"));
    assert_eq!(challenge.session_id, session["id"].as_str().expect("id"));
    assert!(String::from_utf8(raw).expect("utf8").contains(TITLE));

    // A push key that is not a usable X25519 point is refused at pairing.
    for bad in [String::from("AAAA"), "A".repeat(43)] {
        let device = SoftwareDevice {
            push_key: Some(bad.clone()),
            ..SoftwareDevice::new(sdk)
        };
        let (status, body) = device.pair(&at, "bad-key-user", CODE).await;
        assert_eq!(status.as_u16(), 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_request", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("push_key"),
            "{body}"
        );
    }
    // A well-formed one is accepted (the core makes them like this).
    let key = PushSecretKey::generate().expect("key");
    let fresh = SoftwareDevice {
        push_key: Some(key.public_key().to_base64url()),
        ..SoftwareDevice::new(sdk)
    };
    let (status, body) = fresh.pair(&at, "good-key-user", CODE).await;
    assert_eq!(status.as_u16(), 201, "{body}");
}
