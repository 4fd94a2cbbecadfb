//! `handle_push` on a signed challenge (APNs payload) against a raw ring P-256 verify of the
//! same signing input, in the same run; prints the ratio (target ≤ 1.25×). Also the sealed
//! payload of the same challenge (docs/PROTOCOL.md §11: X25519 + HKDF + AEAD, then the same
//! verification), and its ratio to the raw verify.
//!
//! Run: `cargo bench -p tapprove-core --bench handle_push`.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::Criterion;
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use tapprove_core::*;
use tapprove_protocol::jws::Unverified;
use tapprove_protocol::sealed;
use tapprove_protocol::{Es256Signer as _, SoftwareKey};
use tapprove_test_support::fixture;

const NOW: i64 = 1_800_000_000;

struct FixedClock;

impl Clock for FixedClock {
    fn now_unix(&self) -> i64 {
        NOW
    }
}

struct Fixture {
    auth: Authenticator,
    sealed_auth: Authenticator,
    payload: String,
    sealed_payload: String,
    push_key: sealed::PushSecretKey,
    sealed: String,
    account_id: String,
    service_public: Vec<u8>,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

fn setup() -> Fixture {
    let service = SoftwareKey::generate().unwrap();
    let challenge = fixture::challenge(NOW - 10, NOW + 110);
    let token = challenge.sign(&service).unwrap();
    let jws = Unverified::parse(&token, "tapprove-challenge+jwt").unwrap();

    // Two phones with the same account: one reads readable pushes, the other has a push key
    // and so takes sealed pushes only.
    let auth = authenticator(&service, &challenge);
    let sealed_auth = authenticator(&service, &challenge);
    let payload = fixture::apns_payload(&challenge, &token).to_string();
    assert!(auth.handle_push(&payload).unwrap().is_some());
    let push_key = sealed::PushSecretKey::generate().unwrap();
    sealed_auth
        .import_push_key(&challenge.account_id, &push_key)
        .unwrap();
    let sealed = sealed::seal(&push_key.public_key(), &challenge.account_id, &token).unwrap();
    let sealed_payload = serde_json::json!({
        "aps": {"alert": {"title": "Login request", "body": "Open to review a sign-in"},
                "category": "TAPPROVE_LOGIN", "mutable-content": 1},
        "tapprove_sealed": sealed,
        "account": challenge.account_id,
    })
    .to_string();
    assert!(sealed_auth.handle_push(&sealed_payload).unwrap().is_some());
    assert!(
        sealed_auth.handle_push(&payload).is_err(),
        "sealed only once it has a push key"
    );
    Fixture {
        auth,
        sealed_auth,
        payload,
        sealed_payload,
        push_key,
        sealed,
        account_id: challenge.account_id.clone(),
        service_public: service.public_key().as_bytes().to_vec(),
        signing_input: jws.signing_input().to_vec(),
        signature: jws.signature().to_vec(),
    }
}

/// A phone holding the challenge's account, pinned to `service`.
fn authenticator(service: &SoftwareKey, challenge: &tapprove_protocol::Challenge) -> Authenticator {
    let store = Arc::new(MemoryStore::new());
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    let device_key = signer.create_key("k").unwrap();
    let config = Config::new("https://demo.example", "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA").unwrap();
    let auth = Authenticator::with_clock(config, store, signer, Arc::new(FixedClock)).unwrap();
    auth.import_account(AccountRecord {
        retiring_key: None,
        revoked_at: None,
        vapid_public_key: None,
        user_verification: None,
        id: challenge.account_id.clone(),
        project_id: "prj_demo".into(),
        project_name: fixture::PROJECT_NAME.into(),
        user: fixture::USER.into(),
        server_url: "https://demo.example".into(),
        sdk_key: "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA".into(),
        service_key: service.public_key(),
        key_alias: "k".into(),
        device_key,
        clock_offset: 0,
        paired_at: NOW,
    })
    .unwrap();
    auth
}

fn raw_verify(f: &Fixture) {
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, black_box(&f.service_public))
        .verify(black_box(&f.signing_input), black_box(&f.signature))
        .unwrap();
}

fn handle_push(f: &Fixture) {
    black_box(f.auth.handle_push(black_box(&f.payload)).unwrap());
}

/// The protocol's open alone (X25519, HKDF, AEAD, unpacking): the crypto a sealed push adds.
fn raw_open(f: &Fixture) {
    black_box(sealed::open(&f.push_key, &f.account_id, black_box(&f.sealed)).unwrap());
}

fn handle_sealed_push(f: &Fixture) {
    black_box(
        f.sealed_auth
            .handle_push(black_box(&f.sealed_payload))
            .unwrap(),
    );
}

/// Median per-call time of each, measured in interleaved batches so that frequency scaling and
/// noise from other processes hit both alike.
fn interleaved_ratio(f: &Fixture) -> (f64, f64, f64, f64) {
    const ROUNDS: usize = 41;
    const BATCH: u32 = 100;
    let mut push = Vec::with_capacity(ROUNDS);
    let mut raw = Vec::with_capacity(ROUNDS);
    let mut sealed = Vec::with_capacity(ROUNDS);
    let mut open = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..BATCH {
            raw_verify(f);
        }
        raw.push(t.elapsed().as_secs_f64() / f64::from(BATCH));
        let t = Instant::now();
        for _ in 0..BATCH {
            handle_push(f);
        }
        push.push(t.elapsed().as_secs_f64() / f64::from(BATCH));
        let t = Instant::now();
        for _ in 0..BATCH {
            handle_sealed_push(f);
        }
        sealed.push(t.elapsed().as_secs_f64() / f64::from(BATCH));
        let t = Instant::now();
        for _ in 0..BATCH {
            raw_open(f);
        }
        open.push(t.elapsed().as_secs_f64() / f64::from(BATCH));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (
        median(&mut push),
        median(&mut raw),
        median(&mut sealed),
        median(&mut open),
    )
}

fn main() {
    let f = setup();
    let mut c = Criterion::default().configure_from_args();
    {
        let mut group = c.benchmark_group("verify");
        group.bench_function("handle_push", |b| b.iter(|| handle_push(&f)));
        group.bench_function("raw_p256_verify", |b| b.iter(|| raw_verify(&f)));
        group.bench_function("handle_push_sealed", |b| b.iter(|| handle_sealed_push(&f)));
        group.bench_function("raw_sealed_open", |b| b.iter(|| raw_open(&f)));
        group.finish();
    }
    c.final_summary();

    let (push, raw, sealed, open) = interleaved_ratio(&f);
    println!(
        "handle_push: {:.1} µs, raw verify: {:.1} µs (medians of interleaved batches)",
        push * 1e6,
        raw * 1e6
    );
    println!(
        "handle_push / raw verify ratio: {:.2}x (target <= 1.25x)",
        push / raw
    );
    println!(
        "sealed handle_push: {:.1} µs (open + verify), raw open: {:.1} µs; sealed / raw verify ratio: {:.2}x, sealed / (raw verify + raw open): {:.2}x",
        sealed * 1e6,
        open * 1e6,
        sealed / raw,
        sealed / (raw + open)
    );
}
