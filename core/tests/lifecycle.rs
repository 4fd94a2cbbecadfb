//! Credential lifecycle and verification features of the core over real loopback HTTP against
//! the protocol stub in `support/` (NOT the real service): retry-safe pairing, accounts keyed by
//! service, revocation, the persisted clock and the answer retry, service key rollover, typed
//! codes and user verification.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use support::{FakeClock, PAIRING_CODE, Stub, real_now};
use tapprove_core::*;
use tapprove_protocol::Es256Signer as _;

struct Device {
    auth: Authenticator,
    store: Arc<MemoryStore>,
    clock: Arc<FakeClock>,
}

fn device(stub: &Stub) -> Device {
    device_with_store(stub, Arc::new(MemoryStore::new()))
}

fn device_with_store(stub: &Stub, store: Arc<MemoryStore>) -> Device {
    let clock = FakeClock::new(real_now());
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    let auth =
        Authenticator::with_clock(stub.config(), store.clone(), signer, clock.clone()).unwrap();
    Device { auth, store, clock }
}

fn approve(code: &str) -> Decision {
    Decision::Approve {
        presence_answer: Some(code.to_owned()),
    }
}

fn record(store: &MemoryStore, id: &str) -> AccountRecord {
    let bytes = store.get(&format!("account/{id}")).unwrap().unwrap();
    serde_json::from_slice(bytes.expose_secret()).unwrap()
}

#[tokio::test]
async fn a_lost_pairing_answer_is_retried_with_the_same_key() {
    let stub = Stub::start().await;
    let d = device(&stub);
    // Lost once: the core retries at once with the same key and gets the same account.
    stub.lose_pair_responses(1);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    assert_eq!(
        stub.device_count(),
        1,
        "one account on the service, no ghost"
    );
    assert_eq!(
        stub.device(&account.id).unwrap().key,
        record(&d.store, &account.id).device_key
    );
    assert!(d.store.list_keys("pairing/").unwrap().is_empty());

    // Lost twice: the call fails, the key is kept; the user's retry uses it again.
    let other = device(&stub);
    stub.lose_pair_responses(2);
    assert!(matches!(
        other.auth.pair("bob", PAIRING_CODE, None).await,
        Err(CoreError::Network { .. })
    ));
    assert_eq!(stub.device_count(), 2);
    assert_eq!(other.store.list_keys("device-key/").unwrap().len(), 1);
    let bob = other.auth.pair("bob", PAIRING_CODE, None).await.unwrap();
    assert_eq!(
        stub.device_count(),
        2,
        "the retry returned the same account"
    );
    assert_eq!(other.auth.accounts().unwrap().len(), 1);
    assert_eq!(other.store.list_keys("device-key/").unwrap().len(), 1);
    assert_eq!(stub.device(&bob.id).unwrap().user, "bob");
}

/// The push key (PROTOCOL §6, §11): made with the device key before the first request, sent
/// again on a retried pairing (the service keeps the first one), kept in the store beside the
/// device key, and gone with the account or a refused pairing.
#[tokio::test]
async fn the_push_key_lives_and_dies_with_the_account() {
    let stub = Stub::start().await;
    let d = device(&stub);
    stub.lose_pair_responses(2);
    assert!(matches!(
        d.auth.pair("alice", PAIRING_CODE, None).await,
        Err(CoreError::Network { .. })
    ));
    assert_eq!(
        d.store.list_keys("push_key/").unwrap().len(),
        1,
        "kept while in doubt"
    );
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    assert_eq!(d.store.list_keys("push_key/").unwrap().len(), 1);
    let sent = stub
        .device(&account.id)
        .unwrap()
        .push_key
        .expect("the core sends a push key");
    // What the service seals to opens on the device: the retry sent the same key.
    let (sid, token, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    let sealed = tapprove_protocol::sealed::seal(&sent, &account.id, &token).unwrap();
    let payload = serde_json::json!({"tapprove_sealed": sealed, "account": account.id}).to_string();
    assert_eq!(d.auth.handle_push(&payload).unwrap().unwrap().id, sid);
    // The stored bytes are the secret, never shown by Debug.
    let stored = d
        .store
        .get(&d.store.list_keys("push_key/").unwrap()[0])
        .unwrap()
        .unwrap();
    assert_eq!(format!("{stored:?}"), "[redacted]");

    d.auth.unpair(&account.id).await.unwrap();
    assert!(
        d.store.list_keys("push_key/").unwrap().is_empty(),
        "deleted with the account"
    );
    assert!(matches!(
        d.auth.handle_push(&payload),
        Err(CoreError::UnknownAccount { .. })
    ));
    // A refused pairing leaves no key behind either.
    assert!(d.auth.pair("alice", "WRONG-CODE", None).await.is_err());
    assert!(d.store.list_keys("push_key/").unwrap().is_empty());
    assert!(d.store.list_keys("device-key/").unwrap().is_empty());
}

#[tokio::test]
async fn an_account_id_of_another_service_is_never_replaced() {
    let bank = Stub::start_named("Demo Bank").await;
    let shop = Stub::start_named("Demo Shop").await;
    let d = device(&bank);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let before = record(&d.store, &account.id);
    // The shop's service hands out the very same id.
    shop.next_account_id(&account.id);
    match d
        .auth
        .pair_with(shop.config(), "alice", PAIRING_CODE, None)
        .await
    {
        Err(CoreError::AccountIdCollision {
            account_id,
            existing_server,
        }) => {
            assert_eq!(account_id, account.id);
            assert_eq!(existing_server, bank.url());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        record(&d.store, &account.id),
        before,
        "the bank account is intact"
    );
    assert_eq!(
        d.store.list_keys("device-key/").unwrap().len(),
        1,
        "its key too"
    );
    assert_eq!(shop.device_count(), 0, "the refused pairing was withdrawn");
    // And it still answers.
    let (sid, _, _) = bank.create_session(&account.id, PresenceMode::Choose, 120);
    assert!(
        d.auth
            .respond(&sid, approve("42"))
            .await
            .unwrap()
            .is_accepted()
    );
}

#[tokio::test]
async fn a_revoked_device_keeps_the_account_marked_and_stops_using_it() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let (sid, token, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    d.auth.handle_push(&stub.apns(&token)).unwrap().unwrap();
    let at = real_now() - 30;
    stub.revoke(&account.id, at);
    match d.auth.pending(None).await {
        Err(CoreError::Revoked {
            account_id,
            project_name,
            revoked_at,
            ..
        }) => {
            assert_eq!(
                (account_id.as_str(), project_name.as_str(), revoked_at),
                (account.id.as_str(), "Demo Bank", Some(at))
            );
        }
        other => panic!("{other:?}"),
    }
    let e = d.auth.pending(Some(&account.id)).await.unwrap_err();
    assert!(
        e.to_string().contains("Demo Bank removed this device"),
        "{e}"
    );
    // Listed, marked, and never used again: no more calls reach the service.
    let listed = d.auth.accounts().unwrap();
    assert_eq!(listed[0].revoked_at, Some(at));
    let calls = stub.state.pending_calls.load(Ordering::SeqCst);
    assert!(d.auth.pending(None).await.unwrap().is_empty());
    assert_eq!(stub.state.pending_calls.load(Ordering::SeqCst), calls);
    assert!(matches!(
        d.auth.respond(&sid, approve("42")).await,
        Err(CoreError::Revoked { .. } | CoreError::UnknownRequest { .. })
    ));
    assert_eq!(stub.answer_calls(), 0);
    assert!(matches!(
        d.auth.handle_push(&stub.apns(&token)),
        Err(CoreError::Revoked { .. })
    ));
    let mut events = d.auth.events(Some(&account.id));
    assert!(matches!(
        events.next().await,
        Some(Err(CoreError::Revoked { .. }))
    ));
    // A fresh process sees it too (it was stored).
    let fresh = device_with_store(&stub, d.store.clone());
    assert_eq!(fresh.auth.accounts().unwrap()[0].revoked_at, Some(at));
    // Removing it is local only, and fine.
    fresh.auth.unpair(&account.id).await.unwrap();
    assert!(fresh.auth.accounts().unwrap().is_empty());
}

#[tokio::test]
async fn revocation_seen_on_the_event_stream_ends_it() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    stub.revoke(&account.id, real_now());
    let mut events = d.auth.events(None);
    let item = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .unwrap();
    assert!(
        matches!(item, Some(Err(CoreError::Revoked { .. }))),
        "{item:?}"
    );
    assert!(d.auth.accounts().unwrap()[0].revoked_at.is_some());
}

#[tokio::test]
async fn a_moved_clock_is_persisted_and_a_refused_answer_is_retried_once() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    // The fake device clock stands still while real time passes: it is set to real time before
    // each call, and a few seconds of slack cover slow runs (the arm64 set runs this under qemu).
    let paired = record(&d.store, &account.id).clock_offset;
    assert!(paired.abs() <= 5, "{paired}");
    // The service clock moves by 3 s: not worth a write.
    stub.set_offset(3);
    d.clock.set(real_now());
    d.auth.pending(None).await.unwrap();
    assert_eq!(record(&d.store, &account.id).clock_offset, paired);
    // By 20 minutes: persisted, so a cold process (NSE) uses it before any call.
    stub.set_offset(1200);
    d.clock.set(real_now());
    d.auth.pending(None).await.unwrap();
    let stored = record(&d.store, &account.id).clock_offset;
    assert!((stored - 1200).abs() <= 5, "{stored}");
    let (_, token, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    let cold = device_with_store(&stub, d.store.clone());
    cold.auth.handle_push(&stub.apns(&token)).unwrap().unwrap();

    // The service clock moves again while a cold notification-action process answers with
    // the stale stored offset: refused for its time (400 clock_skew), signed again, accepted.
    stub.set_offset(-600);
    // (A long-lived challenge, so that it still looks valid with the stale offset.)
    let (sid, token, _) = stub.create_session(&account.id, PresenceMode::Choose, 3600);
    let cold = device_with_store(&stub, d.store.clone());
    cold.auth.handle_push(&stub.apns(&token)).unwrap().unwrap();
    let before = stub.answer_calls();
    let outcome = cold.auth.respond(&sid, approve("42")).await.unwrap();
    assert!(outcome.is_accepted());
    assert_eq!(stub.answer_calls() - before, 2, "one refusal, one retry");
    let stored = record(&d.store, &account.id).clock_offset;
    assert!((stored + 600).abs() <= 5, "{stored}");
}

#[tokio::test]
async fn a_clock_skew_refusal_is_retried_only_once() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let (sid, token, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    d.auth.handle_push(&stub.apns(&token)).unwrap().unwrap();
    // Every answer is refused for its time: one retry at most, then the error.
    stub.fail_all(Some((400, "clock_skew", "clock off")));
    stub.set_offset(100);
    let before = stub.answer_calls();
    let err = d.auth.respond(&sid, approve("42")).await.unwrap_err();
    assert!(
        matches!(err, CoreError::Service { status: 400, .. }),
        "{err:?}"
    );
    // fail_all answers before the handler counts; the count is of handler runs: none.
    assert_eq!(stub.answer_calls(), before);
    stub.fail_all(None);
    // Nothing was decided: answering again works.
    assert!(
        d.auth
            .respond(&sid, approve("42"))
            .await
            .unwrap()
            .is_accepted()
    );
}

#[tokio::test]
async fn key_rollover_through_the_pending_response_and_headers() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let (_, old_token, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    let (old_key, _update) = stub.rotate_key(3600, true);
    let (_, new_token, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    // The pending response carries the key update before the challenges signed with it.
    let pending = d.auth.pending(None).await.unwrap();
    assert_eq!(pending.len(), 2, "{pending:?}");
    let listed = &d.auth.accounts().unwrap()[0];
    assert_eq!(listed.service_key, stub.service_key());
    let rec = record(&d.store, &account.id);
    assert_eq!(rec.retiring_key.as_ref().unwrap().key, old_key.public_key());
    // Seen again (the service repeats it during the grace period): no error, no change.
    d.auth.pending(None).await.unwrap();
    assert_eq!(record(&d.store, &account.id), rec);
    // During the grace period, old-key challenges still verify; after it, no more.
    let fresh = device_with_store(&stub, d.store.clone());
    fresh
        .auth
        .handle_push(&stub.apns(&new_token))
        .unwrap()
        .unwrap();
    fresh
        .auth
        .handle_push(&stub.apns(&old_token))
        .unwrap()
        .unwrap();
    let later = device_with_store(&stub, d.store.clone());
    later.clock.advance(3600 + 61);
    let c = stub
        .create_session(&account.id, PresenceMode::Choose, 7200)
        .1;
    later.auth.handle_push(&stub.apns(&c)).unwrap().unwrap();
    let forged_old = {
        let c = tapprove_protocol::Challenge::verify_signature(&c, &stub.service_key()).unwrap();
        c.sign(old_key.as_ref()).unwrap()
    };
    assert!(matches!(
        later.auth.handle_push(&stub.apns(&forged_old)),
        Err(CoreError::BadSignature)
    ));

    // A key update in a response header only (no pending call): applied as well.
    let d2 = device(&stub);
    let a2 = d2.auth.pair("bob", PAIRING_CODE, None).await.unwrap();
    let (_, update) = stub.rotate_key(600, false);
    stub.announce_key_update(Some(update));
    d2.auth
        .update_push_token(PushRegistration {
            platform: PushPlatform::None,
            token: String::new(),
            environment: None,
        })
        .await
        .unwrap();
    assert_eq!(record(&d2.store, &a2.id).service_key, stub.service_key());
}

#[tokio::test]
async fn a_key_update_not_signed_by_the_pinned_key_is_refused_and_reported() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let pinned = record(&d.store, &account.id).service_key;
    let attacker = tapprove_protocol::SoftwareKey::generate().unwrap();
    let forged = tapprove_protocol::KeyUpdate {
        ver: 1,
        new_key: attacker.public_key(),
        old_key_valid_until: real_now() + 60,
        iat: real_now(),
    }
    .sign(&attacker)
    .unwrap();
    // In the pending response: reported as a typed error, key kept.
    stub.announce_key_update(Some(forged.clone()));
    match d.auth.pending(None).await {
        Err(CoreError::KeyUpdateRefused { code, .. }) => assert_eq!(code, "bad_signature"),
        other => panic!("{other:?}"),
    }
    assert_eq!(record(&d.store, &account.id).service_key, pinned);
    // On an answer's response header: logged, the answer's outcome still returned.
    let (sid, _, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    stub.announce_key_update(None);
    d.auth.pending(None).await.unwrap();
    stub.announce_key_update(Some(forged.clone()));
    assert!(
        d.auth
            .respond(&sid, approve("42"))
            .await
            .unwrap()
            .is_accepted()
    );
    assert_eq!(record(&d.store, &account.id).service_key, pinned);
    stub.announce_key_update(None);
    // On the event stream: an Err item, and the stream goes on.
    let mut events = d.auth.events(None);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stub.send_key_update_event(&forged);
    let item = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .unwrap();
    assert!(
        matches!(item, Some(Err(CoreError::KeyUpdateRefused { .. }))),
        "{item:?}"
    );
    // A valid one on the stream is applied, and challenges signed by the new key arrive.
    let (_, update) = stub.rotate_key(600, false);
    stub.send_key_update_event(&update);
    let (sid, _, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    let item = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .unwrap();
    match item {
        Some(Ok(RequestEvent::Request(r))) => assert_eq!(r.id, sid),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        record(&d.store, &account.id).service_key,
        stub.service_key()
    );
    // The public entry point says the same for the forged one.
    assert!(matches!(
        d.auth.accept_key_update(&account.id, &forged),
        Err(CoreError::KeyUpdateRefused { .. })
    ));
}

#[tokio::test]
async fn typed_codes_are_checked_for_format_and_decided_by_the_service() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let (sid, token, code) =
        stub.create_session_with(&account.id, PresenceMode::Entry, 120, Some(6), None);
    let request = d.auth.handle_push(&stub.apns(&token)).unwrap().unwrap();
    assert_eq!(
        (request.presence_mode, request.code_length),
        (PresenceMode::Entry, Some(6))
    );
    assert!(matches!(
        d.auth.respond(&sid, approve("12345")).await,
        Err(CoreError::InvalidCode { expected_digits: 6 })
    ));
    assert_eq!(
        stub.answer_calls(),
        0,
        "format errors never reach the service"
    );
    // A well-formed wrong code is the service's call.
    let outcome = d.auth.respond(&sid, approve("654321")).await.unwrap();
    assert_eq!(outcome.reason, Some(SessionReason::WrongNumber));
    let (sid, _, code2) =
        stub.create_session_with(&account.id, PresenceMode::Entry, 120, Some(6), None);
    assert_eq!(code, code2);
    assert!(
        d.auth
            .respond(&sid, approve(&code2.unwrap()))
            .await
            .unwrap()
            .is_accepted()
    );
}

/// A verifier that answers from a script and counts its calls.
struct Scripted {
    outcome: Mutex<VerifyOutcome>,
    calls: AtomicUsize,
    reason: Mutex<String>,
}

impl UserVerifier for Scripted {
    fn verify(&self, reason: &str) -> VerifyOutcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        *self.reason.lock().unwrap() = reason.to_owned();
        self.outcome.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn user_verification_runs_before_an_approval_that_asks_for_it() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let required = Some(UserVerification::Required);
    let (sid, token, _) =
        stub.create_session_with(&account.id, PresenceMode::Choose, 120, None, required);
    let request = d.auth.handle_push(&stub.apns(&token)).unwrap().unwrap();
    assert_eq!(request.user_verification, required);
    // No verifier: the approval cannot go on, nothing is sent.
    assert!(matches!(
        d.auth.respond(&sid, approve("42")).await,
        Err(CoreError::UserVerificationUnavailable)
    ));
    let v = Arc::new(Scripted {
        outcome: Mutex::new(VerifyOutcome::Cancelled),
        calls: AtomicUsize::new(0),
        reason: Mutex::new(String::new()),
    });
    d.auth.set_user_verifier(Some(v.clone()));
    assert!(matches!(
        d.auth.respond(&sid, approve("42")).await,
        Err(CoreError::UserVerificationCancelled)
    ));
    assert_eq!(stub.answer_calls(), 0);
    // Verified: the signed answer carries the method class.
    *v.outcome.lock().unwrap() = VerifyOutcome::Verified(UvMethod::Biometric);
    assert!(
        d.auth
            .respond(&sid, approve("42"))
            .await
            .unwrap()
            .is_accepted()
    );
    assert_eq!(stub.session(&sid).uv, Some(UvMethod::Biometric));
    assert!(v.reason.lock().unwrap().contains("Demo Bank"));
    assert_eq!(v.calls.load(Ordering::SeqCst), 2);
    // Deny never asks; a request without a policy never asks.
    let (sid, _, _) =
        stub.create_session_with(&account.id, PresenceMode::Choose, 120, None, required);
    d.auth
        .respond(
            &sid,
            Decision::Deny {
                reason: DenyReason::Cancelled,
            },
        )
        .await
        .unwrap();
    let (sid, _, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    assert!(
        d.auth
            .respond(&sid, approve("42"))
            .await
            .unwrap()
            .is_accepted()
    );
    assert_eq!(stub.session(&sid).uv, None);
    assert_eq!(v.calls.load(Ordering::SeqCst), 2);
    // Preferred on a device that cannot verify: approved without uv.
    *v.outcome.lock().unwrap() = VerifyOutcome::Unavailable;
    let (sid, _, _) = stub.create_session_with(
        &account.id,
        PresenceMode::Choose,
        120,
        None,
        Some(UserVerification::Preferred),
    );
    assert!(
        d.auth
            .respond(&sid, approve("42"))
            .await
            .unwrap()
            .is_accepted()
    );
    assert_eq!(stub.session(&sid).uv, None);
}
