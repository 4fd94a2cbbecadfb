//! Sends per second from one `WebPushSender` to the loopback push service, which runs in this
//! process on a runtime of its own and checks every request as in the tests (VAPID signature,
//! headers, size) and decrypts every message. Each send encrypts anew (ECDH P-256, HKDF,
//! AES-128-GCM); the VAPID token is cached per origin.
//!
//! `cargo bench -p tapprove-push --bench webpush_throughput` measures; when run as a test
//! (`cargo test --benches`) it does a short smoke run. Tunables (environment):
//! `WEBPUSH_BENCH_SENDS` (default 20000), `WEBPUSH_BENCH_CONCURRENCY` (default 256).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::webpush::{MockWebPush, webpush_config};
use support::*;
use tapprove_push::{PushConfig, PushOutcome, PushSender as _};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let sends = if measuring {
        env_usize("WEBPUSH_BENCH_SENDS", 20_000)
    } else {
        1_000
    };
    let concurrency = env_usize("WEBPUSH_BENCH_CONCURRENCY", 256).max(1);

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("loopback-webpush")
        .enable_all()
        .build()
        .expect("server runtime");
    let pki = TestPki::new();
    let mock = Arc::new(MockWebPush::start_on(server_rt.handle(), &pki, false));
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).expect("ca");
    let (webpush, _) = webpush_config(dir.path());
    let config = PushConfig {
        webpush: Some(webpush),
        ca_file: Some(ca_file),
        retry: fast_retry(),
        ..PushConfig::default()
    };

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sender")
        .enable_all()
        .build()
        .expect("client runtime");
    let sender = Arc::new(config.webpush_sender().expect("config").expect("webpush"));
    let message = Arc::new(message(600));
    let target = Arc::new(mock.subscribe().target("bench"));

    let run = |count: usize| -> Duration {
        let sender = sender.clone();
        let message = message.clone();
        let target = target.clone();
        let mock = mock.clone();
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
                "every send must be delivered: {:?}",
                mock.refusals().first()
            );
            elapsed
        })
    };

    run(sends.min(1_000)); // warm up: connection, TLS, VAPID token
    let before = mock.total_requests();
    let elapsed = run(sends);
    assert_eq!(
        mock.total_requests() - before,
        sends,
        "one request per send"
    );
    let rate = sends as f64 / elapsed.as_secs_f64();
    eprintln!(
        "{sends} sends, {concurrency} in flight, {:.2} s",
        elapsed.as_secs_f64()
    );
    if measuring {
        println!(
            "Web Push loopback: {rate:.0} sends/s, each encrypted and decrypted (cargo bench -p tapprove-push --bench webpush_throughput)"
        );
    } else {
        println!(
            "Web Push loopback smoke run: {rate:.0} sends/s, unoptimised build (measure with `cargo bench -p tapprove-push --bench webpush_throughput`)"
        );
    }
    drop(client_rt);
    drop(server_rt);
}
