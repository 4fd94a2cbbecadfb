//! Property tests of the protocol crate: parsers never panic, sign → verify round trips for
//! arbitrary valid challenges, answers and request proofs, and any single-byte change of a
//! valid token is refused.

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use proptest::prelude::*;
use tapprove_protocol::jws::Unverified;
use tapprove_protocol::request_auth::RequestProof;
use tapprove_protocol::{
    Answer, Challenge, Context, Decision, DenyReason, Es256Signer, Presence, PresenceMode,
    PublicKey, SoftwareKey,
};

fn service_key() -> &'static SoftwareKey {
    static KEY: OnceLock<SoftwareKey> = OnceLock::new();
    KEY.get_or_init(|| SoftwareKey::generate().unwrap())
}

fn device_key() -> &'static SoftwareKey {
    static KEY: OnceLock<SoftwareKey> = OnceLock::new();
    KEY.get_or_init(|| SoftwareKey::generate().unwrap())
}

fn id(prefix: &'static str) -> impl Strategy<Value = String> {
    "[A-Za-z0-9_]{1,26}".prop_map(move |s| format!("{prefix}{s}"))
}

fn opt_text(max: usize) -> impl Strategy<Value = Option<String>> {
    proptest::option::of(proptest::string::string_regex(&format!("\\PC{{0,{max}}}")).unwrap())
}

fn presence() -> impl Strategy<Value = Presence> {
    prop_oneof![
        proptest::collection::hash_set("[0-9A-Za-z]{1,8}", 3).prop_map(|set| Presence {
            code: None,
            length: None,
            mode: PresenceMode::Choose,
            options: set.into_iter().collect()
        }),
        Just(Presence {
            code: None,
            length: None,
            mode: PresenceMode::Entry,
            options: vec![]
        }),
        Just(Presence {
            code: None,
            length: None,
            mode: PresenceMode::None,
            options: vec![]
        }),
        "[0-9]{6,12}".prop_map(|code| Presence {
            code: Some(code),
            length: None,
            mode: PresenceMode::Display,
            options: vec![]
        }),
    ]
}

prop_compose! {
    /// Any challenge that follows the field rules of docs/PROTOCOL.md §3.
    pub fn valid_challenge()(
        session_id in id("ses_"),
        account_id in id("acc_"),
        user in "\\PC{0,40}",
        title in "\\PC{0,120}",
        body in "\\PC{0,300}",
        app in opt_text(30), ip in opt_text(39), location in opt_text(40), user_agent in opt_text(120),
        presence in presence(),
        iat in 1_600_000_000i64..2_100_000_000,
        ttl in 1i64..=600,
        nonce in "[A-Za-z0-9_-]{1,32}",
    ) -> Challenge {
        Challenge {
            user_verification: None,
            ver: 1, session_id, account_id, user, title, body,
            context: Context { app, ip, location, user_agent, browser: None, os: None },
            presence, iat, exp: iat + ttl, nonce,
        }
    }
}

prop_compose! {
    /// Any answer that follows the field rules of docs/PROTOCOL.md §4.
    pub fn valid_answer()(
        session_id in id("ses_"),
        account_id in id("acc_"),
        approve in any::<bool>(),
        presence_answer in proptest::option::of("\\PC{1,8}"),
        not_me in any::<bool>(),
        iat in 1_600_000_000i64..2_100_000_000,
        nonce in "[A-Za-z0-9_-]{1,32}",
    ) -> Answer {
        let (decision, presence_answer, deny_reason) = if approve {
            (Decision::Approve, presence_answer, None)
        } else {
            (Decision::Deny, None, Some(if not_me { DenyReason::NotMe } else { DenyReason::Cancelled }))
        };
        Answer {
            uv: None, ver: 1, session_id, account_id, decision, presence_answer, deny_reason, iat, nonce }
    }
}

/// `token` with the byte at `index` replaced by `with` (an ASCII byte), or `None` if that is
/// no change.
fn mutate(token: &str, index: usize, with: u8) -> Option<String> {
    let mut bytes = token.as_bytes().to_vec();
    let i = index % bytes.len();
    if bytes[i] == with {
        return None;
    }
    bytes[i] = with;
    String::from_utf8(bytes).ok()
}

fn replacement() -> impl Strategy<Value = u8> {
    prop_oneof![
        proptest::sample::select(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec()
        ),
        proptest::sample::select(b".=+/ \"{}".to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(s in "\\PC*", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let key = service_key().public_key();
        let _ = Unverified::parse(&s, "tapprove-challenge+jwt");
        let _ = Challenge::verify(&s, &key, 1_800_000_000, 60);
        let _ = Challenge::peek_account_id(&s);
        let _ = Answer::verify(&s, &key, 1_800_000_000, 60);
        let _ = Answer::peek_ids(&s);
        let _ = RequestProof::peek_account_id(&s);
        let _ = RequestProof::verify(&s, &key, "GET", "/v1/device/pending", b"", 1_800_000_000, 60);
        let _ = PublicKey::from_base64url(&s);
        let _ = PublicKey::from_sec1(&bytes);
    }

    #[test]
    fn dot_separated_garbage_never_panics(parts in proptest::collection::vec("[A-Za-z0-9_=-]{0,60}", 0..5)) {
        let token = parts.join(".");
        let _ = Challenge::verify(&token, &service_key().public_key(), 0, 60);
    }

    #[test]
    fn challenge_sign_verify_round_trip(c in valid_challenge()) {
        let token = c.sign(service_key()).unwrap();
        let now = c.iat;
        let back = Challenge::verify(&token, &service_key().public_key(), now, 60).unwrap();
        prop_assert_eq!(&back, &c);
        prop_assert_eq!(Challenge::peek_account_id(&token).unwrap(), c.account_id.clone());
        // Another key never verifies it.
        prop_assert!(Challenge::verify(&token, &device_key().public_key(), now, 60).is_err());
    }

    #[test]
    fn any_single_byte_change_of_a_challenge_fails(c in valid_challenge(), index in any::<usize>(), with in replacement()) {
        let token = c.sign(service_key()).unwrap();
        if let Some(bad) = mutate(&token, index, with) {
            prop_assert!(Challenge::verify(&bad, &service_key().public_key(), c.iat, 60).is_err());
        }
    }

    #[test]
    fn answer_sign_verify_round_trip(a in valid_answer(), index in any::<usize>(), with in replacement()) {
        let token = a.sign(device_key()).unwrap();
        let back = Answer::verify(&token, &device_key().public_key(), a.iat, 60).unwrap();
        prop_assert_eq!(&back, &a);
        prop_assert_eq!(Answer::peek_ids(&token).unwrap(), (a.session_id.clone(), a.account_id.clone()));
        prop_assert!(Answer::verify(&token, &service_key().public_key(), a.iat, 60).is_err());
        if let Some(bad) = mutate(&token, index, with) {
            prop_assert!(Answer::verify(&bad, &device_key().public_key(), a.iat, 60).is_err());
        }
    }

    #[test]
    fn request_proof_round_trip(
        account in id("acc_"),
        method in prop_oneof![Just("GET"), Just("PUT"), Just("DELETE"), Just("POST")],
        path in "/v1/device/[a-z-]{1,20}",
        body in proptest::collection::vec(any::<u8>(), 0..300),
        now in 1_600_000_000i64..2_100_000_000,
        jti in "[A-Za-z0-9_-]{16,24}",
        index in any::<usize>(),
        with in replacement(),
    ) {
        let key = device_key();
        let header = RequestProof::authorization(&account, method, &path, &body, now, &jti, key).unwrap();
        let proof = RequestProof::verify(&header, &key.public_key(), method, &path, &body, now + 30, 60).unwrap();
        prop_assert_eq!(&proof.account_id, &account);
        prop_assert_eq!(&proof.jti, &jti);
        prop_assert_eq!(RequestProof::peek_account_id(&header).unwrap(), account.clone());
        // Bound to method, path and body.
        let other_path = format!("{path}x");
        prop_assert!(RequestProof::verify(&header, &key.public_key(), method, &other_path, &body, now, 60).is_err());
        let mut other_body = body.clone();
        other_body.push(0);
        prop_assert!(RequestProof::verify(&header, &key.public_key(), method, &path, &other_body, now, 60).is_err());
        prop_assert!(RequestProof::verify(&header, &key.public_key(), method, &path, &body, now + 61, 60).is_err());
        // Only mutate the token part, not the "Tapprove " scheme.
        let token_start = "Tapprove ".len();
        let i = token_start + index % (header.len() - token_start);
        if let Some(bad) = mutate(&header, i, with) {
            prop_assert!(RequestProof::verify(&bad, &key.public_key(), method, &path, &body, now, 60).is_err());
        }
    }
}

/// The last character of a base64url segment carries padding bits; changing only those bits
/// must still be refused (non-canonical base64 is malformed), as must any other change there.
#[test]
fn every_change_at_segment_ends_fails() {
    let c = Challenge {
        user_verification: None,
        ver: 1,
        session_id: "ses_1".into(),
        account_id: "acc_1".into(),
        user: "alice".into(),
        title: "Log in?".into(),
        body: "".into(),
        context: Context::default(),
        presence: Presence {
            code: None,
            length: None,
            mode: PresenceMode::Entry,
            options: vec![],
        },
        iat: 1_800_000_000,
        exp: 1_800_000_100,
        nonce: "n".into(),
    };
    let token = c.sign(service_key()).unwrap();
    let dots: Vec<usize> = token.match_indices('.').map(|(i, _)| i).collect();
    let ends = [dots[0] - 1, dots[1] - 1, token.len() - 1];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for i in ends {
        for &b in alphabet {
            if let Some(bad) = mutate(&token, i, b) {
                assert!(
                    Challenge::verify(&bad, &service_key().public_key(), c.iat, 60).is_err(),
                    "index {i} byte {b}"
                );
            }
        }
    }
}
