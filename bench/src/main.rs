//! `tapprove-bench`: the login benchmarks (P4 latency, P5 throughput). Prints figures, one
//! `RESULT` line per measurement for `cargo xtask bench` to parse; never judges them. The soak
//! is its own binary, `tapprove-soak` (src/bin/soak.rs), because it counts every allocation.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tapprove_bench::budget::{CpuSample, CryptoFloor, StatementCounter, processes_cpu};
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
        /// The service on the same tokio runtime as the device and the site (as builds
        /// before the budget did), not on its own.
        #[arg(long)]
        shared_runtime: bool,
    },
    /// The budget of a login, sequential logins of one device: SQL statements and write
    /// transactions per login (counted), the service's CPU time per login (its own threads)
    /// and the crypto floor (what its signatures and verifications alone cost).
    Budget {
        /// Measured logins (after the warm-up).
        #[arg(long, default_value_t = 300)]
        logins: usize,
        /// Unmeasured logins first.
        #[arg(long, default_value_t = 30)]
        warmup: usize,
    },
    /// P8: idle event streams held by one service process (in a child process), the memory
    /// each costs and the login latency while they are held.
    Streams {
        /// Paired accounts the streams are spread over.
        #[arg(long, default_value_t = 5000)]
        accounts: usize,
        /// Streams to open (at most what the descriptor limit allows).
        #[arg(long, default_value_t = 20_000)]
        streams: usize,
        /// Loopback source addresses, from 127.0.0.2.
        #[arg(long, default_value_t = 4)]
        sources: usize,
        /// Logins timed before and while the streams are held.
        #[arg(long, default_value_t = 200)]
        logins: usize,
    },
    /// The service process of `streams` (started by it).
    #[command(hide = true)]
    StreamsService {
        #[arg(long)]
        database: String,
        #[arg(long)]
        max_connections: usize,
        #[arg(long)]
        streams_per_account: u32,
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
        /// The service on the same tokio runtime as the devices and the site (as builds
        /// before the budget did), not on its own; its CPU time is then not told apart.
        #[arg(long)]
        shared_runtime: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tapprove_bench::run_main("tapprove-bench", async {
        match cli.command {
            Command::Latency {
                logins,
                warmup,
                shared_runtime,
            } => latency(logins, warmup, shared_runtime).await,
            Command::Budget { logins, warmup } => budget(logins, warmup).await,
            Command::Streams {
                accounts,
                streams,
                sources,
                logins,
            } => {
                let options = tapprove_bench::streams::StreamsOptions {
                    accounts,
                    streams,
                    sources,
                    logins,
                };
                tapprove_bench::streams::run(&options).await
            }
            Command::StreamsService {
                database,
                max_connections,
                streams_per_account,
            } => {
                tapprove_bench::streams::serve_child(
                    &database,
                    max_connections,
                    streams_per_account,
                )
                .await
            }
            Command::Throughput {
                users,
                logins_per_user,
                database,
                instances,
                shared_runtime,
            } => {
                let options = BenchOptions {
                    database,
                    instances,
                    shared_runtime,
                };
                throughput(users, logins_per_user, &options).await
            }
        }
    })
}

async fn latency(logins: usize, warmup: usize, shared_runtime: bool) -> Result<(), BenchError> {
    let options = BenchOptions {
        shared_runtime,
        ..BenchOptions::default()
    };
    let bench = Bench::start_with(&options).await?;
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

async fn budget(logins: usize, warmup: usize) -> Result<(), BenchError> {
    // Before the service starts, so every statement's call site reports to it.
    let statements = StatementCounter::default();
    statements.install()?;
    let bench = Bench::start().await?;
    let device = bench.pair_device("alice").await?;
    for _ in 0..warmup {
        bench.login("alice").await?;
    }
    let (cpu, counts, sent) = (CpuSample::now()?, bench.store_counts(), statements.get());
    for _ in 0..logins {
        bench.login("alice").await?;
    }
    let used = CpuSample::now()?.since(&cpu);
    let after = bench.store_counts();
    let writes = after.write_transactions - counts.write_transactions;
    // sqlx's events, and what SQLite's synchronous writer ran (sqlx does not see those).
    let sent = statements.get() - sent + (after.direct_statements - counts.direct_statements);
    let floor = crypto_floor().await?;
    let n = logins.max(1) as f64;
    let service_ms = ms(used.service) / n;
    println!(
        "RESULT BUDGET statements_per_login={:.2} write_transactions_per_login={:.2} \
         service_cpu_ms_per_login={service_ms:.3} others_cpu_ms_per_login={:.3} \
         floor_service_ms={:.3} service_vs_floor={:.2} logins={logins}",
        sent as f64 / n,
        writes as f64 / n,
        ms(used.others()) / n,
        ms(floor.service()),
        service_ms / ms(floor.service()),
    );
    drop(device);
    bench.shutdown().await
}

/// The crypto floor, measured now on a blocking thread (by its own CPU time).
async fn crypto_floor() -> Result<CryptoFloor, BenchError> {
    tokio::task::spawn_blocking(|| CryptoFloor::measure(21, 40))
        .await
        .map_err(|e| BenchError::Setup(format!("crypto floor: {e}")))?
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
    bench.analyze().await?;
    let floor = crypto_floor().await?;
    let database = DatabaseCpu::start(bench).await?;
    let (cpu, counts) = (CpuSample::now()?, bench.store_counts());
    let start = Instant::now();
    let mut samples = run_all(bench, &names, logins_per_user).await?;
    let elapsed = start.elapsed();
    let used = CpuSample::now()?.since(&cpu);
    let writes = bench.store_counts().write_transactions - counts.write_transactions;
    let database = database.used(bench).await?;
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
    let n = total.max(1) as f64;
    let service_ms = ms(used.service) / n;
    let floor_rate = floor.logins_per_second(cores());
    println!(
        "RESULT P5BUDGET service_cpu_ms_per_login={service_ms:.3} \
         others_cpu_ms_per_login={:.3} database_cpu_ms_per_login={:.3} \
         write_transactions_per_login={:.2} floor_sign_us={:.1} floor_verify_us={:.1} \
         floor_service_ms={:.3} floor_service_device_ms={:.3} service_vs_floor={:.2} \
         floor_logins_per_s={floor_rate:.0} p5_of_floor={:.3} cores={} backend={}",
        ms(used.others()) / n,
        ms(database) / n,
        writes as f64 / n,
        floor.sign.as_secs_f64() * 1e6,
        floor.verify.as_secs_f64() * 1e6,
        ms(floor.service()),
        ms(floor.service_and_device()),
        service_ms / ms(floor.service()),
        per_second / floor_rate,
        cores(),
        bench.backend().name(),
    );
    drop(devices);
    Ok(())
}

/// Cores of this machine, for the floor's logins per second.
fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

/// CPU time of the PostgreSQL backends serving the run (none on SQLite), from a start.
struct DatabaseCpu(std::collections::HashMap<u32, Duration>);

impl DatabaseCpu {
    async fn start(bench: &Bench) -> Result<Self, BenchError> {
        let pids = bench.database_processes().await?;
        Ok(Self(
            pids.into_iter().map(|p| (p, processes_cpu(&[p]))).collect(),
        ))
    }

    /// What the backends used since the start (a backend that came later counts whole; one
    /// that ended meanwhile is missing).
    async fn used(&self, bench: &Bench) -> Result<Duration, BenchError> {
        let pids = bench.database_processes().await?;
        Ok(pids
            .into_iter()
            .map(|p| {
                let before = self.0.get(&p).copied().unwrap_or_default();
                processes_cpu(&[p]).saturating_sub(before)
            })
            .sum())
    }
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
