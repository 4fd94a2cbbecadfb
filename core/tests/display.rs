//! Code to phone (`display` requests) through the core against the stub service: the request
//! exposes the code, `show_code` verifies the user when asked and sends the signed
//! acknowledgement, and an approval in the app is refused (the login prompt takes the code).

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::{PAIRING_CODE, Stub};
use tapprove_core::*;

struct Device {
    auth: Authenticator,
}

fn device(stub: &Stub) -> Device {
    let store = Arc::new(MemoryStore::new());
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    let auth = Authenticator::new(stub.config(), store, signer).unwrap();
    Device { auth }
}

/// Verifies with `outcome`, counting its calls.
struct Fixed {
    outcome: VerifyOutcome,
    calls: AtomicUsize,
}

impl UserVerifier for Fixed {
    fn verify(&self, _reason: &str) -> VerifyOutcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.outcome.clone()
    }
}

#[tokio::test]
async fn the_code_is_shown_and_acknowledged_after_user_verification() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let required = Some(UserVerification::Required);
    let (sid, token, code) =
        stub.create_session_with(&account.id, PresenceMode::Display, 120, None, required);
    let request = d.auth.handle_push(&stub.apns(&token)).unwrap().unwrap();
    assert_eq!(request.presence_mode, PresenceMode::Display);
    assert_eq!(request.display_code, code);
    // Approving in the app is refused without a network call: the login prompt takes it.
    let approve = Decision::Approve {
        presence_answer: code.clone(),
    };
    assert!(matches!(
        d.auth.respond(&sid, approve).await,
        Err(CoreError::ApprovedByCode)
    ));
    assert_eq!(stub.answer_calls(), 0);
    // Verification required and no verifier: no code, nothing acknowledged.
    assert!(matches!(
        d.auth.show_code(&sid).await,
        Err(CoreError::UserVerificationUnavailable)
    ));
    assert!(stub.state.shown.lock().unwrap().is_empty());
    let v = Arc::new(Fixed {
        outcome: VerifyOutcome::Verified(UvMethod::Biometric),
        calls: AtomicUsize::new(0),
    });
    d.auth.set_user_verifier(Some(v.clone()));
    assert_eq!(d.auth.show_code(&sid).await.unwrap(), code.clone().unwrap());
    assert_eq!(v.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        stub.state.shown.lock().unwrap().clone(),
        vec![(sid.clone(), UvMethod::Biometric)]
    );
    // "This wasn't me" still works.
    let outcome = d
        .auth
        .respond(
            &sid,
            Decision::Deny {
                reason: DenyReason::NotMe,
            },
        )
        .await
        .unwrap();
    assert_eq!(outcome.reason, Some(SessionReason::FraudReported));
}

#[tokio::test]
async fn without_a_policy_the_code_is_shown_without_asking_or_acknowledging() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let (sid, _, code) = stub.create_session(&account.id, PresenceMode::Display, 120);
    // Unseen so far: looked up with the service.
    assert_eq!(d.auth.show_code(&sid).await.unwrap(), code.unwrap());
    assert!(stub.state.shown.lock().unwrap().is_empty());
    let (other, _, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    assert!(matches!(
        d.auth.show_code(&other).await,
        Err(CoreError::NoCodeToShow)
    ));
}
