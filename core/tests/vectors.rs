//! The shared challenge vectors (tests/vectors/*.json) through `Authenticator::handle_push`,
//! wrapped in APNs and FCM payloads, with an account pinned to each vector's public key and
//! the clock set to the case's `now`.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use support::FakeClock;
use tapprove_core::*;
use tapprove_protocol::Es256Signer as _;

fn vector_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

const VECTOR_ACCOUNT: &str = "acc_01JDEMO0000000000000000000";

/// An authenticator with one account `account_id`, pinned to `service_key`, at time `now`.
fn authenticator(account_id: &str, service_key: PublicKey, now: i64) -> Authenticator {
    let store = Arc::new(MemoryStore::new());
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    let device_key = signer.create_key("vector-key").unwrap();
    let config = Config::new("https://demo.example", "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA").unwrap();
    let auth = Authenticator::with_clock(config, store, signer, FakeClock::new(now)).unwrap();
    auth.import_account(AccountRecord {
        retiring_key: None,
        revoked_at: None,
        vapid_public_key: None,
        user_verification: None,
        id: account_id.into(),
        project_id: "prj_demo".into(),
        project_name: "Demo Bank".into(),
        user: "alice".into(),
        server_url: "https://demo.example".into(),
        sdk_key: "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA".into(),
        service_key,
        key_alias: "vector-key".into(),
        device_key,
        clock_offset: 0,
        paired_at: now,
    })
    .unwrap();
    auth
}

fn payloads(token: &str) -> [String; 2] {
    [
        json!({"aps": {"alert": {"title": "Log in?", "body": "Someone is signing in."}, "category": "TAPPROVE_LOGIN", "mutable-content": 1}, "tapprove": token}).to_string(),
        json!({"tapprove": token, "title": "Log in?", "body": "Someone is signing in."}).to_string(),
    ]
}

/// What `handle_push` must report for each protocol error code.
fn matches_code(err: &CoreError, code: &str) -> bool {
    match code {
        "bad_signature" => matches!(err, CoreError::BadSignature),
        "expired" => matches!(err, CoreError::Expired),
        "unsupported_version" => matches!(err, CoreError::UpdateRequired { .. }),
        "malformed" | "invalid" | "unsupported_header" | "oversized" | "not_yet_valid" => {
            matches!(err, CoreError::InvalidPayload { .. })
        }
        other => panic!("unknown vector error code {other}"),
    }
}

#[test]
fn every_challenge_vector_through_handle_push() {
    let mut checked = 0;
    for file in vector_files() {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        if doc["kind"] != "challenge" {
            continue;
        }
        let key = PublicKey::from_base64url(doc["public_key"].as_str().unwrap()).unwrap();
        for case in doc["cases"].as_array().unwrap() {
            let name = format!(
                "{}::{}",
                file.file_name().unwrap().to_string_lossy(),
                case["name"]
            );
            let token = case["token"].as_str().unwrap();
            let now = case["now"].as_i64().unwrap();
            assert_eq!(case["skew_seconds"].as_i64(), Some(SKEW_SECONDS), "{name}");
            let auth = authenticator(VECTOR_ACCOUNT, key.clone(), now);
            for payload in payloads(token) {
                let result = auth.handle_push(&payload);
                let expect = &case["expect"];
                if expect["valid"].as_bool().unwrap() {
                    let req = result
                        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
                        .expect("ours");
                    let claims = &expect["claims"];
                    assert_eq!(req.id, claims["session_id"].as_str().unwrap(), "{name}");
                    assert_eq!(
                        req.account_id,
                        claims["account_id"].as_str().unwrap(),
                        "{name}"
                    );
                    assert_eq!(req.user, claims["user"].as_str().unwrap(), "{name}");
                    assert_eq!(req.title, claims["title"].as_str().unwrap(), "{name}");
                    assert_eq!(req.body, claims["body"].as_str().unwrap(), "{name}");
                    assert_eq!(
                        serde_json::to_value(&req.context).unwrap(),
                        claims["context"],
                        "{name}"
                    );
                    assert_eq!(
                        serde_json::to_value(req.presence_mode).unwrap(),
                        claims["presence"]["mode"],
                        "{name}"
                    );
                    let options = claims["presence"]["options"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|o| o.as_str().unwrap().to_owned())
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default();
                    assert_eq!(req.options, options, "{name}");
                    assert_eq!(
                        req.code_length.map(u64::from),
                        claims["presence"]["length"].as_u64(),
                        "{name}"
                    );
                    assert_eq!(
                        req.user_verification
                            .map(|u| serde_json::to_value(u).unwrap()),
                        claims.get("user_verification").cloned(),
                        "{name}"
                    );
                    assert_eq!(req.issued_at, claims["iat"].as_i64().unwrap(), "{name}");
                    assert_eq!(req.expires_at, claims["exp"].as_i64().unwrap(), "{name}");
                } else {
                    let code = expect["error"].as_str().unwrap();
                    match result {
                        Err(e) => {
                            assert!(matches_code(&e, code), "{name}: expected {code}, got {e:?}")
                        }
                        Ok(r) => panic!("{name}: expected {code}, got {r:?}"),
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 2 * 25, "only {checked} checks");
}

/// The sealed vectors (tests/vectors/sealed_*.json) through `handle_push`, in APNs and FCM
/// payloads of the sealed shape, with the vector's push key imported for the account: opened,
/// then verified like any challenge; one that does not open is `NotDecryptable`.
#[test]
fn every_sealed_vector_through_handle_push() {
    use base64::Engine as _;
    let mut checked = 0;
    for file in vector_files() {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        if doc["kind"] != "sealed" {
            continue;
        }
        let key = PublicKey::from_base64url(doc["public_key"].as_str().unwrap()).unwrap();
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(doc["test_push_private_key"].as_str().unwrap())
            .unwrap();
        let push_key =
            tapprove_protocol::sealed::PushSecretKey::from_secret_bytes(&secret).unwrap();
        for case in doc["cases"].as_array().unwrap() {
            let name = format!(
                "{}::{}",
                file.file_name().unwrap().to_string_lossy(),
                case["name"]
            );
            let auth = authenticator(VECTOR_ACCOUNT, key.clone(), case["now"].as_i64().unwrap());
            auth.import_push_key(VECTOR_ACCOUNT, &push_key).unwrap();
            let (sealed, account) = (&case["sealed"], &case["account"]);
            let payloads = [
                json!({"aps": {"alert": {"title": "Login request", "body": "Open to review a sign-in"},
                    "category": "TAPPROVE_LOGIN", "mutable-content": 1},
                    "tapprove_sealed": sealed, "account": account}),
                json!({"tapprove_sealed": sealed, "account": account,
                    "title": "Login request", "body": "Open to review a sign-in"}),
            ];
            for payload in payloads {
                let result = auth.handle_push(&payload.to_string());
                let expect = &case["expect"];
                if expect["valid"].as_bool().unwrap() {
                    let req = result
                        .unwrap_or_else(|e| panic!("{name}: {e:?}"))
                        .expect("ours");
                    let claims = &expect["claims"];
                    assert_eq!(req.id, claims["session_id"].as_str().unwrap(), "{name}");
                    assert_eq!(req.user, claims["user"].as_str().unwrap(), "{name}");
                    assert_eq!(req.title, claims["title"].as_str().unwrap(), "{name}");
                    assert_eq!(
                        serde_json::to_value(&req.context).unwrap(),
                        claims["context"],
                        "{name}"
                    );
                } else {
                    let code = expect["error"].as_str().unwrap();
                    let ok = match (&result, code) {
                        (Err(CoreError::NotDecryptable { account_id, .. }), "not_decryptable") => {
                            account_id == VECTOR_ACCOUNT
                        }
                        (Err(e), code) if code != "not_decryptable" => matches_code(e, code),
                        _ => false,
                    };
                    assert!(ok, "{name}: expected {code}, got {result:?}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 2 * 13, "only {checked} sealed checks");
}

/// Without its push key the device cannot open a sealed push: a typed refusal, not "not ours".
#[test]
fn a_sealed_push_without_the_key_is_refused() {
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(
            vector_files()
                .into_iter()
                .find(|f| f.ends_with("sealed_valid.json"))
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let key = PublicKey::from_base64url(doc["public_key"].as_str().unwrap()).unwrap();
    let case = &doc["cases"][0];
    let auth = authenticator(VECTOR_ACCOUNT, key, case["now"].as_i64().unwrap());
    let payload =
        json!({"tapprove_sealed": case["sealed"], "account": case["account"]}).to_string();
    assert!(matches!(
        auth.handle_push(&payload),
        Err(CoreError::NotDecryptable { .. })
    ));
    // For an account this device does not have: unknown, as for readable pushes.
    let payload = json!({"tapprove_sealed": case["sealed"], "account": "acc_NOT_HERE"}).to_string();
    assert!(matches!(
        auth.handle_push(&payload),
        Err(CoreError::UnknownAccount { .. })
    ));
}

#[test]
fn every_key_update_vector_through_accept_key_update() {
    let mut checked = 0;
    for file in vector_files() {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        if doc["kind"] != "key_update" {
            continue;
        }
        let key = PublicKey::from_base64url(doc["public_key"].as_str().unwrap()).unwrap();
        for case in doc["cases"].as_array().unwrap() {
            let name = format!(
                "{}::{}",
                file.file_name().unwrap().to_string_lossy(),
                case["name"]
            );
            let auth = authenticator(VECTOR_ACCOUNT, key.clone(), case["now"].as_i64().unwrap());
            let result = auth.accept_key_update(VECTOR_ACCOUNT, case["token"].as_str().unwrap());
            let expect = &case["expect"];
            let pinned = auth.accounts().unwrap()[0].service_key.clone();
            if expect["valid"].as_bool().unwrap() {
                let account = result.unwrap_or_else(|e| panic!("{name}: {e:?}"));
                let new_key = expect["claims"]["new_key"].as_str().unwrap();
                assert_eq!(account.service_key.to_base64url(), new_key, "{name}");
                assert_eq!(pinned.to_base64url(), new_key, "{name}");
            } else {
                match result {
                    Err(CoreError::KeyUpdateRefused { code, .. }) => {
                        assert_eq!(Some(code.as_str()), expect["error"].as_str(), "{name}")
                    }
                    other => panic!("{name}: {other:?}"),
                }
                assert_eq!(pinned, key, "{name}: the pinned key is kept");
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} key update cases");
}

#[test]
fn valid_vectors_for_another_account_are_unknown_account() {
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/challenge_valid.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let key = PublicKey::from_base64url(doc["public_key"].as_str().unwrap()).unwrap();
    for case in doc["cases"].as_array().unwrap() {
        let auth = authenticator(
            "acc_someone_else",
            key.clone(),
            case["now"].as_i64().unwrap(),
        );
        for payload in payloads(case["token"].as_str().unwrap()) {
            match auth.handle_push(&payload) {
                Err(CoreError::UnknownAccount { account_id }) => {
                    assert_eq!(account_id, VECTOR_ACCOUNT)
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn valid_vectors_expire_with_time_and_skew() {
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/challenge_valid.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let key = PublicKey::from_base64url(doc["public_key"].as_str().unwrap()).unwrap();
    let case = &doc["cases"][0];
    let token = case["token"].as_str().unwrap();
    let exp = case["expect"]["claims"]["exp"].as_i64().unwrap();
    let iat = case["expect"]["claims"]["iat"].as_i64().unwrap();
    let [apns, _] = payloads(token);
    // Within the skew allowance on both sides: accepted.
    for now in [iat - SKEW_SECONDS, exp + SKEW_SECONDS] {
        assert!(
            authenticator(VECTOR_ACCOUNT, key.clone(), now)
                .handle_push(&apns)
                .unwrap()
                .is_some(),
            "{now}"
        );
    }
    assert!(matches!(
        authenticator(VECTOR_ACCOUNT, key.clone(), exp + SKEW_SECONDS + 1).handle_push(&apns),
        Err(CoreError::Expired)
    ));
    assert!(matches!(
        authenticator(VECTOR_ACCOUNT, key.clone(), iat - SKEW_SECONDS - 1).handle_push(&apns),
        Err(CoreError::InvalidPayload { .. })
    ));
    // A device clock 10 minutes slow, corrected by the offset learnt at pairing.
    let auth = authenticator(VECTOR_ACCOUNT, key.clone(), exp + 600);
    assert!(matches!(auth.handle_push(&apns), Err(CoreError::Expired)));
    let store = Arc::new(MemoryStore::new());
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    let device_key = signer.create_key("k").unwrap();
    let config = Config::new("https://demo.example", "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA").unwrap();
    let auth = Authenticator::with_clock(config, store, signer, FakeClock::new(exp + 600)).unwrap();
    auth.import_account(AccountRecord {
        retiring_key: None,
        revoked_at: None,
        vapid_public_key: None,
        user_verification: None,
        id: VECTOR_ACCOUNT.into(),
        project_id: "p".into(),
        project_name: "P".into(),
        user: "alice".into(),
        server_url: "https://demo.example".into(),
        sdk_key: "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA".into(),
        service_key: key,
        key_alias: "k".into(),
        device_key,
        clock_offset: -600 - (exp - iat),
        paired_at: 0,
    })
    .unwrap();
    assert!(auth.handle_push(&apns).unwrap().is_some());
}

#[test]
fn notifications_that_are_not_ours() {
    let auth = authenticator(
        VECTOR_ACCOUNT,
        tapprove_protocol::SoftwareKey::generate()
            .unwrap()
            .public_key(),
        0,
    );
    for p in [
        r#"{"aps":{"alert":{"title":"Sale!","body":"50% off"}}}"#,
        r#"{"title":"hi","body":"there"}"#,
        "{}",
    ] {
        assert_eq!(auth.handle_push(p).unwrap(), None, "{p}");
    }
    assert!(matches!(
        auth.handle_push("{not json"),
        Err(CoreError::InvalidPayload { .. })
    ));
}
