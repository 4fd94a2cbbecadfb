//! `handle_push` on a signed challenge (APNs payload) against a raw ring P-256 verify of the
//! same signing input, in the same run; prints the ratio (target ≤ 1.25×).
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
use tapprove_protocol::{Challenge, Es256Signer as _, Presence, SoftwareKey};

const NOW: i64 = 1_800_000_000;

struct FixedClock;

impl Clock for FixedClock {
    fn now_unix(&self) -> i64 {
        NOW
    }
}

struct Fixture {
    auth: Authenticator,
    payload: String,
    service_public: Vec<u8>,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

fn fixture() -> Fixture {
    let service = SoftwareKey::generate().unwrap();
    let challenge = Challenge {
        user_verification: None,
        ver: 1,
        session_id: "ses_01JDEMO0000000000000000000".into(),
        account_id: "acc_01JDEMO0000000000000000000".into(),
        user: "alice".into(),
        title: "Log in to Demo Bank?".into(),
        body: "Someone is signing in as alice.".into(),
        context: Context {
            app: Some("Demo Bank".into()),
            ip: Some("203.0.113.7".into()),
            location: Some("Lyon, FR".into()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
        },
        presence: Presence {
            length: None,
            mode: PresenceMode::Choose,
            options: vec!["17".into(), "42".into(), "88".into()],
        },
        iat: NOW - 10,
        exp: NOW + 110,
        nonce: "n0nce-4gJ2kQ9x".into(),
    };
    let token = challenge.sign(&service).unwrap();
    let jws = Unverified::parse(&token, "tapprove-challenge+jwt").unwrap();

    let store = Arc::new(MemoryStore::new());
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    let device_key = signer.create_key("k").unwrap();
    let config = Config::new("https://demo.example", "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA").unwrap();
    let auth = Authenticator::with_clock(config, store, signer, Arc::new(FixedClock)).unwrap();
    auth.import_account(AccountRecord {
        retiring_key: None,
        revoked_at: None,
        user_verification: None,
        id: challenge.account_id.clone(),
        project_id: "prj_demo".into(),
        project_name: "Demo Bank".into(),
        user: "alice".into(),
        server_url: "https://demo.example".into(),
        sdk_key: "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA".into(),
        service_key: service.public_key(),
        key_alias: "k".into(),
        device_key,
        clock_offset: 0,
        paired_at: NOW,
    })
    .unwrap();
    let payload = serde_json::json!({
        "aps": {"alert": {"title": challenge.title, "body": challenge.body}, "category": "TAPPROVE_LOGIN", "mutable-content": 1},
        "tapprove": token,
    })
    .to_string();
    assert!(auth.handle_push(&payload).unwrap().is_some());
    Fixture {
        auth,
        payload,
        service_public: service.public_key().as_bytes().to_vec(),
        signing_input: jws.signing_input().to_vec(),
        signature: jws.signature().to_vec(),
    }
}

fn raw_verify(f: &Fixture) {
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, black_box(&f.service_public))
        .verify(black_box(&f.signing_input), black_box(&f.signature))
        .unwrap();
}

fn handle_push(f: &Fixture) {
    black_box(f.auth.handle_push(black_box(&f.payload)).unwrap());
}

/// Median per-call time of each, measured in interleaved batches so that frequency scaling and
/// noise from other processes hit both alike.
fn interleaved_ratio(f: &Fixture) -> (f64, f64) {
    const ROUNDS: usize = 41;
    const BATCH: u32 = 100;
    let mut push = Vec::with_capacity(ROUNDS);
    let mut raw = Vec::with_capacity(ROUNDS);
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
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut push), median(&mut raw))
}

fn main() {
    let f = fixture();
    let mut c = Criterion::default().configure_from_args();
    {
        let mut group = c.benchmark_group("verify");
        group.bench_function("handle_push", |b| b.iter(|| handle_push(&f)));
        group.bench_function("raw_p256_verify", |b| b.iter(|| raw_verify(&f)));
        group.finish();
    }
    c.final_summary();

    let (push, raw) = interleaved_ratio(&f);
    println!(
        "handle_push: {:.1} µs, raw verify: {:.1} µs (medians of interleaved batches)",
        push * 1e6,
        raw * 1e6
    );
    println!(
        "handle_push / raw verify ratio: {:.2}x (target <= 1.25x)",
        push / raw
    );
}
