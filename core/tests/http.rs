//! The core's HTTP behaviour over real loopback HTTP, against the protocol stub in
//! `support/` (NOT the real service: see the comment there).

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt as _;
use support::{FakeClock, PAIRING_CODE, SDK_KEY, Stub, real_now};
use tapprove_core::*;

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

fn apns(token: &str) -> String {
    serde_json::json!({
        "aps": {"alert": {"title": "Log in?", "body": "Someone is signing in."}, "category": "TAPPROVE_LOGIN", "mutable-content": 1},
        "tapprove": token
    })
    .to_string()
}

#[tokio::test]
async fn pair_pending_respond_accepted() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let push = PushRegistration {
        platform: PushPlatform::Apns,
        token: "ab12".into(),
        environment: Some(PushEnvironment::Sandbox),
    };
    let account = d
        .auth
        .pair("alice", PAIRING_CODE, Some(push.clone()))
        .await
        .unwrap();
    assert_eq!(account.project_name, "Demo Bank");
    assert_eq!(account.user, "alice");
    assert_eq!(account.server_url, stub.url());
    assert_eq!(stub.device(&account.id).unwrap().push, Some(push));
    assert_eq!(d.auth.accounts().unwrap(), vec![account.clone()]);
    // Metadata is in the store, the key is behind the signer (in its own store entry).
    assert_eq!(
        d.store.list_keys(ACCOUNT_PREFIX).unwrap(),
        vec![format!("account/{}", account.id)]
    );
    assert_eq!(d.store.list_keys(DEVICE_KEY_PREFIX).unwrap().len(), 1);
    let record = d
        .store
        .get(&format!("account/{}", account.id))
        .unwrap()
        .unwrap();
    let record: AccountRecord = serde_json::from_slice(record.expose_secret()).unwrap();
    assert_eq!(record.service_key, stub.service_key());

    let (sid, _, code) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    let pending = d.auth.pending(None).await.unwrap();
    assert_eq!(pending.len(), 1);
    let req = &pending[0];
    assert_eq!(
        (req.id.as_str(), req.account_id.as_str()),
        (sid.as_str(), account.id.as_str())
    );
    assert_eq!(req.options, vec!["17", "42", "88"]);
    assert_eq!(req.context.app.as_deref(), Some("Demo Bank"));

    let outcome = d
        .auth
        .respond(&sid, approve(code.as_deref().unwrap()))
        .await
        .unwrap();
    assert!(outcome.is_accepted());
    assert_eq!(outcome.reason, Some(SessionReason::Approved));
    assert_eq!(stub.session(&sid).status, SessionStatus::Accepted);

    // Answering twice: typed error, no second network call.
    let calls = stub.answer_calls();
    let again = d.auth.respond(&sid, approve("42")).await;
    assert!(
        matches!(again, Err(CoreError::AlreadyAnswered)),
        "{again:?}"
    );
    assert_eq!(stub.answer_calls(), calls);
    assert!(d.auth.is_answered(&sid));
    // And it no longer shows as pending.
    assert!(d.auth.pending(None).await.unwrap().is_empty());

    // A second authenticator over the same store sees the account.
    let again = device_with_store(&stub, d.store.clone());
    assert_eq!(again.auth.accounts().unwrap(), vec![account]);
}

#[tokio::test]
async fn pair_uri_and_decisions_reach_the_service() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let uri = EnrollmentUri {
        config: stub.config(),
        user: "alice".into(),
        code: PAIRING_CODE.into(),
    }
    .to_uri();
    let account = d.auth.pair_uri(&uri, None).await.unwrap();

    let cases = [
        (
            PresenceMode::Choose,
            approve("17"),
            SessionStatus::Rejected,
            SessionReason::WrongNumber,
        ),
        (
            PresenceMode::Entry,
            approve("42"),
            SessionStatus::Accepted,
            SessionReason::Approved,
        ),
        (
            PresenceMode::None,
            Decision::Approve {
                presence_answer: None,
            },
            SessionStatus::Accepted,
            SessionReason::Approved,
        ),
        (
            PresenceMode::Choose,
            Decision::Deny {
                reason: DenyReason::NotMe,
            },
            SessionStatus::Rejected,
            SessionReason::FraudReported,
        ),
        (
            PresenceMode::Entry,
            Decision::Deny {
                reason: DenyReason::Cancelled,
            },
            SessionStatus::Rejected,
            SessionReason::UserDenied,
        ),
    ];
    for (mode, decision, status, reason) in cases {
        let (sid, token, _) = stub.create_session(&account.id, mode, 120);
        let req = d.auth.handle_push(&stub.apns(&token)).unwrap().unwrap();
        assert_eq!(req.presence_mode, mode);
        let out = d.auth.respond(&sid, decision.clone()).await.unwrap();
        assert_eq!(
            (out.status, out.reason),
            (status, Some(reason)),
            "{mode:?} {decision:?}"
        );
    }
}

#[tokio::test]
async fn local_decision_checks_happen_before_any_network() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let (sid, token, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    d.auth.handle_push(&stub.apns(&token)).unwrap().unwrap();
    let calls = stub.answer_calls();
    let r = d
        .auth
        .respond(
            &sid,
            Decision::Approve {
                presence_answer: None,
            },
        )
        .await;
    assert!(matches!(r, Err(CoreError::PresenceAnswerRequired)), "{r:?}");
    let r = d.auth.respond(&sid, approve("99")).await;
    assert!(
        matches!(r, Err(CoreError::PresenceAnswerNotAmongOptions)),
        "{r:?}"
    );
    assert_eq!(stub.answer_calls(), calls);
    // The request is still answerable after a refused local check.
    assert!(
        d.auth
            .respond(&sid, approve("42"))
            .await
            .unwrap()
            .is_accepted()
    );
}

#[tokio::test]
async fn push_and_poll_of_the_same_challenge_are_one_request() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let (sid, token, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    let pushed = d.auth.handle_push(&stub.apns(&token)).unwrap().unwrap();
    let pushed_twice = d.auth.handle_push(&stub.apns(&token)).unwrap().unwrap();
    assert_eq!(pushed, pushed_twice);
    let polled = d.auth.pending(Some(&account.id)).await.unwrap();
    assert_eq!(polled, vec![pushed]);
    d.auth.respond(&sid, approve("42")).await.unwrap();
    // A late duplicate push is recognised as answered.
    assert!(matches!(
        d.auth.handle_push(&stub.apns(&token)),
        Err(CoreError::AlreadyAnswered)
    ));
}

#[tokio::test]
async fn respond_to_an_unseen_request_reads_pending_first() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let (sid, _, _) = stub.create_session(&account.id, PresenceMode::Entry, 120);
    // A fresh process (e.g. the app opened from a notification action).
    let fresh = device_with_store(&stub, d.store.clone());
    let before = stub.state.pending_calls.load(Ordering::SeqCst);
    assert!(
        fresh
            .auth
            .respond(&sid, approve("42"))
            .await
            .unwrap()
            .is_accepted()
    );
    assert_eq!(stub.state.pending_calls.load(Ordering::SeqCst), before + 1);
    let r = fresh.auth.respond("ses_nope", approve("42")).await;
    assert!(matches!(r, Err(CoreError::UnknownRequest { .. })), "{r:?}");
}

#[tokio::test]
async fn service_conflicts_map_to_typed_errors() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();

    // Answered on another device: 409 → AlreadyAnswered, and remembered.
    let (sid, token, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    d.auth.handle_push(&stub.apns(&token)).unwrap();
    stub.decide_elsewhere(&sid, SessionStatus::Accepted);
    assert!(matches!(
        d.auth.respond(&sid, approve("42")).await,
        Err(CoreError::AlreadyAnswered)
    ));
    let calls = stub.answer_calls();
    assert!(matches!(
        d.auth.respond(&sid, approve("42")).await,
        Err(CoreError::AlreadyAnswered)
    ));
    assert_eq!(stub.answer_calls(), calls);

    // Expired at the service while still inside the local skew allowance: 410 → Expired.
    let (sid, token, _) = stub.create_session(&account.id, PresenceMode::Choose, 1);
    d.auth.handle_push(&stub.apns(&token)).unwrap();
    stub.set_offset(5);
    let r = d.auth.respond(&sid, approve("42")).await;
    assert!(matches!(r, Err(CoreError::Expired)), "{r:?}");
    stub.set_offset(0);
    // It ended unanswered: kept as ended; only "not me" may still be sent.
    let ended = d.auth.ended_requests(Some(&account.id));
    assert_eq!(
        ended
            .iter()
            .map(|e| (e.request.id.as_str(), e.status))
            .collect::<Vec<_>>(),
        vec![(sid.as_str(), SessionStatus::Expired)]
    );
    let calls = stub.answer_calls();
    assert!(matches!(
        d.auth.respond(&sid, approve("42")).await,
        Err(CoreError::RequestEnded {
            status: SessionStatus::Expired
        })
    ));
    assert_eq!(stub.answer_calls(), calls, "refused on the device");
    assert!(d.auth.pending(None).await.unwrap().is_empty());

    // Expired locally (beyond the skew): no network call.
    let (sid, token, _) = stub.create_session(&account.id, PresenceMode::Choose, 30);
    d.auth.handle_push(&stub.apns(&token)).unwrap();
    d.clock.advance(30 + SKEW_SECONDS + 1);
    let calls = stub.answer_calls();
    assert!(matches!(
        d.auth.respond(&sid, approve("42")).await,
        Err(CoreError::Expired)
    ));
    assert_eq!(stub.answer_calls(), calls);
    assert!(
        d.auth
            .ended_requests(None)
            .iter()
            .any(|e| e.request.id == sid)
    );
    // Ten minutes after the end it is gone.
    d.clock.advance(601);
    assert!(d.auth.ended_requests(None).is_empty());
}

#[tokio::test]
async fn pairing_failures_are_typed_and_leave_nothing_behind() {
    let stub = Stub::start().await;
    let d = device(&stub);
    match d.auth.pair("alice", "WRONG-CODE", None).await {
        Err(CoreError::PairingRejected { message }) => {
            assert!(message.contains("did not accept"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(d.auth.accounts().unwrap().is_empty());
    assert!(
        d.store.list_keys("").unwrap().is_empty(),
        "the unused device key is deleted"
    );

    // Right format, unknown to the service.
    let other = Config::new(&stub.url(), "tap_sdk_UNKNOWNunknownUNKNOWNu").unwrap();
    assert!(matches!(
        d.auth.pair_with(other, "alice", PAIRING_CODE, None).await,
        Err(CoreError::InvalidSdkKey)
    ));
    assert!(matches!(
        d.auth.pair("", PAIRING_CODE, None).await,
        Err(CoreError::InvalidConfig { .. })
    ));
    assert!(matches!(
        d.auth.pair("alice", " ", None).await,
        Err(CoreError::InvalidConfig { .. })
    ));
    assert!(matches!(
        d.auth.pair_uri("tapprove://pair?server=x", None).await,
        Err(CoreError::InvalidEnrollmentUri { .. })
    ));

    stub.fail_all(Some((
        426,
        "update_required",
        "Update Demo Bank to keep approving logins.",
    )));
    match d.auth.pair("alice", PAIRING_CODE, None).await {
        Err(CoreError::UpdateRequired { message }) => {
            assert_eq!(message, "Update Demo Bank to keep approving logins.")
        }
        other => panic!("{other:?}"),
    }
    stub.fail_all(Some((429, "rate_limited", "slow down")));
    assert!(matches!(
        d.auth.pair("alice", PAIRING_CODE, None).await,
        Err(CoreError::RateLimited {
            retry_after_seconds: Some(17)
        })
    ));
    stub.fail_all(Some((500, "internal", "database on fire")));
    match d.auth.pair("alice", PAIRING_CODE, None).await {
        Err(CoreError::Service {
            status: 500,
            code,
            message,
        }) => assert_eq!(
            (code.as_str(), message.as_str()),
            ("internal", "database on fire")
        ),
        other => panic!("{other:?}"),
    }
    stub.fail_all(None);
    // A 500 leaves the outcome in doubt: the device key is kept for a retry (retry-safe
    // pairing), and the retry uses it.
    let kept = d.store.list_keys("device-key/").unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(d.store.list_keys("pairing/").unwrap().len(), 1);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    assert_eq!(d.store.list_keys("device-key/").unwrap(), kept);
    assert!(d.store.list_keys("pairing/").unwrap().is_empty());
    d.auth.unpair(&account.id).await.unwrap();
    assert!(d.store.list_keys("").unwrap().is_empty());

    // In doubt again, and the user comes back after the service's repeat window: the kept key
    // is given up (a retry could no longer succeed) and a fresh pairing gets a new key.
    stub.fail_all(Some((500, "internal", "database on fire")));
    assert!(d.auth.pair("alice", PAIRING_CODE, None).await.is_err());
    let doubtful = d.store.list_keys("device-key/").unwrap();
    assert_eq!(doubtful.len(), 1);
    stub.fail_all(None);
    d.clock
        .set(real_now() + tapprove_protocol::api::PAIRING_RETRY_WINDOW + 1);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let now_kept = d.store.list_keys("device-key/").unwrap();
    assert_eq!(now_kept.len(), 1);
    assert_ne!(now_kept, doubtful, "the in-doubt key was given up");
    d.auth.unpair(&account.id).await.unwrap();
    d.clock.set(real_now());

    // Nothing listens: a network error.
    let dead = Config::new("http://127.0.0.1:9", SDK_KEY).unwrap();
    match d.auth.pair_with(dead, "alice", PAIRING_CODE, None).await {
        Err(CoreError::Network { message }) => assert!(!message.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn clock_is_corrected_from_the_service() {
    let stub = Stub::start().await;
    let d = device(&stub);
    // The phone's clock is an hour fast.
    d.clock.set(real_now() + 3600);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let (sid, token, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    // Without correction this challenge would look expired; with it, it is fresh.
    d.auth.handle_push(&stub.apns(&token)).unwrap().unwrap();
    // The request proof and the answer's iat use the corrected time too (the stub checks ±60 s).
    assert_eq!(d.auth.pending(None).await.unwrap().len(), 1);
    assert!(
        d.auth
            .respond(&sid, approve("42"))
            .await
            .unwrap()
            .is_accepted()
    );

    // A new process learns the offset from the stored record, before any network call.
    let fresh = device_with_store(&stub, d.store.clone());
    fresh.clock.set(real_now() + 3600);
    let (_, token, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    fresh.auth.handle_push(&stub.apns(&token)).unwrap().unwrap();

    // The service's clock moves (e.g. the phone was corrected later): the Date header of the
    // next response updates the offset.
    fresh.clock.set(real_now());
    fresh.auth.pending(None).await.unwrap();
    let (_, token, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    fresh.auth.handle_push(&stub.apns(&token)).unwrap().unwrap();
}

#[tokio::test]
async fn push_token_update_and_unpair() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let a1 = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let a2 = d.auth.pair("bob", PAIRING_CODE, None).await.unwrap();
    let reg = PushRegistration {
        platform: PushPlatform::Fcm,
        token: "fcm-token".into(),
        environment: None,
    };
    d.auth.update_push_token(reg.clone()).await.unwrap();
    assert_eq!(stub.device(&a1.id).unwrap().push, Some(reg.clone()));
    assert_eq!(stub.device(&a2.id).unwrap().push, Some(reg));

    d.auth.unpair(&a1.id).await.unwrap();
    assert!(stub.device(&a1.id).is_none());
    assert_eq!(d.auth.accounts().unwrap(), vec![a2.clone()]);
    assert_eq!(d.store.list_keys(DEVICE_KEY_PREFIX).unwrap().len(), 1);
    assert!(matches!(
        d.auth.unpair(&a1.id).await,
        Err(CoreError::UnknownAccount { .. })
    ));

    // Service gone: removed locally anyway, and the error says so.
    stub.fail_all(Some((503, "internal", "maintenance")));
    match d.auth.unpair(&a2.id).await {
        Err(e @ CoreError::UnpairedLocallyOnly { .. }) => {
            assert!(e.to_string().contains("removed from this device"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    assert!(d.auth.accounts().unwrap().is_empty());
    assert!(d.store.list_keys("").unwrap().is_empty());
}

#[tokio::test]
async fn unpaired_on_the_service_is_not_paired() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    stub.forget_device(&account.id);
    assert!(matches!(
        d.auth.pending(Some(&account.id)).await,
        Err(CoreError::NotPaired)
    ));
    // Unpairing an account the service already forgot succeeds.
    d.auth.unpair(&account.id).await.unwrap();
    assert!(matches!(
        d.auth.pending(Some(&account.id)).await,
        Err(CoreError::UnknownAccount { .. })
    ));
}

#[tokio::test]
async fn several_services_in_one_store() {
    let bank = Stub::start_named("Demo Bank").await;
    let shop = Stub::start_named("Demo Shop").await;
    let d = device(&bank);
    let a_bank = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let a_shop = d
        .auth
        .pair_with(shop.config(), "alice", PAIRING_CODE, None)
        .await
        .unwrap();
    assert_eq!(d.auth.accounts().unwrap().len(), 2);
    assert_eq!(a_shop.server_url, shop.url());

    let (bank_sid, bank_token, _) = bank.create_session(&a_bank.id, PresenceMode::Choose, 120);
    let (shop_sid, shop_token, _) = shop.create_session(&a_shop.id, PresenceMode::Choose, 120);
    assert_eq!(
        d.auth
            .handle_push(&bank.apns(&bank_token))
            .unwrap()
            .unwrap()
            .account_id,
        a_bank.id
    );
    assert_eq!(
        d.auth
            .handle_push(&shop.apns(&shop_token))
            .unwrap()
            .unwrap()
            .account_id,
        a_shop.id
    );
    let all = d.auth.pending(None).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(d.auth.pending(Some(&a_shop.id)).await.unwrap().len(), 1);

    // One service down: the other's requests still come through.
    shop.fail_all(Some((502, "internal", "bad gateway")));
    let some = d.auth.pending(None).await.unwrap();
    assert_eq!(
        some.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec![bank_sid.as_str()]
    );
    shop.fail_all(None);

    // A challenge signed by the bank's key but naming the shop account is refused.
    let forged = {
        let c = tapprove_protocol::Challenge::verify_signature(&bank_token, &bank.service_key())
            .unwrap();
        let c = tapprove_protocol::Challenge {
            account_id: a_shop.id.clone(),
            ..c
        };
        c.sign(bank.state.signing_key().as_ref()).unwrap()
    };
    assert!(matches!(
        d.auth.handle_push(&shop.apns(&forged)),
        Err(CoreError::BadSignature)
    ));

    assert!(
        d.auth
            .respond(&shop_sid, approve("42"))
            .await
            .unwrap()
            .is_accepted()
    );
    assert!(
        d.auth
            .respond(&bank_sid, approve("42"))
            .await
            .unwrap()
            .is_accepted()
    );
}

async fn next_event(stream: &mut EventStream) -> Result<RequestEvent, CoreError> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("event in time")
        .expect("stream open")
}

#[tokio::test]
async fn event_stream_delivers_reconnects_and_dedupes() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    let (first, _, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);

    let mut events = d.auth.events(None);
    // Pending on connect.
    match next_event(&mut events).await.unwrap() {
        RequestEvent::Request(r) => assert_eq!(r.id, first),
        other => panic!("{other:?}"),
    }
    // Live.
    while stub.state.event_connects.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (second, _, _) = stub.create_session(&account.id, PresenceMode::Entry, 120);
    match next_event(&mut events).await.unwrap() {
        RequestEvent::Request(r) => assert_eq!(
            (r.id.as_str(), r.presence_mode),
            (second.as_str(), PresenceMode::Entry)
        ),
        other => panic!("{other:?}"),
    }
    // Decided elsewhere.
    stub.decide_elsewhere(&first, SessionStatus::Canceled);
    assert_eq!(
        next_event(&mut events).await.unwrap(),
        RequestEvent::Decided {
            request_id: first.clone(),
            status: SessionStatus::Canceled
        }
    );
    // The service drops the stream; a request arrives meanwhile. After reconnecting, only the
    // new one is delivered (the second is still pending but was already delivered).
    stub.close_streams();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (third, _, _) = stub.create_session(&account.id, PresenceMode::None, 120);
    match next_event(&mut events).await.unwrap() {
        RequestEvent::Request(r) => assert_eq!(r.id, third),
        other => panic!("{other:?}"),
    }
    assert!(stub.state.event_connects.load(Ordering::SeqCst) >= 2);
    // Answering here produces a decided event on the stream.
    d.auth
        .respond(
            &third,
            Decision::Approve {
                presence_answer: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut events).await.unwrap(),
        RequestEvent::Decided {
            request_id: third,
            status: SessionStatus::Accepted
        }
    );
}

#[tokio::test]
async fn event_stream_ends_when_not_paired() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    stub.forget_device(&account.id);
    let mut events = d.auth.events(Some(&account.id));
    assert!(matches!(
        next_event(&mut events).await,
        Err(CoreError::NotPaired)
    ));
    assert!(events.next().await.is_none());
    let mut events = d.auth.events(Some("acc_unknown"));
    assert!(matches!(
        next_event(&mut events).await,
        Err(CoreError::UnknownAccount { .. })
    ));
    assert!(events.next().await.is_none());
}

#[tokio::test]
async fn event_stream_reports_transient_failures_and_recovers() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    stub.fail_all(Some((503, "internal", "restarting")));
    let mut events = d.auth.events(Some(&account.id));
    assert!(matches!(
        next_event(&mut events).await,
        Err(CoreError::Service { status: 503, .. })
    ));
    stub.fail_all(None);
    let (sid, _, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    match next_event(&mut events).await.unwrap() {
        RequestEvent::Request(r) => assert_eq!(r.id, sid),
        other => panic!("{other:?}"),
    }
}

/// An account paired with a push key gets sealed pushes only: a readable payload for it (made
/// by someone else, or downgraded on the way) is refused, while the same challenge sealed
/// opens and verifies.
#[tokio::test]
async fn a_readable_push_is_refused_for_an_account_with_a_push_key() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let account = d.auth.pair("alice", PAIRING_CODE, None).await.unwrap();
    assert!(stub.device(&account.id).unwrap().push_key.is_some());
    let (sid, token, _) = stub.create_session(&account.id, PresenceMode::Choose, 120);
    let refused = d.auth.handle_push(&apns(&token));
    assert!(
        matches!(&refused, Err(CoreError::InvalidPayload { message }) if message.contains("sealed")),
        "{refused:?}"
    );
    assert!(!d.auth.is_answered(&sid));
    let sealed = d.auth.handle_push(&stub.apns(&token)).unwrap().unwrap();
    assert_eq!(sealed.id, sid);
}

/// Apps call `update_push_token` on every start: only an account whose service does not have
/// this registration yet gets a request, and an account whose service lost its token (the
/// `push_token_missing` flag on `pending`) gets it again without the app doing anything.
#[tokio::test]
async fn the_push_token_is_sent_only_when_it_changed_or_was_lost() {
    let stub = Stub::start().await;
    let d = device(&stub);
    let a = PushRegistration {
        platform: PushPlatform::Fcm,
        token: "fcm-a".into(),
        environment: None,
    };
    let b = PushRegistration {
        token: "fcm-b".into(),
        ..a.clone()
    };
    let alice = d
        .auth
        .pair("alice", PAIRING_CODE, Some(a.clone()))
        .await
        .unwrap();
    d.auth.update_push_token(a.clone()).await.unwrap();
    assert_eq!(stub.push_token_calls(), 0, "pairing already sent it");
    let bob = d.auth.pair("bob", PAIRING_CODE, None).await.unwrap();
    d.auth.update_push_token(a.clone()).await.unwrap();
    assert_eq!(stub.push_token_calls(), 1, "only bob's service lacked it");
    d.auth.update_push_token(a.clone()).await.unwrap();
    assert_eq!(stub.push_token_calls(), 1);
    d.auth.update_push_token(b.clone()).await.unwrap();
    assert_eq!(
        stub.push_token_calls(),
        3,
        "a new token goes to every account"
    );
    assert_eq!(stub.device(&bob.id).unwrap().push, Some(b.clone()));

    // Alice's service lost it: the next pending sends it again, once.
    stub.lose_push_token(&alice.id);
    d.auth.pending(Some(&alice.id)).await.unwrap();
    assert_eq!(stub.push_token_calls(), 4);
    assert_eq!(stub.device(&alice.id).unwrap().push, Some(b.clone()));
    d.auth.pending(None).await.unwrap();
    assert_eq!(stub.push_token_calls(), 4);
    // A second authenticator over the same store (the app after a restart) remembers too.
    let again = Authenticator::new(
        stub.config(),
        d.store.clone(),
        Arc::new(SoftwareSigner::new(d.store.clone())),
    )
    .unwrap();
    again.update_push_token(b).await.unwrap();
    assert_eq!(stub.push_token_calls(), 4);
}
