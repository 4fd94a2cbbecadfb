//! `tapprove-bench`: the login benchmarks (P4 latency, P5 throughput). Prints figures, one
//! `RESULT` line per measurement for `cargo xtask bench` to parse; never judges them. The soak
//! is its own binary, `tapprove-soak` (src/bin/soak.rs), because it counts every allocation.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tapprove_bench::{Bench, BenchError, BenchOptions, ms, quantile};

#[derive(Parser)]
#[command(about = "Tapprove login benchmarks over loopback HTTP (see docs/PERFORMANCE.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// P4: one device, sequential logins; prints p50/p99 of site-side login latency.
    Latency {
        /// Measured logins (after the warm-up).
        #[arg(long, default_value_t = 1000)]
        logins: usize,
        /// Unmeasured logins first (connections, caches, SQLite pages).
        #[arg(long, default_value_t = 50)]
        warmup: usize,
    },
    /// P5: many users, each with its own device, logging in concurrently; prints logins/s.
    Throughput {
        /// Users (one device and one concurrent site worker each).
        #[arg(long, default_value_t = 200)]
        users: usize,
        /// Sequential logins per user.
        #[arg(long, default_value_t = 25)]
        logins_per_user: usize,
        /// Database: unset, a temporary SQLite file; `sqlite://FILE?mode=rwc` (a new file);
        /// `postgres://USER[:PASSWORD]@HOST:PORT/DB`, a PostgreSQL server on which the run
        /// creates a fresh database (the user needs CREATEDB) and drops it at the end.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// Instances of the service in this process, all on that database (more than one
        /// needs PostgreSQL); the site and the devices spread their calls round robin.
        #[arg(long, default_value_t = 1)]
        instances: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tapprove_bench::run_main("tapprove-bench", async {
        match cli.command {
            Command::Latency { logins, warmup } => latency(logins, warmup).await,
            Command::Throughput {
                users,
                logins_per_user,
                database,
                instances,
            } => {
                let options = BenchOptions {
                    database,
                    instances,
                };
                throughput(users, logins_per_user, &options).await
            }
        }
    })
}

async fn latency(logins: usize, warmup: usize) -> Result<(), BenchError> {
    let bench = Bench::start().await?;
    let device = bench.pair_device("alice").await?;
    for _ in 0..warmup {
        bench.login("alice").await?;
    }
    let mut samples = Vec::with_capacity(logins);
    for _ in 0..logins {
        samples.push(bench.login("alice").await?);
    }
    let p50 = quantile(&mut samples, 0.50);
    let p99 = quantile(&mut samples, 0.99);
    let max = quantile(&mut samples, 1.0);
    println!(
        "RESULT P4 p50_ms={:.2} p99_ms={:.2} max_ms={:.2} logins={logins}",
        ms(p50),
        ms(p99),
        ms(max)
    );
    drop(device);
    bench.shutdown().await
}

async fn throughput(
    users: usize,
    logins_per_user: usize,
    options: &BenchOptions,
) -> Result<(), BenchError> {
    let bench = Arc::new(Bench::start_with(options).await?);
    let result = measure_throughput(&bench, users, logins_per_user).await;
    // Shut down (and drop a PostgreSQL database) whether or not the run worked.
    let finished = finish(bench).await;
    result.and(finished)
}

async fn measure_throughput(
    bench: &Arc<Bench>,
    users: usize,
    logins_per_user: usize,
) -> Result<(), BenchError> {
    let names: Vec<String> = (0..users).map(|i| format!("user{i:04}")).collect();
    let mut devices = Vec::with_capacity(users);
    let pair_start = Instant::now();
    for name in &names {
        devices.push(bench.pair_device(name).await?);
    }
    eprintln!(
        "tapprove-bench: paired {users} devices in {:.1?} ({} on {} instance(s))",
        pair_start.elapsed(),
        bench.backend().name(),
        bench.instances()
    );
    // One unmeasured login per user: every event stream is connected before the clock starts.
    run_all(bench, &names, 1).await?;
    let start = Instant::now();
    let mut samples = run_all(bench, &names, logins_per_user).await?;
    let elapsed = start.elapsed();
    let total = samples.len();
    let per_second = total as f64 / elapsed.as_secs_f64();
    let p50 = quantile(&mut samples, 0.50);
    let p99 = quantile(&mut samples, 0.99);
    println!(
        "RESULT P5 logins_per_s={per_second:.0} logins={total} users={users} seconds={:.2} p50_ms={:.2} p99_ms={:.2} backend={} instances={}",
        elapsed.as_secs_f64(),
        ms(p50),
        ms(p99),
        bench.backend().name(),
        bench.instances()
    );
    drop(devices);
    Ok(())
}

/// Shuts the bench down once no worker holds it any more (aborted workers of a failed run
/// let go of it shortly after).
async fn finish(mut bench: Arc<Bench>) -> Result<(), BenchError> {
    for _ in 0..100 {
        match Arc::try_unwrap(bench) {
            Ok(bench) => return bench.shutdown().await,
            Err(shared) => bench = shared,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(BenchError::Setup(
        "workers still running after 5 s; the service was not shut down (a PostgreSQL \
         database tapprove_bench_… may be left to drop by hand)"
            .into(),
    ))
}

/// Every user logs in `each` times in sequence, all users concurrently.
async fn run_all(
    bench: &Arc<Bench>,
    names: &[String],
    each: usize,
) -> Result<Vec<Duration>, BenchError> {
    let mut tasks = tokio::task::JoinSet::new();
    for name in names {
        let bench = bench.clone();
        let name = name.clone();
        tasks.spawn(async move {
            let mut out = Vec::with_capacity(each);
            for _ in 0..each {
                out.push(bench.login(&name).await?);
            }
            Ok::<_, BenchError>(out)
        });
    }
    let mut samples = Vec::with_capacity(names.len() * each);
    while let Some(joined) = tasks.join_next().await {
        let worker = joined.map_err(|e| BenchError::Login(format!("worker panicked: {e}")))?;
        samples.extend(worker?);
    }
    Ok(samples)
}
