//! Runs every shared vector in `tests/vectors/` through the Rust implementation.

use std::path::PathBuf;

use serde_json::Value;
use tapprove_protocol::{Answer, Challenge, KeyUpdate, PublicKey};

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

#[test]
fn every_vector_passes() {
    let files = vector_files();
    assert!(files.len() >= 8, "expected the vector set, found {files:?}");
    let mut checked = 0;
    for file in files {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
        let key = PublicKey::from_base64url(doc["public_key"].as_str().expect("key")).expect("key");
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
            let expect = &case["expect"];
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
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} cases");
}
