//! The exported API's additions, through the FFI types with Rust implementations of the
//! foreign traits: accounts that need re-pairing, cancellation with a `CancelToken`, and every
//! value of the protocol's enums reaching the apps as itself (never `Unknown`).

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Read as _;
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::*;
use tapprove_core as core;
use tapprove_ffi::*;

fn import(f: &Fixture, id: &str, server_url: &str) -> Account {
    let alias = format!("key-{id}");
    let key = f.signer.create_key(alias.clone()).unwrap();
    f.auth
        .import_account(AccountImport {
            id: id.into(),
            project_id: "prj_demo".into(),
            project_name: "Demo Bank".into(),
            user: "alice".into(),
            server_url: server_url.into(),
            sdk_key: SDK_KEY.into(),
            // Any valid point: these accounts never verify a challenge.
            service_key: core::PublicKey::from_sec1(&key).unwrap().to_base64url(),
            key_alias: alias,
            paired_at: 1_799_999_000,
        })
        .unwrap()
}

#[test]
fn an_unreadable_account_is_listed_as_needing_repair_and_can_be_removed() {
    let server = dead_server();
    let f = fixture(&server, 1_800_000_000);
    let kept = import(&f, "acc_kept", &server);
    import(&f, "acc_restored", &server);
    import(&f, "acc_other", &server);
    // The restore: two records come back without the key that unlocks them.
    f.store.unreadable.lock().unwrap().extend([
        "account/acc_restored".to_owned(),
        "account/acc_other".to_owned(),
    ]);

    let auth = Authenticator::new(config(&server), f.store.clone(), f.signer.clone())
        .expect("storage trouble never stops construction");
    assert_eq!(auth.accounts().unwrap(), vec![kept]);
    assert_eq!(
        auth.accounts_needing_repair(),
        vec![
            AccountNeedingRepair {
                account_id: "acc_other".into(),
                cause: RepairCause::Unreadable,
            },
            AccountNeedingRepair {
                account_id: "acc_restored".into(),
                cause: RepairCause::Unreadable,
            },
        ]
    );
    auth.forget_account("acc_restored".into()).unwrap();
    assert_eq!(auth.accounts_needing_repair().len(), 1);
    assert!(
        !f.store
            .map
            .lock()
            .unwrap()
            .contains_key("account/acc_restored")
    );
}

#[tokio::test]
async fn unpairing_an_account_needing_repair_removes_it_here_and_says_so() {
    let server = dead_server();
    let f = fixture(&server, 1_800_000_000);
    import(&f, "acc_restored", &server);
    f.store
        .unreadable
        .lock()
        .unwrap()
        .push("account/acc_restored".into());
    let auth = Authenticator::new(config(&server), f.store.clone(), f.signer.clone()).unwrap();
    let err = auth.unpair("acc_restored".into(), None).await.unwrap_err();
    assert!(
        matches!(err, AuthError::UnpairedLocallyOnly { .. }),
        "{err:?}"
    );
    assert!(auth.accounts_needing_repair().is_empty());
    assert!(auth.accounts().unwrap().is_empty());
}

#[tokio::test]
async fn a_cancel_token_ends_a_call_whose_service_never_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (closed_tx, closed_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut buf = [0u8; 8192];
        let _ = socket.read(&mut buf);
        // Never answer; report when the client's end closes.
        let eof = matches!(socket.read(&mut buf), Ok(0) | Err(_));
        let _ = closed_tx.send(eof);
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let f = fixture(&url, now);
    let account = import(&f, "acc_hang", &url);
    let token = CancelToken::new();
    let canceller = token.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        canceller.cancel();
    });
    let started = Instant::now();
    let err = f
        .auth
        .pending(Some(account.id), Some(token.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Cancelled { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert!(token.is_cancelled());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(closed_rx.recv_timeout(Duration::from_secs(5)).unwrap());
}

// ------------------------------------------------ every wire value reaches the apps
//
// Each `every_*` list is checked against an exhaustive match (`index_*`): a variant added to
// the protocol fails to compile here until it is listed, and a listed variant that the
// bindings map to `Unknown` (or to another variant's value) fails the test.

fn check_list<T: Copy + std::fmt::Debug>(list: &[T], index: fn(T) -> usize) {
    let mut seen: Vec<usize> = list.iter().map(|v| index(*v)).collect();
    seen.sort();
    assert_eq!(seen, (0..list.len()).collect::<Vec<_>>(), "{list:?}");
}

fn index_reason(r: core::SessionReason) -> usize {
    use core::SessionReason::*;
    match r {
        Approved => 0,
        WrongNumber => 1,
        UserDenied => 2,
        FraudReported => 3,
        Superseded => 4,
        CanceledByRelyingParty => 5,
        Timeout => 6,
        NoDevice => 7,
        DeliveryFailed => 8,
        DeviceRevoked => 9,
        Unknown => 10,
    }
}

fn every_reason() -> Vec<core::SessionReason> {
    use core::SessionReason::*;
    vec![
        Approved,
        WrongNumber,
        UserDenied,
        FraudReported,
        Superseded,
        CanceledByRelyingParty,
        Timeout,
        NoDevice,
        DeliveryFailed,
        DeviceRevoked,
        Unknown,
    ]
}

fn index_status(s: core::SessionStatus) -> usize {
    use core::SessionStatus::*;
    match s {
        Sent => 0,
        Accepted => 1,
        Rejected => 2,
        Expired => 3,
        Canceled => 4,
        Error => 5,
    }
}

fn every_status() -> Vec<core::SessionStatus> {
    use core::SessionStatus::*;
    vec![Sent, Accepted, Rejected, Expired, Canceled, Error]
}

fn index_presence(m: core::PresenceMode) -> usize {
    match m {
        core::PresenceMode::Choose => 0,
        core::PresenceMode::Entry => 1,
        core::PresenceMode::None => 2,
        core::PresenceMode::Display => 3,
    }
}

fn index_uv(u: core::UserVerification) -> usize {
    match u {
        core::UserVerification::Required => 0,
        core::UserVerification::Preferred => 1,
    }
}

fn index_uv_method(m: core::UvMethod) -> usize {
    match m {
        core::UvMethod::Biometric => 0,
        core::UvMethod::DeviceCredential => 1,
        core::UvMethod::AppPassphrase => 2,
    }
}

fn index_deny(d: core::DenyReason) -> usize {
    match d {
        core::DenyReason::NotMe => 0,
        core::DenyReason::Cancelled => 1,
    }
}

fn index_platform(p: core::PushPlatform) -> usize {
    match p {
        core::PushPlatform::Apns => 0,
        core::PushPlatform::Fcm => 1,
        core::PushPlatform::None => 2,
    }
}

fn index_environment(e: core::PushEnvironment) -> usize {
    match e {
        core::PushEnvironment::Production => 0,
        core::PushEnvironment::Sandbox => 1,
    }
}

fn index_protection(k: core::KeyProtection) -> usize {
    match k {
        core::KeyProtection::Hardware => 0,
        core::KeyProtection::Software => 1,
        core::KeyProtection::Unknown => 2,
    }
}

/// Every FFI value is a distinct value (so no two protocol values collapse into one).
fn distinct<T: PartialEq + std::fmt::Debug>(values: &[T]) {
    for (i, a) in values.iter().enumerate() {
        for b in &values[i + 1..] {
            assert_ne!(a, b, "two protocol values reach the apps as one");
        }
    }
}

#[test]
fn every_protocol_enum_value_reaches_the_apps_as_itself() {
    // Service → app.
    let reasons = every_reason();
    check_list(&reasons, index_reason);
    let ffi: Vec<SessionReason> = reasons.iter().map(|r| (*r).into()).collect();
    for (wire, app) in reasons.iter().zip(&ffi) {
        assert_eq!(
            *app == SessionReason::Unknown,
            *wire == core::SessionReason::Unknown,
            "{wire:?} reaches the apps as {app:?}"
        );
        assert_eq!(format!("{wire:?}"), format!("{app:?}"));
    }
    distinct(&ffi);

    let statuses = every_status();
    check_list(&statuses, index_status);
    let ffi: Vec<SessionStatus> = statuses.iter().map(|s| (*s).into()).collect();
    for (wire, app) in statuses.iter().zip(&ffi) {
        assert_eq!(format!("{wire:?}"), format!("{app:?}"));
    }
    distinct(&ffi);

    let modes = [
        core::PresenceMode::Choose,
        core::PresenceMode::Entry,
        core::PresenceMode::None,
        core::PresenceMode::Display,
    ];
    check_list(&modes, index_presence);
    let ffi: Vec<PresenceMode> = modes.iter().map(|m| (*m).into()).collect();
    distinct(&ffi);

    let uvs = [
        core::UserVerification::Required,
        core::UserVerification::Preferred,
    ];
    check_list(&uvs, index_uv);
    let ffi: Vec<UserVerification> = uvs.iter().map(|u| (*u).into()).collect();
    distinct(&ffi);

    let protections = [
        core::KeyProtection::Hardware,
        core::KeyProtection::Software,
        core::KeyProtection::Unknown,
    ];
    check_list(&protections, index_protection);
    for wire in protections {
        let app: KeyProtection = wire.into();
        assert_eq!(core::KeyProtection::from(app), wire, "round trip");
    }

    // App → service: every protocol value can be produced from the apps.
    let methods = [
        UvMethod::Biometric,
        UvMethod::DeviceCredential,
        UvMethod::AppPassphrase,
    ];
    let wire: Vec<core::UvMethod> = methods.iter().map(|m| (*m).into()).collect();
    check_list(&wire, index_uv_method);

    let denials: Vec<core::DenyReason> = [DenyReason::NotMe, DenyReason::Cancelled]
        .into_iter()
        .map(
            |reason| match core::Decision::from(Decision::Deny { reason }) {
                core::Decision::Deny { reason } => reason,
                core::Decision::Approve { .. } => panic!("a denial became an approval"),
            },
        )
        .collect();
    check_list(&denials, index_deny);

    let registrations: Vec<core::PushRegistration> = [
        (PushPlatform::Apns, Some(PushEnvironment::Production)),
        (PushPlatform::Fcm, Some(PushEnvironment::Sandbox)),
        (PushPlatform::None, None),
    ]
    .into_iter()
    .map(|(platform, environment)| {
        PushRegistration {
            platform,
            token: String::new(),
            environment,
        }
        .into()
    })
    .collect();
    let platforms: Vec<_> = registrations.iter().map(|r| r.platform).collect();
    check_list(&platforms, index_platform);
    let environments: Vec<_> = registrations.iter().filter_map(|r| r.environment).collect();
    check_list(&environments, index_environment);
}
