//! `handle_push_data`: the FCM data map (`RemoteMessage.getData()`) read directly, with the same
//! verdict as `handle_push` on the equivalent JSON for every shared challenge vector.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;

use support::*;
use tapprove_ffi::*;

/// An FCM data map as the FCM SDK hands it over: every value a string, with members a JSON
/// encoder written by hand tends to get wrong (quotes, backslashes, control characters).
fn fcm_map(token: &str) -> HashMap<String, String> {
    HashMap::from([
        ("tapprove".to_owned(), token.to_owned()),
        ("title".to_owned(), "Log in to \"Demo\\Bank\"?".to_owned()),
        (
            "body".to_owned(),
            "Line one\nline two\t\u{1}\u{7f} é ✓".to_owned(),
        ),
    ])
}

#[test]
fn every_challenge_vector_gives_the_same_verdict_as_the_json_payload() {
    let mut files: Vec<_> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("challenge_") && n.ends_with(".json"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "vectors missing: {files:?}");
    let (mut valid, mut invalid) = (0, 0);
    for file in files {
        let doc = read_vector(&file);
        let key = doc["public_key"].as_str().unwrap();
        for case in doc["cases"].as_array().unwrap() {
            let name = format!("{file}::{}", case["name"]);
            let token = case["token"].as_str().unwrap();
            // Two fresh devices: answering state must not carry over between the two reads.
            let by_map = fixture("https://demo.example", case["now"].as_i64().unwrap());
            import_vector_account(&by_map, "https://demo.example", key);
            let by_json = fixture("https://demo.example", case["now"].as_i64().unwrap());
            import_vector_account(&by_json, "https://demo.example", key);

            let from_map = by_map.auth.handle_push_data(fcm_map(token));
            let from_json = by_json.auth.handle_push(fcm(token));
            assert_eq!(from_map, from_json, "{name}");
            if case["expect"]["valid"].as_bool().unwrap() {
                let req = from_map.unwrap().expect("ours");
                assert_eq!(req.id, case["expect"]["claims"]["session_id"], "{name}");
                valid += 1;
            } else {
                assert!(from_map.is_err(), "{name}: accepted an invalid challenge");
                invalid += 1;
            }
        }
    }
    assert!(
        valid >= 1 && invalid >= 5,
        "valid {valid}, invalid {invalid}"
    );
}

#[test]
fn a_map_without_the_tapprove_member_is_not_ours() {
    let f = fixture("https://demo.example", 1_800_000_000);
    assert_eq!(f.auth.handle_push_data(HashMap::new()), Ok(None));
    let chat = HashMap::from([
        ("type".to_owned(), "chat".to_owned()),
        ("text".to_owned(), "{\"tapprove\":\"a.b.c\"}".to_owned()),
    ]);
    assert_eq!(f.auth.handle_push_data(chat), Ok(None));
}

#[test]
fn a_tapprove_member_that_is_not_a_challenge_is_an_invalid_notification() {
    let f = fixture("https://demo.example", 1_800_000_000);
    for token in ["", "not-a-jws", "a.b.c", "\"}{"] {
        let err = f
            .auth
            .handle_push_data(HashMap::from([("tapprove".to_owned(), token.to_owned())]))
            .unwrap_err();
        assert!(
            matches!(err, AuthError::InvalidNotification { .. }),
            "{token:?}: {err:?}"
        );
    }
}
