//! `tapprove-bench soak`: logins for a bounded time while devices drop their event stream and
//! open it again at random, then a consistency check (issue 15; not in CI, figures in
//! docs/PERFORMANCE.md). Every login must end `accepted` (a device that was away gets the
//! request when it comes back, from the pending list), and once every device is connected
//! again the process must hold as many threads and tasks as before the churn: a stream that
//! did not end when its device went away would show there.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tapprove_bench::{Bench, BenchError, Device, ms, quantile};
use tapprove_core::Authenticator;

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

/// `Threads:` and `VmRSS:` (KiB) of this process, from /proc (0 where unavailable).
fn threads_and_rss() -> (usize, usize) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("Threads:"), field("VmRSS:"))
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Runs the soak for `seconds` with `users` users (one device each).
pub async fn soak(seconds: u64, users: usize, seed: u64) -> Result<(), BenchError> {
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
    let (threads_before, rss_before) = threads_and_rss();
    let tasks_before = alive_tasks();
    eprintln!(
        "tapprove-bench soak: {users} users for {seconds} s (seed {seed}); baseline {threads_before} threads, {tasks_before} tasks, {rss_before} KiB"
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
    // Memory and threads every 10 s.
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let samples = samples.clone();
        tokio::spawn(async move {
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let (threads, rss) = threads_and_rss();
                eprintln!("tapprove-bench soak: {threads} threads, {rss} KiB");
                samples.lock().unwrap_or_else(|p| p.into_inner()).push(rss);
            }
        })
    };
    // The site: each user logs in again as soon as the previous login is accepted.
    let mut workers = tokio::task::JoinSet::new();
    for name in names.clone() {
        let bench = bench.clone();
        workers.spawn(async move {
            let mut times = Vec::new();
            while Instant::now() < deadline {
                times.push(bench.login(&name).await?);
            }
            Ok::<_, BenchError>(times)
        });
    }
    let mut times = Vec::new();
    let mut failures = Vec::new();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(Ok(t)) => times.extend(t),
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(e) => failures.push(format!("site worker panicked: {e}")),
        }
    }
    let _ = churn.await;
    let _ = sampler.await;

    // Every device connected again. The service notices a device that went away when its next
    // keep-alive write fails (every 15 s), so give its streams up to 30 s to end.
    let settle_start = Instant::now();
    while settle_start.elapsed() < SETTLE {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (threads, _) = threads_and_rss();
        if threads <= threads_before + SLACK && alive_tasks() <= tasks_before + SLACK {
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
    let (threads_after, rss_after) = threads_and_rss();
    let tasks_after = alive_tasks();
    let rss_max = samples
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .copied()
        .chain([rss_after])
        .max()
        .unwrap_or(rss_after);
    let logins = times.len();
    let p50 = quantile(&mut times, 0.50);
    let p99 = quantile(&mut times, 0.99);
    let max = quantile(&mut times, 1.0);
    println!(
        "RESULT SOAK seconds={seconds} users={users} logins={logins} failed={} disconnects={} p50_ms={:.1} p99_ms={:.1} max_ms={:.1} threads={threads_before}->{threads_after} tasks={tasks_before}->{tasks_after} settled_s={:.0} rss_kib={rss_before}->{rss_after} rss_max_kib={rss_max}",
        failures.len(),
        disconnects.load(Ordering::Relaxed),
        ms(p50),
        ms(p99),
        ms(max),
        settled.as_secs_f64(),
    );

    // The consistency check.
    let mut problems = failures;
    if connected != users {
        problems.push(format!("{} devices never reconnected", users - connected));
    }
    if threads_after > threads_before + SLACK {
        problems.push(format!(
            "threads grew from {threads_before} to {threads_after}: event streams leaked"
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
        eprintln!("tapprove-bench soak: consistent (every login accepted, nothing leaked)");
        Ok(())
    } else {
        Err(BenchError::Login(format!(
            "soak inconsistent: {}",
            problems.join("; ")
        )))
    }
}
