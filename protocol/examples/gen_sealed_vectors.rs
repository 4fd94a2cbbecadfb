//! Regenerates `tests/vectors/sealed_*.json` (docs/PROTOCOL.md §11 "Sealed payloads"):
//! `cargo run -p tapprove-protocol --example gen_sealed_vectors`. Sealing uses a fresh
//! ephemeral key and nonce (and ECDSA a random k), so the files change on every run; they are
//! committed and only regenerated when the format changes. The keys inside are test keys.
//!
//! Each case: `sealed` (the `tapprove_sealed` member), `account` (the payload's `account`
//! member), `now`, `skew_seconds`, `expect` as in the challenge vectors. Open with
//! `test_push_private_key` for `account`, then verify the challenge with `public_key`.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tapprove_protocol::sealed::{self, PushSecretKey};
use tapprove_protocol::{Challenge, Es256Signer as _, Presence, PresenceMode, SoftwareKey};
use tapprove_test_support::fixture;

const NOW: i64 = 1_800_000_000;
const SKEW: i64 = 60;
const OTHER_ACCOUNT: &str = "acc_01JOTHER000000000000000000";

fn challenge() -> Challenge {
    fixture::challenge(NOW - 10, NOW + 110)
}

fn case(name: &str, sealed: String, now: i64, expect: Value) -> Value {
    json!({"name": name, "sealed": sealed, "account": fixture::ACCOUNT_ID, "now": now,
           "skew_seconds": SKEW, "expect": expect})
}

fn valid(c: &Challenge) -> Value {
    json!({"valid": true, "claims": serde_json::to_value(c).expect("json")})
}

fn error(code: &str) -> Value {
    json!({"valid": false, "error": code})
}

/// `sealed` with byte `i` of its decoded form changed by `f`.
fn alter(sealed: &str, i: usize, f: impl FnOnce(&mut u8)) -> String {
    let mut bytes = URL_SAFE_NO_PAD.decode(sealed).expect("b64");
    let i = i.min(bytes.len() - 1);
    f(&mut bytes[i]);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn write(
    dir: &Path,
    file: &str,
    description: &str,
    service: &SoftwareKey,
    push: &PushSecretKey,
    cases: Vec<Value>,
) {
    let doc = json!({
        "description": description,
        "kind": "sealed",
        "public_key": service.public_key().to_base64url(),
        "test_private_key_pkcs8_base64": STANDARD.encode(service.secret_pkcs8_der()),
        "push_public_key": push.public_key().to_base64url(),
        "test_push_private_key": URL_SAFE_NO_PAD.encode(push.secret_bytes().as_ref()),
        "cases": cases,
    });
    let text = serde_json::to_string_pretty(&doc).expect("json") + "\n";
    std::fs::write(dir.join(file), text).expect("write vector");
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
    let service = SoftwareKey::generate().expect("key");
    let impostor = SoftwareKey::generate().expect("key");
    let push = PushSecretKey::generate().expect("key");
    let other_device = PushSecretKey::generate().expect("key");
    let to_device = |token: &str, account: &str| {
        sealed::seal(&push.public_key(), account, token).expect("seal")
    };
    let c = challenge();
    let good = to_device(&c.sign(&service).expect("sign"), fixture::ACCOUNT_ID);
    let mut entry = c.clone();
    entry.presence = Presence {
        code: None,
        mode: PresenceMode::Entry,
        options: vec![],
        length: Some(6),
    };
    let header = 1 + 32 + 12;

    write(
        &dir,
        "sealed_valid.json",
        "Challenges sealed to push_public_key for the case's account: open, then verify.",
        &service,
        &push,
        vec![
            case("choose", good.clone(), NOW, valid(&c)),
            case(
                "entry_6_digits",
                to_device(&entry.sign(&service).expect("sign"), fixture::ACCOUNT_ID),
                NOW,
                valid(&entry),
            ),
        ],
    );
    write(
        &dir,
        "sealed_tampered.json",
        "Sealed payloads altered in transit, or opening to a challenge that does not verify.",
        &service,
        &push,
        vec![
            case(
                "ciphertext_flipped",
                alter(&good, header + 5, |b| *b ^= 0x01),
                NOW,
                error("not_decryptable"),
            ),
            case(
                "tag_flipped",
                alter(&good, usize::MAX, |b| *b ^= 0x80),
                NOW,
                error("not_decryptable"),
            ),
            case(
                "nonce_flipped",
                alter(&good, 1 + 32, |b| *b ^= 0x01),
                NOW,
                error("not_decryptable"),
            ),
            case(
                "ephemeral_key_flipped",
                alter(&good, 1, |b| *b ^= 0x01),
                NOW,
                error("not_decryptable"),
            ),
            case(
                "unknown_version",
                alter(&good, 0, |b| *b = 2),
                NOW,
                error("unsupported_version"),
            ),
            case(
                "truncated",
                URL_SAFE_NO_PAD.encode(&URL_SAFE_NO_PAD.decode(&good).expect("b64")[..40]),
                NOW,
                error("malformed"),
            ),
            case(
                "not_base64url",
                "not a sealed payload!".into(),
                NOW,
                error("malformed"),
            ),
            case(
                "inner_signed_by_another_key",
                to_device(&c.sign(&impostor).expect("sign"), fixture::ACCOUNT_ID),
                NOW,
                error("bad_signature"),
            ),
            case(
                "inner_expired",
                good.clone(),
                c.exp + SKEW + 1,
                error("expired"),
            ),
        ],
    );
    write(
        &dir,
        "sealed_wrong_account.json",
        "Sealed for another account (the account id is bound in), or to another device's key.",
        &service,
        &push,
        vec![
            case(
                "sealed_for_another_account",
                to_device(&c.sign(&service).expect("sign"), OTHER_ACCOUNT),
                NOW,
                error("not_decryptable"),
            ),
            case(
                "sealed_to_another_device_key",
                sealed::seal(
                    &other_device.public_key(),
                    fixture::ACCOUNT_ID,
                    &c.sign(&service).expect("sign"),
                )
                .expect("seal"),
                NOW,
                error("not_decryptable"),
            ),
        ],
    );
}
