//! The budget of a login: CPU time by who spent it (the service's threads, the rest of this
//! process, PostgreSQL's backends), the store's write transactions, the SQL statements sent,
//! and the crypto floors (the CPU time of exactly the signatures and verifications a login
//! needs), all measured in the run that reports them.
//!
//! CPU time comes from the kernel's per-thread accounting (`/proc/self/task/*/schedstat`,
//! nanoseconds of CPU each thread has run), so it is measured, not estimated. The service
//! runs on its own tokio runtime whose threads are named [`SERVICE_THREAD`]; SQLite's
//! connection threads (`sqlx-sqlite-worker-N`) are the service's too.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};

use crate::{BenchError, Result};

/// The name of the service runtime's threads.
pub const SERVICE_THREAD: &str = "tapprove-svc";

/// Thread name prefixes (as the kernel keeps them, 15 bytes) that count as the service.
const SERVICE_PREFIXES: [&str; 2] = [SERVICE_THREAD, "sqlx-sqlite-wor"];

/// Kernel clock ticks per second of `/proc/*/stat` times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: u64 = 100;

/// CPU time used so far, by whom.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSample {
    /// The service's threads (live ones: the service runtime keeps its threads alive).
    pub service: Duration,
    /// The whole process (live and exited threads), at `/proc/self/stat`'s tick resolution.
    pub process: Duration,
}

impl CpuSample {
    /// Now, from `/proc/self`.
    pub fn now() -> Result<Self> {
        let mut service = Duration::ZERO;
        let tasks = std::fs::read_dir("/proc/self/task")
            .map_err(|e| BenchError::Setup(format!("cannot list /proc/self/task: {e}")))?;
        for task in tasks.flatten() {
            let path = task.path();
            let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
                continue; // the thread ended meanwhile
            };
            if SERVICE_PREFIXES.iter().any(|p| comm.trim().starts_with(p)) {
                service += thread_cpu(&path).unwrap_or_default();
            }
        }
        let process = stat_cpu("/proc/self/stat")?;
        Ok(Self { service, process })
    }

    /// What was used between `earlier` and this sample.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            service: self.service.saturating_sub(earlier.service),
            process: self.process.saturating_sub(earlier.process),
        }
    }

    /// The process's CPU outside the service (devices, site, the bench itself).
    pub fn others(&self) -> Duration {
        self.process.saturating_sub(self.service)
    }
}

/// A thread's CPU time: `schedstat`'s first field (nanoseconds), else `stat`'s ticks.
fn thread_cpu(task: &std::path::Path) -> Option<Duration> {
    if let Ok(s) = std::fs::read_to_string(task.join("schedstat"))
        && let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse().ok())
    {
        return Some(Duration::from_nanos(ns));
    }
    stat_cpu(&task.join("stat").to_string_lossy()).ok()
}

/// User + system time of a `/proc/…/stat` file (fields 14 and 15, after the `(comm)`).
pub fn stat_cpu(path: &str) -> Result<Duration> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| BenchError::Setup(format!("cannot read {path}: {e}")))?;
    parse_stat_cpu(&text).ok_or_else(|| BenchError::Setup(format!("unexpected format of {path}")))
}

fn parse_stat_cpu(text: &str) -> Option<Duration> {
    // The command name may contain spaces and parentheses: fields count from the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SECOND,
    ))
}

/// CPU time of these processes (PostgreSQL backends), summed; one that ended counts 0.
pub fn processes_cpu(pids: &[u32]) -> Duration {
    pids.iter()
        .filter_map(|pid| stat_cpu(&format!("/proc/{pid}/stat")).ok())
        .sum()
}

/// This thread's CPU time so far (`CLOCK_THREAD_CPUTIME_ID`), to time code by the CPU it uses
/// rather than by the wall clock of a shared machine.
pub fn own_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// The CPU time of the crypto a login needs, per operation (ES256, ring, as the service and
/// the device core use it).
#[derive(Debug, Clone, Copy)]
pub struct CryptoFloor {
    /// One P-256 ECDSA signature (the service signs each device's challenge; the device
    /// signs its answer).
    pub sign: Duration,
    /// One P-256 ECDSA verification (the service verifies the answer; the device verifies
    /// the challenge).
    pub verify: Duration,
}

/// Bytes signed per operation: about a signed challenge's signing input.
const SIGNED_BYTES: usize = 700;

impl CryptoFloor {
    /// Times `batches` interleaved batches of `per_batch` signatures and verifications by
    /// this thread's CPU time; the median batch of each.
    pub fn measure(batches: usize, per_batch: usize) -> Result<Self> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| BenchError::Setup("cannot generate a P-256 key".into()))?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| BenchError::Setup("cannot load the P-256 key".into()))?;
        let message = vec![b'a'; SIGNED_BYTES];
        let signature = key
            .sign(&rng, &message)
            .map_err(|_| BenchError::Setup("cannot sign".into()))?;
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.public_key().as_ref());
        let (mut signs, mut verifies) = (Vec::new(), Vec::new());
        let per = u32::try_from(per_batch.max(1)).unwrap_or(u32::MAX);
        for _ in 0..batches.max(1) {
            let start = own_cpu();
            for _ in 0..per {
                let s = key
                    .sign(&rng, &message)
                    .map_err(|_| BenchError::Setup("cannot sign".into()))?;
                std::hint::black_box(s);
            }
            signs.push((own_cpu() - start) / per);
            let start = own_cpu();
            for _ in 0..per {
                public
                    .verify(std::hint::black_box(&message), signature.as_ref())
                    .map_err(|_| BenchError::Setup("own signature refused".into()))?;
            }
            verifies.push((own_cpu() - start) / per);
        }
        Ok(Self {
            sign: crate::quantile(&mut signs, 0.5),
            verify: crate::quantile(&mut verifies, 0.5),
        })
    }

    /// The service's crypto per login: it signs one challenge (one device) and verifies one
    /// answer.
    pub fn service(&self) -> Duration {
        self.sign + self.verify
    }

    /// The service's and the device's: the device also verifies the challenge and signs its
    /// answer.
    pub fn service_and_device(&self) -> Duration {
        2 * (self.sign + self.verify)
    }

    /// Logins per second `cores` could do if a login cost only the service's and the
    /// device's crypto.
    pub fn logins_per_second(&self, cores: f64) -> f64 {
        cores / self.service_and_device().as_secs_f64()
    }
}

/// Counts the SQL statements the service sends: sqlx reports each statement it ran as a
/// `sqlx::query` tracing event (only when someone listens, so a run that counts pays for the
/// event and one that does not pays nothing). `BEGIN`/`COMMIT`/`ROLLBACK` are left out
/// (SQLite's driver does not report them; the store counts transactions itself).
#[derive(Clone, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    /// Statements counted so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Installs the counter as the process's tracing subscriber (only sqlx's statement
    /// events are enabled).
    pub fn install(&self) -> Result<()> {
        tracing::subscriber::set_global_default(self.clone())
            .map_err(|e| BenchError::Setup(format!("cannot count statements: {e}")))
    }
}

const STATEMENT_TARGET: &str = "sqlx::query";

/// A subscriber of its own (no `tracing-subscriber`: its features would change `tracing`'s
/// and rebuild every crate that logs): statement events only, no spans.
impl tracing::Subscriber for StatementCounter {
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if self.enabled(metadata) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        // Events and `enabled!` hints (sqlx asks before it builds an event), never spans.
        !metadata.is_span() && metadata.target() == STATEMENT_TARGET
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        // Spans are never enabled (see `enabled`); an id is still owed.
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut summary = Summary(false);
        event.record(&mut summary);
        if !summary.0 {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// Whether an event's `summary` names a transaction statement.
struct Summary(bool);

impl tracing::field::Visit for Summary {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "summary" {
            self.0 = is_transaction_statement(value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.0 = is_transaction_statement(&format!("{value:?}").replace('"', ""));
        }
    }
}

fn is_transaction_statement(summary: &str) -> bool {
    let first = summary.split_whitespace().next().unwrap_or_default();
    ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"]
        .iter()
        .any(|w| first.eq_ignore_ascii_case(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_count_from_the_last_parenthesis() {
        // A command name with a space and a ')' in it; utime 250, stime 50 ticks.
        let line = "42 (a b) c) S 1 42 42 0 -1 4194560 10 0 0 0 250 50 0 0 20 0 3 0 9 0 0";
        assert_eq!(parse_stat_cpu(line), Some(Duration::from_secs(3)));
        assert_eq!(parse_stat_cpu("garbage"), None);
    }

    #[test]
    fn transaction_statements_are_not_counted() {
        assert!(is_transaction_statement("BEGIN IMMEDIATE"));
        assert!(is_transaction_statement("commit"));
        assert!(!is_transaction_statement("INSERT INTO sessions …"));
    }

    #[test]
    fn the_crypto_floor_is_measured_in_cpu_time() {
        let floor = CryptoFloor::measure(3, 5).expect("floor");
        // A P-256 signature and verification each take tens of microseconds, never nothing
        // and never a second.
        for t in [floor.sign, floor.verify] {
            assert!(t > Duration::ZERO && t < Duration::from_secs(1), "{t:?}");
        }
        assert_eq!(floor.service_and_device(), 2 * floor.service());
    }

    #[test]
    fn the_service_threads_are_told_apart() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(SERVICE_THREAD)
            .build()
            .expect("runtime");
        let before = CpuSample::now().expect("sample");
        runtime.block_on(async {
            tokio::spawn(async {
                // Busy on a service thread for 200 ms of its own CPU time.
                let start = own_cpu();
                let mut x = 0u64;
                while own_cpu() - start < Duration::from_millis(200) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            })
            .await
            .expect("task");
        });
        let used = CpuSample::now().expect("sample").since(&before);
        runtime.shutdown_background();
        assert!(
            used.service >= Duration::from_millis(150),
            "service threads' CPU not counted: {used:?}"
        );
    }
}
