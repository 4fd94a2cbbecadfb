//! Runs every shared vector in `tests/vectors/` through the Rust implementation.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tapprove_protocol::sealed::{self, PushPublicKey, PushSecretKey};
use tapprove_protocol::{Answer, Challenge, KeyUpdate, ProtocolError, PublicKey};

fn vector_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/vectors exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// A case's `expect`: the claims when valid, else the error code.
fn check_expected(
    name: &str,
    result: &Result<Value, tapprove_protocol::ProtocolError>,
    expect: &Value,
) {
    if expect["valid"].as_bool().expect("valid") {
        assert_eq!(
            result.as_ref().ok(),
            Some(&expect["claims"]),
            "{name}: {result:?}"
        );
    } else {
        let code = result.as_ref().map_err(|e| e.code());
        assert_eq!(code.err(), expect["error"].as_str(), "{name}: {result:?}");
    }
}

#[test]
fn every_vector_passes() {
    let files = vector_files();
    assert!(files.len() >= 8, "expected the vector set, found {files:?}");
    let mut checked = 0;
    for file in files {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
        let key = PublicKey::from_base64url(doc["public_key"].as_str().expect("key")).expect("key");
        if doc["kind"] == "sealed" {
            checked += sealed_cases(&file, &doc, &key);
            continue;
        }
        for case in doc["cases"].as_array().expect("cases") {
            let name = format!("{}::{}", file.display(), case["name"]);
            let token = case["token"].as_str().expect("token");
            let now = case["now"].as_i64().expect("now");
            let skew = case["skew_seconds"].as_i64().expect("skew");
            let result = match doc["kind"].as_str() {
                Some("challenge") => Challenge::verify(token, &key, now, skew)
                    .map(|c| serde_json::to_value(c).expect("json")),
                Some("answer") => Answer::verify(token, &key, now, skew)
                    .map(|a| serde_json::to_value(a).expect("json")),
                Some("key_update") => KeyUpdate::verify(token, &key, now, skew)
                    .map(|u| serde_json::to_value(u).expect("json")),
                other => panic!("{name}: unknown kind {other:?}"),
            };
            check_expected(&name, &result, &case["expect"]);
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} cases");
}

/// A `sealed_*.json` file: open each case with the test push key for the case's account, then
/// verify the challenge. Returns how many cases ran.
fn sealed_cases(file: &std::path::Path, doc: &Value, key: &PublicKey) -> usize {
    let secret = URL_SAFE_NO_PAD
        .decode(doc["test_push_private_key"].as_str().expect("push key"))
        .expect("b64");
    let secret = PushSecretKey::from_secret_bytes(&secret).expect("push key");
    let public =
        PushPublicKey::from_base64url(doc["push_public_key"].as_str().expect("push public key"))
            .expect("push public key");
    assert_eq!(secret.public_key(), public, "{}", file.display());
    let cases = doc["cases"].as_array().expect("cases");
    for case in cases {
        let name = format!("{}::{}", file.display(), case["name"]);
        let account = case["account"].as_str().expect("account");
        let now = case["now"].as_i64().expect("now");
        let skew = case["skew_seconds"].as_i64().expect("skew");
        let result: Result<Value, ProtocolError> =
            sealed::open(&secret, account, case["sealed"].as_str().expect("sealed")).and_then(
                |token| {
                    Challenge::verify(&token, key, now, skew)
                        .map(|c| serde_json::to_value(c).expect("json"))
                },
            );
        check_expected(&name, &result, &case["expect"]);
    }
    cases.len()
}

#[test]
fn the_sealed_vectors_are_there() {
    for name in [
        "sealed_valid.json",
        "sealed_tampered.json",
        "sealed_wrong_account.json",
    ] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/vectors")
            .join(name);
        assert!(path.exists(), "{name} missing");
    }
}
