//! `tapprove-soak`: logins for a bounded time while devices drop their event stream and open
//! it again at random, then a consistency check (not in CI, figures in
//! docs/PERFORMANCE.md). Every login must end `accepted` (a device that was away gets the
//! request when it comes back, from the pending list), and once every device is connected
//! again the process must hold as many threads and tasks as before the churn: a stream that
//! did not end when its device went away would show there.
//!
//! Memory is sampled every 10 s two ways: the process's RSS, and the bytes the Rust heap holds
//! (every allocation counted by a wrapper around the system allocator). SQLite allocates
//! through the C library directly, so RSS minus that heap is SQLite, the allocator's own
//! overhead and the mapped binary; a leak in Rust code shows as a heap that keeps growing.

use std::alloc::System;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use tapprove_bench::{Bench, BenchError, Device};
use tapprove_core::Authenticator;

#[global_allocator]
static HEAP: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[derive(Parser)]
#[command(
    about = "Tapprove soak: logins with random device disconnects, then a consistency check (see docs/PERFORMANCE.md)"
)]
struct Args {
    /// How long, in seconds.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Users (one device and one site worker each).
    #[arg(long, default_value_t = 20)]
    users: usize,
    /// Seed of the disconnect schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tapprove_bench::run_main("tapprove-soak", soak(args.seconds, args.users, args.seed))
}

/// Extra threads or tasks tolerated at the end (a respond call's thread still finishing).
const SLACK: usize = 4;
/// How long the streams of devices that went away may take to end after the churn.
const SETTLE: Duration = Duration::from_secs(30);

struct Phone {
    auth: Authenticator,
    account_id: String,
    connected: Mutex<Option<Device>>,
}

/// A small xorshift generator: the soak needs no cryptographic randomness, and reproducible
/// runs (`--seed`) help when one fails.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One look at the process.
#[derive(Clone, Copy)]
struct Sample {
    threads: usize,
    /// `VmRSS`, `RssAnon` and `RssFile` from /proc (0 where unavailable), KiB.
    rss_kib: usize,
    anon_kib: usize,
    file_kib: usize,
    /// Bytes the Rust heap holds now, KiB.
    heap_kib: usize,
}

impl Sample {
    fn take() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let heap = HEAP.stats();
        Sample {
            threads: field("Threads:"),
            rss_kib: field("VmRSS:"),
            anon_kib: field("RssAnon:"),
            file_kib: field("RssFile:"),
            heap_kib: heap.bytes_allocated.saturating_sub(heap.bytes_deallocated) / 1024,
        }
    }
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} threads, RSS {} KiB (anon {}, file {}), Rust heap {} KiB",
            self.threads, self.rss_kib, self.anon_kib, self.file_kib, self.heap_kib
        )
    }
}

/// Login times in microseconds, 3 significant digits, up to 10 minutes: one, shared by the
/// site workers and made before the baseline (170 KB each, one per worker showed as 3.6 MB of
/// heap growth under heaptrack).
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant bounds are valid")
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Runs the soak for `seconds` with `users` users (one device each).
async fn soak(seconds: u64, users: usize, seed: u64) -> Result<(), BenchError> {
    let bench = Arc::new(Bench::start().await?);
    let names: Vec<String> = (0..users).map(|i| format!("soak{i:04}")).collect();
    let mut phones = Vec::with_capacity(users);
    for name in &names {
        let (auth, account_id) = bench.pair_account(name).await?;
        let device = bench.connect(auth.clone(), account_id.clone());
        phones.push(Arc::new(Phone {
            auth,
            account_id,
            connected: Mutex::new(Some(device)),
        }));
    }
    // A few logins per user, all users at once as in the soak: every stream is up and the
    // site's and the service's connection pools are at their working size before the baseline.
    let mut warm = tokio::task::JoinSet::new();
    for name in names.clone() {
        let bench = bench.clone();
        warm.spawn(async move {
            for _ in 0..5 {
                bench.login(&name).await?;
            }
            Ok::<_, BenchError>(())
        });
    }
    while let Some(joined) = warm.join_next().await {
        joined.map_err(|e| BenchError::Login(format!("warm-up panicked: {e}")))??;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let times = Arc::new(Mutex::new(histogram()));
    let before = Sample::take();
    let tasks_before = alive_tasks();
    eprintln!(
        "tapprove-soak: {users} users for {seconds} s (seed {seed}); baseline {before}, {tasks_before} tasks"
    );

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let disconnects = Arc::new(AtomicUsize::new(0));
    // The churn: every 50–300 ms one device goes away for 0.2–3 s.
    let churn = {
        let (bench, phones, disconnects) = (bench.clone(), phones.clone(), disconnects.clone());
        tokio::spawn(async move {
            let mut rng = Rng(seed | 1);
            let mut back = tokio::task::JoinSet::new();
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50 + rng.below(250))).await;
                let phone = phones[rng.below(phones.len() as u64) as usize].clone();
                let gone = phone
                    .connected
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take();
                if let Some(device) = gone {
                    drop(device);
                    disconnects.fetch_add(1, Ordering::Relaxed);
                    let away = Duration::from_millis(200 + rng.below(2800));
                    let bench = bench.clone();
                    back.spawn(async move {
                        tokio::time::sleep(away).await;
                        let device = bench.connect(phone.auth.clone(), phone.account_id.clone());
                        *phone.connected.lock().unwrap_or_else(|p| p.into_inner()) = Some(device);
                    });
                }
            }
            while back.join_next().await.is_some() {}
        })
    };
    // Memory and threads every 10 s, with the logins so far.
    let done = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (bench, done) = (bench.clone(), done.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            let mut max = before;
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let now = Sample::take();
                eprintln!(
                    "tapprove-soak: {:>5} s, {} logins, {now}, {} codes held",
                    start.elapsed().as_secs(),
                    done.load(Ordering::Relaxed),
                    bench.codes_held()
                );
                max.rss_kib = max.rss_kib.max(now.rss_kib);
                max.heap_kib = max.heap_kib.max(now.heap_kib);
            }
            max
        })
    };
    // The site: each user logs in again as soon as the previous login is accepted.
    let mut workers = tokio::task::JoinSet::new();
    for name in names.clone() {
        let (bench, done, times) = (bench.clone(), done.clone(), times.clone());
        workers.spawn(async move {
            while Instant::now() < deadline {
                let took = bench.login(&name).await?;
                times
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .saturating_record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, BenchError>(())
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(e) => failures.push(format!("site worker panicked: {e}")),
        }
    }
    let _ = churn.await;
    let max = sampler.await.unwrap_or(before);

    // Every device connected again. The service notices a device that went away when its next
    // keep-alive write fails (every 15 s), so give its streams up to 30 s to end.
    let settle_start = Instant::now();
    while settle_start.elapsed() < SETTLE {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if Sample::take().threads <= before.threads + SLACK && alive_tasks() <= tasks_before + SLACK
        {
            break;
        }
    }
    let settled = settle_start.elapsed();
    let connected = phones
        .iter()
        .filter(|p| {
            p.connected
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some()
        })
        .count();
    let after = Sample::take();
    let tasks_after = alive_tasks();
    let codes_held = bench.codes_held();
    let (logins, p50, p99, slowest) = {
        let times = times.lock().unwrap_or_else(|p| p.into_inner());
        let ms = |micros: u64| micros as f64 / 1e3;
        (
            times.len(),
            ms(times.value_at_quantile(0.50)),
            ms(times.value_at_quantile(0.99)),
            ms(times.max()),
        )
    };
    println!(
        "RESULT SOAK seconds={seconds} users={users} logins={} failed={} disconnects={} p50_ms={:.1} p99_ms={:.1} max_ms={:.1} threads={}->{} tasks={tasks_before}->{tasks_after} settled_s={:.0} rss_kib={}->{} rss_max_kib={} heap_kib={}->{} heap_max_kib={} codes_held={codes_held}",
        logins,
        failures.len(),
        disconnects.load(Ordering::Relaxed),
        p50,
        p99,
        slowest,
        before.threads,
        after.threads,
        settled.as_secs_f64(),
        before.rss_kib,
        after.rss_kib,
        max.rss_kib.max(after.rss_kib),
        before.heap_kib,
        after.heap_kib,
        max.heap_kib.max(after.heap_kib),
    );

    // The consistency check.
    let mut problems = failures;
    if connected != users {
        problems.push(format!("{} devices never reconnected", users - connected));
    }
    if after.threads > before.threads + SLACK {
        problems.push(format!(
            "threads grew from {} to {}: event streams leaked",
            before.threads, after.threads
        ));
    }
    if tasks_after > tasks_before + SLACK {
        problems.push(format!(
            "tasks grew from {tasks_before} to {tasks_after} and stayed {} s: streams or long-polls leaked",
            SETTLE.as_secs()
        ));
    }
    drop(phones);
    if let Ok(bench) = Arc::try_unwrap(bench) {
        bench.shutdown().await?;
    }
    if problems.is_empty() {
        eprintln!("tapprove-soak: consistent (every login accepted, nothing leaked)");
        Ok(())
    } else {
        Err(BenchError::Login(format!(
            "soak inconsistent: {}",
            problems.join("; ")
        )))
    }
}
