//! Fault table row (docs/SECURITY.md): APNs 410/429/500 and FCM UNREGISTERED/QUOTA_EXCEEDED
//! while many sends are in flight. The real `tapprove serve` pushes to the loopback APNs and
//! FCM of push/tests/support, which enforce each provider's documented contract (HTTP/2 and
//! provider tokens for APNs, OAuth2 and the v1 message shape for FCM) and answer each device
//! token from a script. Apple's and Google's servers are out of reach from tests.

mod common;
mod faults_support;
#[path = "../../push/tests/support/mod.rs"]
mod push_support;
mod push_world;

use std::sync::Arc;
use std::time::Duration;

use faults_support::*;
use push_support::{ApnsReply, FcmReply, MockApns, MockFcm, apns_token, fcm_token};
use push_world::PushWorld;
use serde_json::json;
use tapprove_core::{
    Authenticator, Config, MemoryStore, PushEnvironment, PushPlatform, PushRegistration,
    SoftwareSigner,
};

/// How the provider answers one device.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    /// Delivered at once.
    Healthy,
    /// APNs 410 `Unregistered` / FCM 404 `UNREGISTERED`, every time: the token is dead.
    Dead,
    /// APNs 429 `TooManyRequests` / FCM 429 `QUOTA_EXCEEDED` twice, then delivered.
    Throttled,
    /// APNs 500 `InternalServerError` (FCM: 503 `UNAVAILABLE`) for every attempt of the first
    /// login (4), healthy after.
    Failing,
}

const FATES: [Fate; 4] = [Fate::Healthy, Fate::Dead, Fate::Throttled, Fate::Failing];
/// Devices per platform and fate: 2 × 4 × 4 = 32 logins pushed at once.
const PER_FATE: u8 = 4;

struct Phone {
    user: String,
    platform: PushPlatform,
    token: String,
    fate: Fate,
    auth: Authenticator,
}

fn script(apns: &MockApns, fcm: &MockFcm, phone: &Phone) {
    let now_ms = push_support::unix_now() * 1000;
    match (phone.platform, phone.fate) {
        (_, Fate::Healthy) => {}
        (PushPlatform::Apns, Fate::Dead) => apns.always(
            &phone.token,
            ApnsReply::Error {
                status: 410,
                reason: "Unregistered",
                timestamp_ms: Some(now_ms),
            },
        ),
        (PushPlatform::Apns, Fate::Throttled) => apns.script(
            &phone.token,
            vec![
                ApnsReply::Error {
                    status: 429,
                    reason: "TooManyRequests",
                    timestamp_ms: None,
                };
                2
            ],
        ),
        (PushPlatform::Apns, Fate::Failing) => apns.script(
            &phone.token,
            vec![
                ApnsReply::Error {
                    status: 500,
                    reason: "InternalServerError",
                    timestamp_ms: None,
                };
                4
            ],
        ),
        (_, Fate::Dead) => fcm.always(
            &phone.token,
            FcmReply::Error {
                http: 404,
                status: "NOT_FOUND",
                code: Some("UNREGISTERED"),
                retry_after: None,
            },
        ),
        (_, Fate::Throttled) => fcm.script(
            &phone.token,
            vec![
                FcmReply::Error {
                    http: 429,
                    status: "RESOURCE_EXHAUSTED",
                    code: Some("QUOTA_EXCEEDED"),
                    retry_after: Some(1),
                };
                2
            ],
        ),
        (_, Fate::Failing) => fcm.script(
            &phone.token,
            vec![
                FcmReply::Error {
                    http: 503,
                    status: "UNAVAILABLE",
                    code: Some("UNAVAILABLE"),
                    retry_after: None,
                };
                4
            ],
        ),
    }
}

/// The push payload the provider accepted last for `phone`, as the app would hand it to the
/// core (APNs `userInfo`; the FCM data map).
fn delivered_payload(apns: &MockApns, fcm: &MockFcm, phone: &Phone) -> Option<String> {
    match phone.platform {
        PushPlatform::Apns => apns
            .records()
            .into_iter()
            .rev()
            .find(|r| r.token == phone.token)
            .map(|r| r.payload.to_string()),
        _ => fcm
            .records()
            .into_iter()
            .rev()
            .find(|r| r.body["message"]["token"] == phone.token.as_str())
            .map(|r| r.body["message"]["data"].to_string()),
    }
}

/// APNs 410/429/500 and FCM UNREGISTERED/QUOTA_EXCEEDED/UNAVAILABLE, 32 logins pushed at once.
/// Throttled pushes are retried and arrive; the user answers from the notification and the site
/// sees `accepted`. A dead token or a provider failing past the retries: the site sees `error`
/// / `delivery_failed` (not a login waiting forever), the user sees no prompt. Each login is
/// decided once. Recovery with no operator: a dead token is cleared and the next app start
/// registers a new one; a failing provider's next login goes through once it is healthy.
#[tokio::test(flavor = "multi_thread")]
async fn push_provider_errors_under_load() {
    let world = PushWorld::start(4).await;
    let PushWorld {
        apns,
        fcm,
        service,
        site,
        sdk,
        ..
    } = world;

    // Pair the phones through the core, each with its push token.
    let mut phones = Vec::new();
    let mut n = 0u8;
    for platform in [PushPlatform::Apns, PushPlatform::Fcm] {
        for fate in FATES {
            for _ in 0..PER_FATE {
                n += 1;
                let token = match platform {
                    PushPlatform::Apns => apns_token(n),
                    _ => fcm_token(n),
                };
                let store = Arc::new(MemoryStore::new());
                let signer = Arc::new(SoftwareSigner::new(store.clone()));
                let auth = Authenticator::new(
                    Config::new(&service.url, &sdk).expect("config"),
                    store,
                    signer,
                )
                .expect("authenticator");
                let user = format!("user{n}");
                auth.pair(
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
                let phone = Phone {
                    user,
                    platform,
                    token,
                    fate,
                    auth,
                };
                script(&apns, &fcm, &phone);
                phones.push(phone);
            }
        }
    }

    // Every login at once: the service pushes them all concurrently.
    let site = Arc::new(site);
    let mut creating = Vec::new();
    for p in &phones {
        let (site, user) = (site.clone(), p.user.clone());
        creating.push(tokio::spawn(
            async move { site.login(&user, json!({})).await },
        ));
    }
    let mut sessions = Vec::new();
    for c in creating {
        sessions.push(c.await.expect("join"));
    }

    for (p, session) in phones.iter().zip(&sessions) {
        let id = session["id"].as_str().expect("id");
        let code = session["presence_code"].as_str().expect("code");
        // Wait for the delivery outcome to settle (retries are 20–100 ms apart).
        let mut outcome = site.outcome(id).await;
        for _ in 0..100 {
            let delivered = delivered_payload(&apns, &fcm, p).is_some();
            if outcome.0 != "sent" || (delivered && p.fate != Fate::Dead && p.fate != Fate::Failing)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            outcome = site.outcome(id).await;
        }
        match p.fate {
            Fate::Healthy | Fate::Throttled => {
                assert_eq!(outcome.0, "sent", "{p:?}", p = (p.platform, p.fate));
                let payload = delivered_payload(&apns, &fcm, p).expect("delivered");
                let request = p
                    .auth
                    .handle_push(&payload)
                    .expect("a valid push")
                    .expect("a Tapprove push");
                assert_eq!(request.id, id);
                push_world::approve(&p.auth, &site, id, code).await;
            }
            Fate::Dead | Fate::Failing => {
                assert_eq!(
                    outcome,
                    ("error".into(), "delivery_failed".into()),
                    "{:?}",
                    (p.platform, p.fate)
                );
                assert!(delivered_payload(&apns, &fcm, p).is_none());
            }
        }
        assert_eq!(
            count(
                &service.db(),
                "SELECT COUNT(*) FROM sessions WHERE id = ? AND decided_at IS NOT NULL",
                id,
            )
            .await,
            1,
            "decided once: {:?}",
            (p.platform, p.fate)
        );
    }
    // Throttling was retried, not given up: each throttled token was asked three times.
    for p in phones.iter().filter(|p| p.fate == Fate::Throttled) {
        let asked = match p.platform {
            PushPlatform::Apns => apns.requests_for(&p.token),
            _ => fcm.requests_for(&p.token),
        };
        assert_eq!(asked, 3, "{:?}", p.platform);
    }
    // Dead tokens were cleared: the service stops pushing to them.
    for p in phones.iter().filter(|p| p.fate == Fate::Dead) {
        assert_eq!(
            count(
                &service.db(),
                "SELECT COUNT(*) FROM accounts WHERE user_name = ? AND push_token = ''",
                &p.user,
            )
            .await,
            1,
            "{:?}: dead token cleared",
            p.platform
        );
    }

    // Recovery: the app registers a fresh token (as it does on every start); the failing
    // provider is healthy again. The next login of each of those users goes through.
    for (i, p) in phones.iter_mut().enumerate() {
        if p.fate == Fate::Dead {
            p.token = match p.platform {
                PushPlatform::Apns => apns_token(200 + i as u8),
                _ => fcm_token(200 + i as u8),
            };
            p.auth
                .update_push_token(PushRegistration {
                    platform: p.platform,
                    token: p.token.clone(),
                    environment: (p.platform == PushPlatform::Apns)
                        .then_some(PushEnvironment::Production),
                })
                .await
                .expect("new token");
        }
    }
    for p in phones
        .iter()
        .filter(|p| matches!(p.fate, Fate::Dead | Fate::Failing))
    {
        let session = site.login(&p.user, json!({})).await;
        let id = session["id"].as_str().expect("id");
        let code = session["presence_code"].as_str().expect("code");
        let mut payload = None;
        for _ in 0..100 {
            payload = delivered_payload(&apns, &fcm, p);
            if payload.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let request = p
            .auth
            .handle_push(&payload.expect("delivered after recovery"))
            .expect("valid")
            .expect("ours");
        assert_eq!(request.id, id, "{:?}", (p.platform, p.fate));
        push_world::approve(&p.auth, &site, id, code).await;
    }
}
