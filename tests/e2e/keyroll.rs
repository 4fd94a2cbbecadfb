//! End to end, through the real binary: `tapprove admin service-key rotate` while a real
//! `tapprove serve` runs; paired devices (the terminal authenticator and the device core
//! library on the same stores) learn the new key through the pending response, a response
//! header and the event stream, and logins keep working without re-pairing
//! (docs/PROTOCOL.md §5a).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tapprove_core::{Authenticator, CoreError, PushPlatform, PushRegistration};
use tapprove_protocol::{Es256Signer as _, KeyUpdate, PROTOCOL_VERSION, PublicKey, SoftwareKey};

const CODE: &str = "7KQ2-M9XD";

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn core_device(d: &Device) -> Authenticator {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = Arc::new(tapprove_core::FileStore::open(&d.store).expect("store"));
    let signer = Arc::new(tapprove_core::SoftwareSigner::new(store.clone()));
    let config = tapprove_core::Config::new("http://127.0.0.1", "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA")
        .expect("config");
    Authenticator::new(config, store, signer).expect("authenticator")
}

async fn rotate(s: &Setup, grace: &str) -> Value {
    ok_json(
        &tapprove(&[
            "admin",
            "service-key",
            "rotate",
            "--grace",
            grace,
            "--json",
            "--database",
            &s.serve.db,
        ])
        .await,
    )
}

async fn key_states(s: &Setup) -> Vec<(String, String)> {
    let list = ok_json(
        &tapprove(&[
            "admin",
            "service-key",
            "list",
            "--json",
            "--database",
            &s.serve.db,
        ])
        .await,
    );
    list.as_array()
        .expect("list")
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().expect("kid").to_owned(),
                k["state"].as_str().expect("state").to_owned(),
            )
        })
        .collect()
}

fn pinned(auth: &Authenticator) -> PublicKey {
    let accounts = auth.accounts().expect("accounts");
    assert_eq!(accounts.len(), 1);
    accounts[0].service_key.clone()
}

/// Calls `poke` until the device pins `key` (the service re-reads its keys within seconds).
async fn until_pinned<F, Fut>(auth: &Authenticator, key: &str, mut poke: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = Instant::now();
    while pinned(auth).to_base64url() != key {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the device did not learn the new key within 15 s"
        );
        poke().await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn login_and_approve(s: &Setup, d: &Device, user: &str) {
    let session = s.rp.login(user, json!({})).await;
    let id = session["id"].as_str().expect("id");
    let code = session["presence_code"].as_str().expect("code");
    d.request(id).await;
    let o = d.run(&["respond", id, "--choose", code, "--json"]).await;
    assert_eq!(ok_json(&o)["status"], json!("accepted"));
    let view = s.rp.get(id, Some(5)).await;
    assert_eq!(view["status"], json!("accepted"), "{view}");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_rotation_devices_learn_the_key_every_way_and_logins_keep_working() {
    let s = Setup::new(CODE).await;
    let by_pending = s.paired_device("by-pending", "alice", CODE).await;
    let by_header = s.paired_device("by-header", "bob", CODE).await;
    let by_stream = s.paired_device("by-stream", "carol", CODE).await;
    let (pending_auth, header_auth, stream_auth) = (
        core_device(&by_pending),
        core_device(&by_header),
        core_device(&by_stream),
    );
    let old = pinned(&pending_auth);
    // The stream is open before the rotation: the key update reaches it as an event.
    let mut events = stream_auth.events(None);
    let listener = tokio::spawn(async move {
        while let Some(item) = events.next().await {
            if let Err(e) = item {
                eprintln!("event stream item: {e}");
            }
        }
    });

    let r = rotate(&s, "7d").await;
    assert_eq!(r["old_kid"], json!(old.key_id()));
    let new = r["public_key"].as_str().expect("public_key").to_owned();
    assert_ne!(new, old.to_base64url());
    assert_eq!(
        key_states(&s).await,
        vec![
            (old.key_id(), "grace".to_owned()),
            (r["kid"].as_str().expect("kid").to_owned(), "signing".into())
        ]
    );

    // 1. Event stream: nothing to do but wait.
    until_pinned(&stream_auth, &new, || async {}).await;
    listener.abort();
    // 2. Pending response.
    until_pinned(&pending_auth, &new, || async {
        pending_auth.pending(None).await.expect("pending");
    })
    .await;
    // 3. The header of a call that has no body of its own.
    until_pinned(&header_auth, &new, || async {
        header_auth
            .update_push_token(PushRegistration {
                platform: PushPlatform::None,
                token: String::new(),
                environment: None,
            })
            .await
            .expect("push token");
    })
    .await;

    // The terminal authenticator (same stores) signs in: challenges are signed with the new
    // key now, and verify with the pinned one.
    login_and_approve(&s, &by_pending, "alice").await;
    login_and_approve(&s, &by_header, "bob").await;
    login_and_approve(&s, &by_stream, "carol").await;
    let accounts = by_pending.accounts().await;
    assert_eq!(accounts[0]["service_key"], json!(new), "{accounts:?}");

    // A forged update (signed by another key, naming the pinned kid) is refused and reported;
    // the pinned key stays.
    let attacker = SoftwareKey::generate().expect("key");
    let pinned_now = PublicKey::from_base64url(&new).expect("key");
    let forged = tapprove_protocol::jws::sign(
        &KeyUpdate {
            ver: PROTOCOL_VERSION,
            new_key: attacker.public_key(),
            old_key_valid_until: unix_now() + 3600,
            iat: unix_now(),
        },
        tapprove_protocol::key_update::KEY_UPDATE_TYP,
        &pinned_now.key_id(),
        &attacker,
    )
    .expect("sign");
    let account_id = pending_auth.accounts().expect("accounts")[0].id.clone();
    let refused = pending_auth.accept_key_update(&account_id, &forged);
    assert!(
        matches!(&refused, Err(CoreError::KeyUpdateRefused { code, .. }) if code == "bad_signature"),
        "{refused:?}"
    );
    assert_eq!(pinned(&pending_auth), pinned_now);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_grace_the_old_key_is_gone_and_an_offline_device_must_pair_again() {
    let s = Setup::new(CODE).await;
    let offline = s.paired_device("offline", "dave", CODE).await;
    let auth = core_device(&offline);
    let old = pinned(&auth);
    let r = rotate(&s, "1s").await;
    let new_kid = r["kid"].as_str().expect("kid").to_owned();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        key_states(&s).await,
        vec![
            (old.key_id(), "retired".into()),
            (new_kid, "signing".into())
        ]
    );
    // Give the running service time to re-read its keys (5 s cache + a sweep), then log in:
    // the challenge is signed by the new key, which the device never learnt.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let session = s.rp.login("dave", json!({})).await;
    let id = session["id"].as_str().expect("id").to_owned();
    let seen = auth.pending(None).await.expect("pending");
    assert!(
        seen.iter().all(|p| p.id != id),
        "a challenge signed by a key the device never learnt is not shown"
    );
    assert_eq!(pinned(&auth), old, "no key update after the grace period");
    // A fresh pairing pins the new key and signs in.
    let fresh = s.paired_device("fresh", "dave", CODE).await;
    login_and_approve(&s, &fresh, "dave").await;
    assert_eq!(
        fresh.accounts().await[0]["service_key"],
        r["public_key"],
        "a new pairing pins the signing key"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_refuses_a_grace_beyond_30_days_in_one_line() {
    let s = Setup::new(CODE).await;
    let o = tapprove(&[
        "admin",
        "service-key",
        "rotate",
        "--grace",
        "31d",
        "--database",
        &s.serve.db,
    ])
    .await;
    let line = failed_line(&o);
    assert!(line.contains("30 days"), "{line}");
    assert_eq!(key_states(&s).await.len(), 1, "nothing rotated");
    // Text output names the new key and when the old one retires.
    let o = tapprove(&["admin", "service-key", "rotate", "--database", &s.serve.db]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("New service signing key"), "{text}");
    assert!(text.contains("must pair again"), "{text}");
}
