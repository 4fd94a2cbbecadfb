//! The exported API as Kotlin/Swift see it, driven from Rust with Rust implementations of the
//! foreign traits (tests/support). No service is needed: network cases use a dead loopback port.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;
use tapprove_ffi::*;

/// Each protocol error code of the vectors, as an app sees it.
fn matches_code(err: &AuthError, code: &str) -> bool {
    match code {
        "expired" => {
            matches!(
                err,
                AuthError::RequestClosed {
                    reason: ClosedReason::Expired,
                    ..
                }
            )
        }
        "unsupported_version" => matches!(err, AuthError::UpdateRequired { .. }),
        "bad_signature" | "malformed" | "invalid" | "unsupported_header" | "oversized"
        | "not_yet_valid" => matches!(err, AuthError::InvalidNotification { .. }),
        other => panic!("unknown vector error code {other}"),
    }
}

#[test]
fn every_challenge_vector_through_the_exported_handle_push() {
    let mut files: Vec<_> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("challenge_") && n.ends_with(".json"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "vectors missing: {files:?}");
    let mut checked = 0;
    for file in files {
        let doc = read_vector(&file);
        let key = doc["public_key"].as_str().unwrap();
        for case in doc["cases"].as_array().unwrap() {
            let name = format!("{file}::{}", case["name"]);
            let f = fixture("https://demo.example", case["now"].as_i64().unwrap());
            import_vector_account(&f, "https://demo.example", key);
            let token = case["token"].as_str().unwrap();
            for payload in [apns(token), fcm(token)] {
                let result = f.auth.handle_push(payload);
                let expect = &case["expect"];
                if expect["valid"].as_bool().unwrap() {
                    let req = result
                        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
                        .expect("ours");
                    let c = &expect["claims"];
                    assert_eq!(req.id, c["session_id"].as_str().unwrap(), "{name}");
                    assert_eq!(req.account_id, c["account_id"].as_str().unwrap(), "{name}");
                    assert_eq!(req.user, c["user"].as_str().unwrap(), "{name}");
                    assert_eq!(req.title, c["title"].as_str().unwrap(), "{name}");
                    assert_eq!(req.body, c["body"].as_str().unwrap(), "{name}");
                    assert_eq!(
                        req.context.app.as_deref(),
                        c["context"]["app"].as_str(),
                        "{name}"
                    );
                    assert_eq!(
                        req.context.ip.as_deref(),
                        c["context"]["ip"].as_str(),
                        "{name}"
                    );
                    assert_eq!(
                        req.context.location.as_deref(),
                        c["context"]["location"].as_str(),
                        "{name}"
                    );
                    assert_eq!(
                        req.context.user_agent.as_deref(),
                        c["context"]["user_agent"].as_str(),
                        "{name}"
                    );
                    let mode = match req.presence_mode {
                        PresenceMode::Choose => "choose",
                        PresenceMode::Entry => "entry",
                        PresenceMode::None => "none",
                        PresenceMode::Display => "display",
                    };
                    assert_eq!(mode, c["presence"]["mode"], "{name}");
                    let options: Vec<String> = c["presence"]["options"]
                        .as_array()
                        .map(|a| a.iter().map(|o| o.as_str().unwrap().to_owned()).collect())
                        .unwrap_or_default();
                    assert_eq!(req.options, options, "{name}");
                    assert_eq!(req.issued_at, c["iat"].as_i64().unwrap(), "{name}");
                    assert_eq!(req.expires_at, c["exp"].as_i64().unwrap(), "{name}");
                } else {
                    let code = expect["error"].as_str().unwrap();
                    match result {
                        Err(e) => {
                            assert!(matches_code(&e, code), "{name}: expected {code}, got {e:?}");
                            assert!(!e.to_string().is_empty(), "{name}: empty message");
                        }
                        Ok(r) => panic!("{name}: expected {code}, got {r:?}"),
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 50, "only {checked} checks");
}

#[test]
fn a_valid_challenge_for_another_account_is_refused_and_other_pushes_are_not_ours() {
    let doc = read_vector("challenge_valid.json");
    let case = &doc["cases"][0];
    let f = fixture("https://demo.example", case["now"].as_i64().unwrap());
    // No account imported: the challenge names an account this device does not have.
    let err = f
        .auth
        .handle_push(apns(case["token"].as_str().unwrap()))
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidInput { .. }), "{err:?}");
    assert_eq!(
        f.auth
            .handle_push(r#"{"aps":{"alert":"Your order shipped"}}"#.into()),
        Ok(None)
    );
    assert_eq!(f.auth.handle_push("{}".into()), Ok(None));
    let err = f.auth.handle_push("not json".into()).unwrap_err();
    assert!(
        matches!(err, AuthError::InvalidNotification { .. }),
        "{err:?}"
    );
}

#[test]
fn a_failing_secure_store_is_an_error_not_a_panic() {
    let store = Arc::new(MapStore::default());
    store.fail.store(true, Ordering::SeqCst);
    let signer = Arc::new(MemSigner::new(SignerMode::Normal));
    // Construction never fails for storage (an app must start); the call that needs the
    // store says what is wrong.
    let auth = Authenticator::new(config("https://demo.example"), store.clone(), signer).unwrap();
    let err = auth.accounts().unwrap_err();
    match &err {
        AuthError::Platform { detail: message } => {
            assert!(message.contains("keychain is locked"), "{message}")
        }
        other => panic!("expected Platform, got {other:?}"),
    }
    assert!(
        store.calls.load(Ordering::SeqCst) > 0,
        "the Rust store implementation was not used"
    );

    // The store failing later (after construction) is an error too.
    let f = fixture("https://demo.example", 1_800_000_000);
    f.store.fail.store(true, Ordering::SeqCst);
    assert!(matches!(f.auth.accounts(), Err(AuthError::Platform { .. })));
}

#[tokio::test]
async fn a_failing_signer_is_an_error_before_any_network() {
    let dead = dead_server();
    let f = fixture(&dead, 1_800_000_000);
    *f.signer.mode.lock().unwrap() = SignerMode::Fail;
    let err = f
        .auth
        .pair("alice".into(), "7KQ2-M9XD".into(), None, None)
        .await
        .unwrap_err();
    match &err {
        AuthError::Platform { detail: message } => {
            assert!(message.contains("secure hardware unavailable"), "{message}");
            assert!(
                !message.contains("7KQ2-M9XD"),
                "the pairing code leaked: {message}"
            );
        }
        other => panic!("expected Platform, got {other:?}"),
    }
    assert_eq!(f.auth.accounts().unwrap(), vec![]);
}

#[tokio::test]
async fn network_failures_are_typed_and_never_show_the_pairing_code() {
    let dead = dead_server();
    let f = fixture(&dead, 1_800_000_000);
    let err = f
        .auth
        .pair("alice".into(), "7KQ2-M9XD".into(), None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Network { .. }), "{err:?}");
    assert!(!err.to_string().contains("7KQ2-M9XD"), "{err}");

    let err = f
        .auth
        .pair_uri("https://example.com/not-a-pairing-link".into(), None, None)
        .await;
    assert!(
        matches!(err, Err(AuthError::InvalidInput { .. })),
        "{err:?}"
    );
    let bad = ServiceConfig {
        server_url: "http://auth.example.com".into(),
        ..config(&dead)
    };
    let err = f
        .auth
        .pair_with(bad, "alice".into(), "7KQ2-M9XD".into(), None, None)
        .await;
    assert!(
        matches!(err, Err(AuthError::InvalidInput { .. })),
        "plain http to a remote host: {err:?}"
    );
    let bad = ServiceConfig {
        sdk_key: "tap_sdk_short".into(),
        ..config(&dead)
    };
    let err = Authenticator::new(bad, f.store.clone(), f.signer.clone()).unwrap_err();
    assert!(err.to_string().contains("tap_sdk_"), "{err}");
}

#[tokio::test]
async fn offline_operations_on_a_paired_account() {
    let dead = dead_server();
    let f = fixture(&dead, 1_800_000_000);
    let account = import_vector_account(
        &f,
        &dead,
        read_vector("challenge_valid.json")["public_key"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(f.auth.accounts().unwrap(), vec![account.clone()]);
    assert_eq!(account.project_name, "Demo Bank");

    let push = PushRegistration {
        platform: PushPlatform::Fcm,
        token: "fcm-token-secret".into(),
        environment: None,
    };
    let err = f.auth.update_push_token(push, None).await.unwrap_err();
    assert!(matches!(err, AuthError::Network { .. }), "{err:?}");
    assert!(!err.to_string().contains("fcm-token-secret"));
    let err = f.auth.pending(None, None).await.unwrap_err();
    assert!(matches!(err, AuthError::Network { .. }), "{err:?}");
    let err = f
        .auth
        .pending(Some("acc_nope".into()), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidInput { .. }), "{err:?}");

    // Unpair offline: removed locally, and the error says so.
    let err = f.auth.unpair(account.id.clone(), None).await.unwrap_err();
    assert!(
        matches!(err, AuthError::UnpairedLocallyOnly { .. }),
        "{err:?}"
    );
    assert_eq!(f.auth.accounts().unwrap(), vec![]);
    assert!(
        f.signer.public_key("vector-key".into()).unwrap().is_none(),
        "device key not deleted"
    );
}

/// An authenticator holding the valid "choose" vector request, against a dead server.
fn with_choose_request(mode: SignerMode) -> (Fixture, LoginRequest) {
    let doc = read_vector("challenge_valid.json");
    let case = &doc["cases"][0];
    let dead = dead_server();
    let f = fixture(&dead, case["now"].as_i64().unwrap());
    import_vector_account(&f, &dead, doc["public_key"].as_str().unwrap());
    *f.signer.mode.lock().unwrap() = mode;
    let req = f
        .auth
        .handle_push(apns(case["token"].as_str().unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!(req.options, vec!["17", "42", "88"]);
    (f, req)
}

#[tokio::test]
async fn decisions_are_checked_locally_before_signing() {
    let (f, req) = with_choose_request(SignerMode::Normal);
    for answer in [None, Some("99".to_owned())] {
        let err = f
            .auth
            .respond(
                req.id.clone(),
                Decision::Approve {
                    presence_answer: answer,
                },
                None,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::InvalidInput { .. }), "{err:?}");
    }
    let err = f
        .auth
        .respond(
            "ses_unknown".into(),
            Decision::Deny {
                reason: DenyReason::NotMe,
            },
            None,
        )
        .await;
    assert!(err.is_err(), "{err:?}");
    assert!(!f.auth.is_answered(req.id.clone()));
}

/// A request that ended unanswered is kept in the app's own store: the app relaunched (a new
/// `Authenticator` over the same store) still lists it and can sign "this wasn't me", and only
/// that; removing the account deletes it from the store.
#[tokio::test]
async fn an_ended_request_survives_a_relaunch_and_goes_with_its_account() {
    let (f, req) = with_choose_request(SignerMode::Normal);
    // Past its expiry (and the skew): the core ends it locally, without a network call.
    f.clock.0.store(req.expires_at + 61, Ordering::SeqCst);
    let approve = || Decision::Approve {
        presence_answer: Some("42".into()),
    };
    let err = f.auth.respond(req.id.clone(), approve(), None).await;
    assert!(
        matches!(
            err,
            Err(AuthError::RequestClosed {
                reason: ClosedReason::Expired,
                ..
            })
        ),
        "{err:?}"
    );

    let relaunched = Authenticator::with_clock(
        config(&f.auth.accounts().unwrap()[0].server_url),
        f.store.clone(),
        f.signer.clone(),
        f.clock.clone(),
    )
    .unwrap();
    let ended = relaunched.ended_requests(None);
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(
        (ended[0].request.id.as_str(), ended[0].status),
        (req.id.as_str(), SessionStatus::Expired)
    );
    assert_eq!(ended[0].request.options, req.options);
    let err = relaunched.respond(req.id.clone(), approve(), None).await;
    assert!(
        matches!(
            err,
            Err(AuthError::RequestClosed {
                reason: ClosedReason::Ended,
                ..
            })
        ),
        "{err:?}"
    );
    // "Not me" is signed with the stored nonce and sent: only the (dead) network stops it.
    let not_me = Decision::Deny {
        reason: DenyReason::NotMe,
    };
    let err = relaunched.respond(req.id.clone(), not_me, None).await;
    assert!(matches!(err, Err(AuthError::Network { .. })), "{err:?}");
    assert_eq!(relaunched.ended_requests(None).len(), 1, "kept for a retry");

    relaunched.forget_account(VECTOR_ACCOUNT.into()).unwrap();
    assert!(relaunched.ended_requests(None).is_empty());
    let left: Vec<String> = f.store.map.lock().unwrap().keys().cloned().collect();
    assert!(
        left.iter().all(|k| !k.starts_with("ended_request/")),
        "{left:?}"
    );
}

#[tokio::test]
async fn der_signatures_from_the_platform_are_accepted() {
    // The signer returns DER (like Keystore and SecKey); signing succeeds and the answer only
    // fails at the (dead) network.
    let (f, req) = with_choose_request(SignerMode::Normal);
    let err = f
        .auth
        .respond(
            req.id,
            Decision::Approve {
                presence_answer: Some("42".into()),
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Network { .. }), "{err:?}");
}

#[tokio::test]
async fn a_signer_producing_wrong_signatures_is_caught_with_a_clear_message() {
    let (f, req) = with_choose_request(SignerMode::WrongSignature);
    let err = f
        .auth
        .respond(
            req.id,
            Decision::Deny {
                reason: DenyReason::Cancelled,
            },
            None,
        )
        .await
        .unwrap_err();
    match err {
        AuthError::Platform { detail: message } => {
            assert!(message.contains("does not verify"), "{message}")
        }
        other => panic!("expected Platform, got {other:?}"),
    }
}

#[derive(Default)]
struct Recorder {
    errors: Mutex<Vec<AuthError>>,
    requests: AtomicUsize,
    closed: AtomicUsize,
}

impl RequestListener for Recorder {
    fn on_request(&self, _request: LoginRequest) -> Result<(), AuthError> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn on_decided(&self, _id: String, _status: SessionStatus) -> Result<(), AuthError> {
        Ok(())
    }
    fn on_error(&self, error: AuthError) -> Result<(), AuthError> {
        self.errors.lock().unwrap().push(error);
        // A listener that throws must not stop the SDK.
        Err(AuthError::Platform {
            detail: "listener threw".into(),
        })
    }
    fn on_closed(&self) -> Result<(), AuthError> {
        self.closed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn listen_reports_errors_keeps_retrying_and_cancels() {
    let dead = dead_server();
    let f = fixture(&dead, 1_800_000_000);
    import_vector_account(
        &f,
        &dead,
        read_vector("challenge_valid.json")["public_key"]
            .as_str()
            .unwrap(),
    );
    let recorder = Arc::new(Recorder::default());
    let handle = f.auth.listen(None, recorder.clone()).unwrap();
    let start = Instant::now();
    while recorder.errors.lock().unwrap().len() < 2 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let errors = recorder.errors.lock().unwrap().clone();
    assert!(
        errors.len() >= 2,
        "expected a failure and a retry, got {errors:?}"
    );
    assert!(
        errors
            .iter()
            .all(|e| matches!(e, AuthError::Network { .. })),
        "{errors:?}"
    );
    assert!(
        handle.is_active(),
        "transient errors must not stop listening"
    );
    handle.cancel();
    handle.cancel(); // idempotent
    assert!(!handle.is_active());
    let after = recorder.errors.lock().unwrap().len();
    std::thread::sleep(Duration::from_millis(2500));
    // `cancel` documents that one callback already under way may still complete.
    let late = recorder.errors.lock().unwrap().len() - after;
    assert!(late <= 1, "{late} callbacks after cancel");
    assert_eq!(
        recorder.closed.load(Ordering::SeqCst),
        0,
        "on_closed after cancel"
    );
    assert_eq!(recorder.requests.load(Ordering::SeqCst), 0);
}

#[test]
fn listening_for_an_unknown_account_closes_after_the_error() {
    let f = fixture("https://demo.example", 1_800_000_000);
    let recorder = Arc::new(Recorder::default());
    let handle = f
        .auth
        .listen(Some("acc_missing".into()), recorder.clone())
        .unwrap();
    let start = Instant::now();
    while recorder.closed.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(recorder.closed.load(Ordering::SeqCst), 1);
    let errors = recorder.errors.lock().unwrap().clone();
    assert!(
        matches!(errors.as_slice(), [AuthError::InvalidInput { .. }]),
        "{errors:?}"
    );
    assert!(!handle.is_active());
}

#[test]
fn enrollment_links_are_described_without_the_code() {
    let info = describe_enrollment_uri(format!(
        "tapprove://pair?server=https%3A%2F%2Fauth.example.com&sdk_key={SDK_KEY}&user=alice&code=7KQ2-M9XD"
    ))
    .unwrap();
    assert_eq!(
        info,
        EnrollmentInfo {
            server_url: "https://auth.example.com".into(),
            user: "alice".into()
        }
    );
    let err = describe_enrollment_uri("tapprove://pair?user=alice".into()).unwrap_err();
    assert!(matches!(err, AuthError::InvalidInput { .. }), "{err:?}");
    assert!(!sdk_version().is_empty());
}

#[test]
fn push_tokens_are_redacted_in_debug() {
    let push = PushRegistration {
        platform: PushPlatform::Apns,
        token: "abcdef0123".into(),
        environment: Some(PushEnvironment::Sandbox),
    };
    let dbg = format!("{push:?}");
    assert!(!dbg.contains("abcdef0123"), "{dbg}");
}

#[test]
fn every_key_update_vector_through_the_exported_accept_key_update() {
    let mut checked = 0;
    for file in ["key_update_valid.json", "key_update_refused.json"] {
        let doc = read_vector(file);
        let key = doc["public_key"].as_str().unwrap();
        for case in doc["cases"].as_array().unwrap() {
            let name = format!("{file}::{}", case["name"]);
            let f = fixture("https://demo.example", case["now"].as_i64().unwrap());
            import_vector_account(&f, "https://demo.example", key);
            let result = f.auth.accept_key_update(
                VECTOR_ACCOUNT.into(),
                case["token"].as_str().unwrap().into(),
            );
            let pinned = f.auth.accounts().unwrap()[0].service_key.clone();
            let expect = &case["expect"];
            if expect["valid"].as_bool().unwrap() {
                let new_key = expect["claims"]["new_key"].as_str().unwrap();
                let account = result.unwrap_or_else(|e| panic!("{name}: {e:?}"));
                assert_eq!(account.service_key, new_key, "{name}");
                assert_eq!(pinned, new_key, "{name}");
            } else {
                match result {
                    Err(AuthError::KeyUpdateRefused { code, detail }) => {
                        assert_eq!(Some(code.as_str()), expect["error"].as_str(), "{name}");
                        assert!(detail.contains("refused"), "{name}: {detail}");
                    }
                    other => panic!("{name}: {other:?}"),
                }
                assert_eq!(pinned, key, "{name}: the pinned key is kept");
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked}");
}

/// A Kotlin/Swift-style verifier: answers from a script, or throws.
struct ScriptedVerifier(Mutex<Option<VerifyResult>>, AtomicUsize);

impl UserVerifier for ScriptedVerifier {
    fn verify(&self, reason: String) -> Result<VerifyResult, AuthError> {
        assert!(reason.contains("Demo Bank"), "{reason}");
        self.1.fetch_add(1, Ordering::SeqCst);
        (*self.0.lock().unwrap()).ok_or(AuthError::Platform {
            detail: "BiometricPrompt crashed".into(),
        })
    }
}

async fn respond_code(f: &Fixture, id: &str, code: &str) -> Result<RespondOutcome, AuthError> {
    f.auth
        .respond(
            id.to_owned(),
            Decision::Approve {
                presence_answer: Some(code.into()),
            },
            None,
        )
        .await
}

#[tokio::test]
async fn typed_codes_and_user_verification_through_the_exported_api() {
    let doc = read_vector("challenge_valid.json");
    let case = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "entry_6_digits_uv_required")
        .unwrap()
        .clone();
    let dead = dead_server();
    let f = fixture(&dead, case["now"].as_i64().unwrap());
    import_vector_account(&f, &dead, doc["public_key"].as_str().unwrap());
    let req = f
        .auth
        .handle_push(apns(case["token"].as_str().unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!(req.presence_mode, PresenceMode::Entry);
    assert_eq!(req.code_length, Some(6));
    assert_eq!(req.user_verification, Some(UserVerification::Required));
    assert!(
        matches!(respond_code(&f, &req.id, "12345").await, Err(AuthError::InvalidInput { detail }) if detail.contains("6-digit"))
    );
    assert!(matches!(
        respond_code(&f, &req.id, "123456").await,
        Err(AuthError::UserVerification {
            reason: UvFailure::Unavailable,
            ..
        })
    ));
    let v = Arc::new(ScriptedVerifier(
        Mutex::new(Some(VerifyResult::Cancelled)),
        AtomicUsize::new(0),
    ));
    f.auth.set_user_verifier(Some(v.clone()));
    assert!(matches!(
        respond_code(&f, &req.id, "123456").await,
        Err(AuthError::UserVerification {
            reason: UvFailure::Cancelled,
            ..
        })
    ));
    *v.0.lock().unwrap() = None; // the app's prompt throws
    assert!(matches!(
        respond_code(&f, &req.id, "123456").await,
        Err(AuthError::UserVerification {
            reason: UvFailure::Failed,
            detail
        }) if detail.contains("BiometricPrompt crashed")
    ));
    // Verified: the answer is signed and sent (here to a dead port).
    *v.0.lock().unwrap() = Some(VerifyResult::Verified {
        method: UvMethod::Biometric,
    });
    assert!(matches!(
        respond_code(&f, &req.id, "123456").await,
        Err(AuthError::Network { .. })
    ));
    assert_eq!(v.1.load(Ordering::SeqCst), 3);
}
