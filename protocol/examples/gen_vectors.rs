//! Regenerates `tests/vectors/*.json`: `cargo run -p tapprove-protocol --example gen_vectors`.
//! ECDSA signatures are randomised, so the files change on every run; they are committed and
//! only regenerated when the protocol changes. The keys inside are test keys, never used live.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tapprove_protocol::{
    Answer, Challenge, Context, Decision, DenyReason, Es256Signer, KeyUpdate, Presence,
    PresenceMode, SoftwareKey, UserVerification, UvMethod, jws,
};
use tapprove_test_support::fixture;

const NOW: i64 = 1_800_000_000;
const SKEW: i64 = 60;

/// The shared Demo Bank challenge, issued 10 s before [`NOW`], valid for 2 minutes.
fn challenge() -> Challenge {
    fixture::challenge(NOW - 10, NOW + 110)
}

fn answer() -> Answer {
    Answer {
        uv: None,
        ver: 1,
        session_id: challenge().session_id,
        account_id: challenge().account_id,
        decision: Decision::Approve,
        presence_answer: Some("42".into()),
        deny_reason: None,
        iat: NOW,
        nonce: challenge().nonce,
    }
}

/// Replaces the payload of a signed token, keeping header and signature.
fn tamper(token: &str, f: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    f(&mut payload);
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).expect("json"));
    format!("{}.{}.{}", parts[0], p, parts[2])
}

fn with_header(header: Value, payload: &impl serde::Serialize, key: &SoftwareKey) -> String {
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("json"));
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).expect("json"));
    let input = format!("{h}.{p}");
    let sig = key.sign(input.as_bytes()).expect("sign");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn ok(name: &str, token: String, claims: Value) -> Value {
    json!({"name": name, "token": token, "now": NOW, "skew_seconds": SKEW,
           "expect": {"valid": true, "claims": claims}})
}

fn err(name: &str, token: String, now: i64, code: &str) -> Value {
    json!({"name": name, "token": token, "now": now, "skew_seconds": SKEW,
           "expect": {"valid": false, "error": code}})
}

fn write(
    dir: &Path,
    file: &str,
    kind: &str,
    description: &str,
    key: &SoftwareKey,
    cases: Vec<Value>,
) {
    let doc = json!({
        "description": description,
        "kind": kind,
        "public_key": key.public_key().to_base64url(),
        "test_private_key_pkcs8_base64": STANDARD.encode(key.secret_pkcs8_der()),
        "cases": cases,
    });
    let text = serde_json::to_string_pretty(&doc).expect("json") + "\n";
    std::fs::write(dir.join(file), text).expect("write vector");
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let service = SoftwareKey::generate().expect("key");
    let other = SoftwareKey::generate().expect("key");
    let device = SoftwareKey::generate().expect("key");
    let c = challenge();
    let c_json = serde_json::to_value(&c).expect("json");
    let good = c.sign(&service).expect("sign");

    write(
        &dir,
        "challenge_valid.json",
        "challenge",
        "Valid challenges, verified with public_key.",
        &service,
        vec![
            ok("choose", good.clone(), c_json.clone()),
            {
                let mut e = c.clone();
                e.presence = Presence {
                    code: None,
                    length: None,
                    mode: PresenceMode::Entry,
                    options: vec![],
                };
                e.context = Context::default();
                ok(
                    "entry_no_context",
                    e.sign(&service).expect("sign"),
                    serde_json::to_value(&e).expect("json"),
                )
            },
            {
                let mut n = c.clone();
                n.presence = Presence {
                    code: None,
                    length: None,
                    mode: PresenceMode::None,
                    options: vec![],
                };
                ok(
                    "none",
                    n.sign(&service).expect("sign"),
                    serde_json::to_value(&n).expect("json"),
                )
            },
            {
                let mut e = c.clone();
                e.presence = Presence {
                    code: None,
                    mode: PresenceMode::Entry,
                    options: vec![],
                    length: Some(6),
                };
                e.user_verification = Some(UserVerification::Required);
                ok(
                    "entry_6_digits_uv_required",
                    e.sign(&service).expect("sign"),
                    serde_json::to_value(&e).expect("json"),
                )
            },
            ok("within_skew_after_expiry", good.clone(), c_json.clone())
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o.insert("now".into(), json!(c.exp + SKEW));
                    Value::Object(o)
                })
                .expect("obj"),
        ],
    );
    write(
        &dir,
        "challenge_tampered.json",
        "challenge",
        "Payload changed after signing.",
        &service,
        vec![
            err(
                "user_changed",
                tamper(&good, |p| p["user"] = json!("mallory")),
                NOW,
                "bad_signature",
            ),
            err(
                "options_changed",
                tamper(&good, |p| {
                    p["presence"]["options"] = json!(["11", "22", "33"])
                }),
                NOW,
                "bad_signature",
            ),
            err(
                "exp_extended",
                tamper(&good, |p| p["exp"] = json!(NOW + 99_999)),
                NOW,
                "bad_signature",
            ),
            err(
                "signature_flipped",
                {
                    let mut t = good.clone().into_bytes();
                    let i = t.len() - 5;
                    t[i] = if t[i] == b'A' { b'B' } else { b'A' };
                    String::from_utf8(t).expect("utf8")
                },
                NOW,
                "bad_signature",
            ),
        ],
    );
    write(
        &dir,
        "challenge_expired.json",
        "challenge",
        "Outside the validity window.",
        &service,
        vec![
            err(
                "past_exp_plus_skew",
                good.clone(),
                c.exp + SKEW + 1,
                "expired",
            ),
            err(
                "issued_in_future",
                good.clone(),
                c.iat - SKEW - 1,
                "not_yet_valid",
            ),
        ],
    );
    write(
        &dir,
        "challenge_wrong_key.json",
        "challenge",
        "Signed by a key other than public_key.",
        &service,
        vec![
            err(
                "other_service_key",
                c.sign(&other).expect("sign"),
                NOW,
                "bad_signature",
            ),
            err(
                "device_key",
                c.sign(&device).expect("sign"),
                NOW,
                "bad_signature",
            ),
        ],
    );
    write(
        &dir,
        "challenge_unknown_version.json",
        "challenge",
        "Correctly signed, newer protocol.",
        &service,
        vec![err(
            "ver_2",
            with_header(
                json!({"alg":"ES256","typ":"tapprove-challenge+jwt","kid": service.public_key().key_id()}),
                &json!({"ver": 2, "session_id": "ses_x", "something_new": true}),
                &service,
            ),
            NOW,
            "unsupported_version",
        )],
    );
    write(
        &dir,
        "challenge_oversized.json",
        "challenge",
        "Longer than the 3072-byte limit: refused before decoding.",
        &service,
        vec![
            err(
                "padded_body",
                {
                    let mut b = c.clone();
                    b.body = "x".repeat(3000);
                    b.sign(&service).expect("sign")
                },
                NOW,
                "oversized",
            ),
            err("garbage", "A".repeat(5000), NOW, "oversized"),
        ],
    );
    let hdr = |alg: &str, typ: &str| json!({"alg": alg, "typ": typ, "kid": service.public_key().key_id()});
    write(
        &dir,
        "challenge_malformed.json",
        "challenge",
        "Not a well-formed ES256 challenge.",
        &service,
        vec![
            err("empty", String::new(), NOW, "malformed"),
            err(
                "two_parts",
                good.rsplit_once('.').expect("parts").0.to_owned(),
                NOW,
                "malformed",
            ),
            err("four_parts", format!("{good}.AAAA"), NOW, "malformed"),
            err(
                "padded_base64",
                {
                    let p: Vec<&str> = good.split('.').collect();
                    format!("{}=.{}.{}", p[0], p[1], p[2])
                },
                NOW,
                "malformed",
            ),
            err(
                "payload_not_json",
                {
                    let p: Vec<&str> = good.split('.').collect();
                    let h = p[0];
                    let pl = URL_SAFE_NO_PAD.encode(b"not json");
                    let sig = service.sign(format!("{h}.{pl}").as_bytes()).expect("sign");
                    format!("{h}.{pl}.{}", URL_SAFE_NO_PAD.encode(sig))
                },
                NOW,
                "malformed",
            ),
            err(
                "alg_none",
                format!(
                    "{}.{}.",
                    URL_SAFE_NO_PAD
                        .encode(br#"{"alg":"none","typ":"tapprove-challenge+jwt","kid":"x"}"#),
                    good.split('.').nth(1).expect("p")
                ),
                NOW,
                "unsupported_header",
            ),
            err(
                "alg_hs256",
                with_header(hdr("HS256", "tapprove-challenge+jwt"), &c, &service),
                NOW,
                "unsupported_header",
            ),
            err(
                "answer_typ",
                with_header(hdr("ES256", "tapprove-answer+jwt"), &c, &service),
                NOW,
                "unsupported_header",
            ),
            err(
                "crit_header",
                with_header(
                    json!({"alg":"ES256","typ":"tapprove-challenge+jwt","kid":"k","crit":["exp"]}),
                    &c,
                    &service,
                ),
                NOW,
                "malformed",
            ),
            err(
                "choose_two_options",
                {
                    let mut b = c.clone();
                    b.presence.options.pop();
                    jws::sign(&b, "tapprove-challenge+jwt", "k", &service).expect("sign")
                },
                NOW,
                "invalid",
            ),
            err(
                "choose_duplicate_options",
                {
                    let mut b = c.clone();
                    b.presence.options[2] = "17".into();
                    jws::sign(&b, "tapprove-challenge+jwt", "k", &service).expect("sign")
                },
                NOW,
                "invalid",
            ),
            err(
                "length_on_choose",
                {
                    let mut b = c.clone();
                    b.presence.length = Some(6);
                    jws::sign(&b, "tapprove-challenge+jwt", "k", &service).expect("sign")
                },
                NOW,
                "invalid",
            ),
            err(
                "entry_length_13",
                {
                    let mut b = c.clone();
                    b.presence = Presence {
                        code: None,
                        mode: PresenceMode::Entry,
                        options: vec![],
                        length: Some(13),
                    };
                    jws::sign(&b, "tapprove-challenge+jwt", "k", &service).expect("sign")
                },
                NOW,
                "invalid",
            ),
            err(
                "unknown_user_verification",
                with_header(
                    hdr("ES256", "tapprove-challenge+jwt"),
                    &{
                        let mut v = c_json.clone();
                        v["user_verification"] = json!("sometimes");
                        v
                    },
                    &service,
                ),
                NOW,
                "malformed",
            ),
            err(
                "missing_nonce",
                with_header(
                    hdr("ES256", "tapprove-challenge+jwt"),
                    &{
                        let mut v = c_json.clone();
                        v.as_object_mut().expect("obj").remove("nonce");
                        v
                    },
                    &service,
                ),
                NOW,
                "malformed",
            ),
        ],
    );

    let a = answer();
    let a_json = serde_json::to_value(&a).expect("json");
    let a_good = a.sign(&device).expect("sign");
    let deny = Answer {
        decision: Decision::Deny,
        presence_answer: None,
        deny_reason: Some(DenyReason::NotMe),
        ..a.clone()
    };
    write(
        &dir,
        "answer.json",
        "answer",
        "Device-signed answers, verified with public_key (the device key).",
        &device,
        vec![
            ok("approve", a_good.clone(), a_json),
            ok(
                "deny_not_me",
                deny.sign(&device).expect("sign"),
                serde_json::to_value(&deny).expect("json"),
            ),
            err(
                "tampered_choice",
                tamper(&a_good, |p| p["presence_answer"] = json!("17")),
                NOW,
                "bad_signature",
            ),
            err(
                "wrong_key",
                a.sign(&other).expect("sign"),
                NOW,
                "bad_signature",
            ),
            err("stale", a_good.clone(), NOW + SKEW + 1, "expired"),
            err(
                "deny_without_reason",
                {
                    let b = Answer {
                        deny_reason: None,
                        ..deny.clone()
                    };
                    b.sign(&device).expect("sign")
                },
                NOW,
                "invalid",
            ),
            err(
                "challenge_typ",
                with_header(
                    json!({"alg":"ES256","typ":"tapprove-challenge+jwt","kid": a.account_id}),
                    &a,
                    &device,
                ),
                NOW,
                "unsupported_header",
            ),
            err(
                "unknown_version",
                with_header(
                    json!({"alg":"ES256","typ":"tapprove-answer+jwt","kid": a.account_id}),
                    &json!({"ver": 9}),
                    &device,
                ),
                NOW,
                "unsupported_version",
            ),
        ],
    );
    let uv = Answer {
        uv: Some(UvMethod::Biometric),
        ..a.clone()
    };
    let uv_good = uv.sign(&device).expect("sign");
    write(
        &dir,
        "answer_uv.json",
        "answer",
        "Answers carrying user verification (`uv`, §4a), verified with public_key (the device key).",
        &device,
        vec![
            ok(
                "approve_uv_biometric",
                uv_good.clone(),
                serde_json::to_value(&uv).expect("json"),
            ),
            {
                let p = Answer {
                    uv: Some(UvMethod::AppPassphrase),
                    ..a.clone()
                };
                ok(
                    "approve_uv_app_passphrase",
                    p.sign(&device).expect("sign"),
                    serde_json::to_value(&p).expect("json"),
                )
            },
            err(
                "uv_removed",
                tamper(&uv_good, |p| {
                    p.as_object_mut().expect("obj").remove("uv");
                }),
                NOW,
                "bad_signature",
            ),
            err(
                "deny_with_uv",
                Answer {
                    uv: Some(UvMethod::Biometric),
                    ..deny.clone()
                }
                .sign(&device)
                .expect("sign"),
                NOW,
                "invalid",
            ),
            err(
                "unknown_uv_method",
                with_header(
                    json!({"alg":"ES256","typ":"tapprove-answer+jwt","kid": a.account_id}),
                    &{
                        let mut v = serde_json::to_value(&uv).expect("json");
                        v["uv"] = json!("retina");
                        v
                    },
                    &device,
                ),
                NOW,
                "malformed",
            ),
        ],
    );

    key_updates(&dir, &service, &other);
    println!("wrote vectors to {}", dir.display());
}

/// `key_update*.json`: key updates (§5a) verified with public_key, the pinned service key.
fn key_updates(dir: &Path, pinned: &SoftwareKey, new: &SoftwareKey) {
    let week = 7 * 24 * 3600;
    let update = KeyUpdate {
        ver: 1,
        new_key: new.public_key(),
        old_key_valid_until: NOW + week,
        iat: NOW,
    };
    let good = update.sign(pinned).expect("sign");
    let claims = serde_json::to_value(&update).expect("json");
    let typ = "tapprove-key-update+jwt";
    write(
        dir,
        "key_update_valid.json",
        "key_update",
        "Key updates signed by the pinned key (public_key): pin new_key, keep the old one until old_key_valid_until.",
        pinned,
        vec![
            ok("valid", good.clone(), claims.clone()),
            ok("valid_long_after_issue", good.clone(), claims.clone())
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o.insert("now".into(), json!(NOW + 6 * 24 * 3600));
                    Value::Object(o)
                })
                .expect("obj"),
            {
                let zero = KeyUpdate {
                    old_key_valid_until: NOW,
                    ..update.clone()
                };
                ok(
                    "no_grace",
                    zero.sign(pinned).expect("sign"),
                    serde_json::to_value(&zero).expect("json"),
                )
            },
        ],
    );
    write(
        dir,
        "key_update_refused.json",
        "key_update",
        "Key updates a device must refuse, keeping its pinned key (public_key).",
        pinned,
        vec![
            err(
                "self_signed_by_new_key",
                update.sign(new).expect("sign"),
                NOW,
                "bad_signature",
            ),
            err(
                "wrong_kid",
                jws::sign(&update, typ, &new.public_key().key_id(), pinned).expect("sign"),
                NOW,
                "bad_signature",
            ),
            err(
                "pinned_kid_other_signer",
                jws::sign(&update, typ, &pinned.public_key().key_id(), new).expect("sign"),
                NOW,
                "bad_signature",
            ),
            err(
                "tampered_new_key",
                tamper(&good, |p| {
                    p["new_key"] = json!(
                        SoftwareKey::generate()
                            .expect("key")
                            .public_key()
                            .to_base64url()
                    )
                }),
                NOW,
                "bad_signature",
            ),
            err(
                "same_key",
                KeyUpdate {
                    new_key: pinned.public_key(),
                    ..update.clone()
                }
                .sign(pinned)
                .expect("sign"),
                NOW,
                "invalid",
            ),
            err(
                "grace_too_long",
                KeyUpdate {
                    old_key_valid_until: NOW + 30 * 24 * 3600 + 1,
                    ..update.clone()
                }
                .sign(pinned)
                .expect("sign"),
                NOW,
                "invalid",
            ),
            err(
                "grace_negative",
                KeyUpdate {
                    old_key_valid_until: NOW - 1,
                    ..update.clone()
                }
                .sign(pinned)
                .expect("sign"),
                NOW,
                "invalid",
            ),
            err(
                "not_yet_valid",
                good.clone(),
                NOW - SKEW - 1,
                "not_yet_valid",
            ),
            err(
                "challenge_typ",
                jws::sign(
                    &update,
                    "tapprove-challenge+jwt",
                    &pinned.public_key().key_id(),
                    pinned,
                )
                .expect("sign"),
                NOW,
                "unsupported_header",
            ),
            err(
                "unknown_version",
                with_header(
                    json!({"alg":"ES256","typ": typ,"kid": pinned.public_key().key_id()}),
                    &json!({"ver": 2, "new_key": new.public_key().to_base64url()}),
                    pinned,
                ),
                NOW,
                "unsupported_version",
            ),
        ],
    );
}
