//! Service signing-key rollover (docs/PROTOCOL.md §5a) over loopback HTTP, on SQLite and (with
//! `cargo xtask test postgres`) PostgreSQL: an operator rotates the key on the database while
//! the service runs; the running service signs with the new key without a restart, and every
//! device pinned to the old key gets the key update signed by the old key in response headers,
//! the pending response and on its event stream, until the grace period ends.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use tapprove_protocol::api::{KEY_UPDATE_EVENT, KEY_UPDATE_HEADER, PendingResponse};
use tapprove_protocol::{Challenge, Decision, KeyUpdate, ProtocolError, PublicKey};
use tapprove_server::admin;

const WEEK: Duration = Duration::from_secs(7 * 86_400);

impl Harness {
    /// Rotates, then has the running service re-read the keys at once (it would by itself
    /// within a few seconds: see the first test).
    async fn rotate(&self, grace: Duration) -> tapprove_server::KeyRotation {
        let r = self.rotate_raw(grace).await.expect("rotate");
        self.service
            .as_ref()
            .expect("running")
            .state()
            .refresh_service_keys()
            .await
            .expect("refresh");
        r
    }

    async fn key_states(&self) -> Vec<(String, &'static str)> {
        admin::list_service_keys(&self.config.database_url)
            .await
            .expect("list")
            .into_iter()
            .map(|k| (k.kid, k.state))
            .collect()
    }

    /// Waits (at most 10 s) until the running service signs with `kid`: it is not restarted.
    async fn wait_for_signing_kid(&self, kid: &str) {
        let start = Instant::now();
        loop {
            let service = self.service.as_ref().expect("running");
            if service.service_public_key().key_id() == kid {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the running service did not pick up the new key within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// `GET /v1/device/pending` as raw parts: the key update header and the body.
async fn pending_raw(h: &Harness, d: &SoftwareDevice) -> (Option<String>, PendingResponse) {
    let auth = d.proof("GET", "/v1/device/pending", b"");
    let r = h
        .http
        .get(h.url("/v1/device/pending"))
        .header("authorization", auth)
        .header("x-tapprove-sdk", &d.sdk_header)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let header = r
        .headers()
        .get(KEY_UPDATE_HEADER)
        .map(|v| v.to_str().expect("ascii").to_owned());
    (header, r.json().await.expect("pending body"))
}

fn pinned(d: &SoftwareDevice) -> PublicKey {
    d.pairing.as_ref().expect("paired").service_key.clone()
}

/// What a device does with a key update: verify it with the pinned key, then pin the new key.
fn apply(d: &mut SoftwareDevice, token: &str) -> KeyUpdate {
    let update = KeyUpdate::verify(token, &pinned(d), now(), 60).expect("update verifies");
    d.pairing.as_mut().expect("paired").service_key = update.new_key.clone();
    update
}

#[tokio::test]
async fn a_rotation_reaches_every_device_and_new_challenges_use_the_new_key() {
    let h = Harness::start().await;
    let mut alice = h.pair("alice").await;
    let old = pinned(&alice);
    let mut stream = alice.events(&h).await;
    let (header, body) = pending_raw(&h, &alice).await;
    assert_eq!((header, body.key_update), (None, None), "no rollover yet");

    let before = now();
    // Not `h.rotate`: the running service must notice by itself.
    let r = h.rotate_raw(WEEK).await.expect("rotate");
    assert_eq!(r.old_kid, old.key_id());
    assert_ne!(r.kid, r.old_kid);
    assert!((r.old_key_valid_until - (before + 7 * 86_400)).abs() <= 2);

    // 1. The event stream opened before the rotation announces it, without a restart.
    let (name, token) = stream
        .next_event(Duration::from_secs(10))
        .await
        .expect("a key_update event within 10 s");
    assert_eq!(name, KEY_UPDATE_EVENT);
    let update = KeyUpdate::verify(&token, &old, now(), 60).expect("signed by the old key");
    assert_eq!(update.new_key.to_base64url(), r.public_key);
    assert_eq!(update.old_key_valid_until, r.old_key_valid_until);
    // Any other key (the new one included) does not verify it.
    assert_eq!(
        KeyUpdate::verify(&token, &update.new_key, now(), 60),
        Err(ProtocolError::BadSignature)
    );

    // 2. The pending response and its header carry the same token.
    let (header, body) = pending_raw(&h, &alice).await;
    assert_eq!(body.key_update.as_deref(), Some(token.as_str()));
    assert_eq!(header.as_deref(), Some(token.as_str()));
    // A new stream sends it first.
    let mut again = alice.events(&h).await;
    let (name, data) = again
        .next_event(Duration::from_secs(5))
        .await
        .expect("event");
    assert_eq!(
        (name.as_str(), data.as_str()),
        (KEY_UPDATE_EVENT, token.as_str())
    );
    drop(again);

    // 3. Challenges are signed with the new key from now on.
    h.wait_for_signing_kid(&r.kid).await;
    let session = h.login("alice").await;
    let id = session["id"].as_str().expect("id");
    let code = session["presence_code"].as_str().expect("code");
    let (_, body) = pending_raw(&h, &alice).await;
    assert_eq!(body.challenges.len(), 1);
    assert_eq!(
        Challenge::verify(&body.challenges[0], &old, now(), 60).map(|_| ()),
        Err(ProtocolError::BadSignature),
        "the old key no longer signs"
    );
    // Once the device applied the update, the challenge verifies with its pinned key.
    apply(&mut alice, &token);
    let c = alice.challenge_for(&h, id).await;

    // 4. The answer's response carries the update too (the device may be push-only).
    let token_answer = alice.sign_answer(&c, Decision::Approve, Some(code), None);
    let resp = h
        .http
        .post(h.url("/v1/device/answers"))
        .header("x-tapprove-sdk", &alice.sdk_header)
        .json(&serde_json::json!({"answer": token_answer}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get(KEY_UPDATE_HEADER)
            .map(|v| v.to_str().expect("ascii")),
        Some(token.as_str())
    );
    let (_, view) = h.get_session(id, None).await;
    assert_eq!(view["status"], "accepted");

    // 5. A device paired now pins the new key and gets no update.
    let bob = h.pair("bob").await;
    assert_eq!(pinned(&bob).to_base64url(), r.public_key);
    let (header, body) = pending_raw(&h, &bob).await;
    assert_eq!((header, body.key_update), (None, None));

    assert_eq!(
        h.key_states().await,
        vec![(r.old_kid.clone(), "grace"), (r.kid.clone(), "signing")]
    );
}

#[tokio::test]
async fn pending_challenges_from_before_the_rotation_still_verify_during_the_grace() {
    let h = Harness::start().await;
    let mut alice = h.pair("alice").await;
    let session = h.login("alice").await;
    let id = session["id"].as_str().expect("id").to_owned();
    let r = h.rotate(WEEK).await;
    h.wait_for_signing_kid(&r.kid).await;
    let (_, body) = pending_raw(&h, &alice).await;
    let token = body.key_update.expect("key update");
    apply(&mut alice, &token);
    // Signed by the old key (now the device's retiring key), still valid: answered.
    let old = PublicKey::from_base64url(
        &admin::list_service_keys(&h.config.database_url)
            .await
            .expect("list")[0]
            .public_key,
    )
    .expect("key");
    let challenge = body
        .challenges
        .iter()
        .find_map(|t| Challenge::verify(t, &old, now(), 60).ok())
        .expect("the old challenge verifies with the retiring key");
    assert_eq!(challenge.session_id, id);
    let code = session["presence_code"].as_str().expect("code");
    let (status, body) = alice
        .answer(&h, &challenge, Decision::Approve, Some(code), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn after_the_grace_the_old_key_retires() {
    let h = Harness::start().await;
    let alice = h.pair("alice").await;
    let r = h.rotate(Duration::from_secs(2)).await;
    let (_, body) = pending_raw(&h, &alice).await;
    assert!(body.key_update.is_some(), "sent during the grace period");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (header, body) = pending_raw(&h, &alice).await;
    assert_eq!(
        (header, body.key_update),
        (None, None),
        "no longer sent: the device must pair again"
    );
    assert_eq!(
        h.key_states().await,
        vec![(r.old_kid.clone(), "retired"), (r.kid.clone(), "signing")]
    );

    // --grace 0 (a suspected leak): retired at once, never announced.
    let carol = h.pair("carol").await;
    let leak = h.rotate(Duration::ZERO).await;
    assert_eq!(leak.old_kid, r.kid);
    let (header, body) = pending_raw(&h, &carol).await;
    assert_eq!((header, body.key_update), (None, None));
    h.wait_for_signing_kid(&leak.kid).await;
    let states = h.key_states().await;
    assert_eq!(
        states.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        ["retired", "retired", "signing"]
    );

    // Both rotations are in the audit log, service-wide (no project), by the operator.
    let q = tapprove_server::admin::AuditQuery {
        limit: 1000,
        ..Default::default()
    };
    let rows = tapprove_server::admin::read_audit(&h.config.database_url, &q)
        .await
        .expect("audit");
    let rotations: Vec<_> = rows
        .iter()
        .filter(|e| e.action == "service_key.rotated")
        .map(|e| {
            (
                e.subject.as_str(),
                e.reason.as_deref(),
                e.project_id.as_deref(),
                e.actor.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rotations,
        [
            (r.kid.as_str(), Some("grace"), None, "operator"),
            (leak.kid.as_str(), Some("old_key_retired"), None, "operator"),
        ]
    );
}

#[tokio::test]
async fn a_second_rotation_retires_the_older_key_and_moves_devices_along() {
    let h = Harness::start().await;
    let mut alice = h.pair("alice").await;
    let first = h.rotate(WEEK).await;
    let (_, body) = pending_raw(&h, &alice).await;
    apply(&mut alice, &body.key_update.expect("first update"));
    // A device that took the first update gets the second, signed by the key it now pins.
    let second = h.rotate(WEEK).await;
    assert_eq!(second.old_kid, first.kid);
    let mut stream = alice.events(&h).await;
    let (name, token) = stream
        .next_event(Duration::from_secs(5))
        .await
        .expect("event");
    assert_eq!(name, KEY_UPDATE_EVENT);
    let update = apply(&mut alice, &token);
    assert_eq!(update.new_key.to_base64url(), second.public_key);
    assert_eq!(
        h.key_states().await,
        vec![
            (first.old_kid, "retired"),
            (first.kid, "grace"),
            (second.kid, "signing")
        ]
    );
}

#[tokio::test]
async fn rotations_are_atomic_and_bounded() {
    let h = Harness::start().await;
    let err = admin::rotate_service_key(
        &h.config.database_url,
        h.config.seal_key.as_ref().expect("seal"),
        Duration::from_secs(31 * 86_400),
    )
    .await
    .expect_err("too long");
    assert!(err.to_string().contains("30 days"), "{err}");
    // A wrong seal key cannot sign the update: nothing changes.
    let wrong = tapprove_server::SealKey::generate().expect("seal");
    admin::rotate_service_key(&h.config.database_url, &wrong, WEEK)
        .await
        .expect_err("wrong seal key");
    assert_eq!(h.key_states().await.len(), 1);

    // Two operators at once: one signing key after both, whatever the interleaving.
    let (a, b) = tokio::join!(h.rotate_raw(WEEK), h.rotate_raw(WEEK));
    let won = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert!(won >= 1, "{a:?} {b:?}");
    for r in [&a, &b] {
        if let Err(e) = r {
            assert!(e.to_string().contains("same time"), "{e}");
        }
    }
    let states = h.key_states().await;
    assert_eq!(states.iter().filter(|(_, s)| *s == "signing").count(), 1);
    assert_eq!(states.iter().filter(|(_, s)| *s == "grace").count(), 1);
    assert_eq!(states.len(), 1 + won);
}

impl Harness {
    async fn rotate_raw(
        &self,
        grace: Duration,
    ) -> Result<tapprove_server::KeyRotation, tapprove_server::ServiceError> {
        admin::rotate_service_key(
            &self.config.database_url,
            self.config.seal_key.as_ref().expect("seal key"),
            grace,
        )
        .await
    }
}
