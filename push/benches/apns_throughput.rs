//! Sends per second from one `ApnsSender` (one HTTP/2 connection pool) to the loopback APNs,
//! which runs in this process on a runtime of its own and checks every request (provider JWT,
//! headers, payload shape) as in the tests.
//!
//! `cargo bench -p tapprove-push --bench apns_throughput` measures; when run as a test
//! (`cargo test --benches`) it does a short smoke run. Tunables (environment):
//! `APNS_BENCH_SENDS` (default 50000), `APNS_BENCH_CONCURRENCY` (in-flight sends, default 256).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::*;
use tapprove_protocol::{Es256Signer as _, SoftwareKey};
use tapprove_push::{PushOutcome, PushSender as _};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let sends = if measuring {
        env_usize("APNS_BENCH_SENDS", 50_000)
    } else {
        2_000
    };
    let concurrency = env_usize("APNS_BENCH_CONCURRENCY", 256).max(1);

    // The endpoint: its own runtime and worker thread.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("loopback-apns")
        .enable_all()
        .build()
        .expect("server runtime");
    let pki = TestPki::new();
    let key = SoftwareKey::generate().expect("key");
    let mock = MockApns::start_on(server_rt.handle(), &pki, key.public_key(), false);
    let files = Files::new(&pki, &key, None);

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sender")
        .enable_all()
        .build()
        .expect("client runtime");
    let config = push_config(&files, Some(&mock), None);
    let sender = Arc::new(config.apns_sender().expect("config").expect("apns"));
    let message = Arc::new(message(600));
    let target = Arc::new(apns_target("bench", &apns_token(7)));

    let run = |count: usize| -> Duration {
        let sender = sender.clone();
        let message = message.clone();
        let target = target.clone();
        client_rt.block_on(async move {
            let next = Arc::new(AtomicUsize::new(0));
            let failures = Arc::new(AtomicUsize::new(0));
            let start = Instant::now();
            let workers: Vec<_> = (0..concurrency.min(count))
                .map(|_| {
                    let (sender, message, target) =
                        (sender.clone(), message.clone(), target.clone());
                    let (next, failures) = (next.clone(), failures.clone());
                    tokio::spawn(async move {
                        while next.fetch_add(1, Ordering::Relaxed) < count {
                            if sender.send(&target, &message).await != PushOutcome::Delivered {
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await.expect("worker");
            }
            let elapsed = start.elapsed();
            assert_eq!(
                failures.load(Ordering::Relaxed),
                0,
                "every send must be delivered"
            );
            elapsed
        })
    };

    run(sends.min(2_000)); // warm up: connection, TLS, provider token
    let elapsed = run(sends);
    let rate = sends as f64 / elapsed.as_secs_f64();
    assert_eq!(
        mock.connections(),
        1,
        "all sends share one HTTP/2 connection"
    );
    assert_eq!(
        mock.distinct_provider_tokens(),
        1,
        "one cached provider token"
    );
    eprintln!(
        "{sends} sends, {concurrency} in flight, {:.2} s; connections opened: {}; provider tokens: {}",
        elapsed.as_secs_f64(),
        mock.connections(),
        mock.distinct_provider_tokens()
    );
    if measuring {
        println!(
            "APNs loopback: {rate:.0} sends/s over 1 connection pool (cargo bench -p tapprove-push --bench apns_throughput)"
        );
    } else {
        println!(
            "APNs loopback smoke run: {rate:.0} sends/s, unoptimised build (measure with `cargo bench -p tapprove-push --bench apns_throughput`)"
        );
    }
    if measuring && rate < 10_000.0 {
        eprintln!("note: below the 10,000 sends/s target on this machine");
    }
    drop(client_rt);
    drop(server_rt);
}
