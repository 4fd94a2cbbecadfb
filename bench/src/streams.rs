//! P8: how many idle device event streams one service process holds, what each costs in
//! memory, and the login latency while they are held.
//!
//! The service runs in a child process (this binary, hidden subcommand `streams-service`):
//! each stream takes a descriptor on both ends, so one process could hold only half as many,
//! and the child's resident memory is the service's alone. The parent pairs the accounts
//! (through the device core), then opens the streams itself as plain HTTP/1.1 requests, each
//! with its account's request proof, from several loopback source addresses (127.0.0.2, …:
//! each address has its own range of ephemeral ports), and holds them reading nothing but
//! the keep-alive comments. Logins (one device on the core's own event stream, as P4) are
//! timed before the streams open and while they are held.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use ring::rand::{SecureRandom as _, SystemRandom};
use tapprove_core::{
    Authenticator, Config, DEVICE_KEY_PREFIX, MemoryStore, SecureStore as _, SoftwareSigner,
};
use tapprove_protocol::SoftwareKey;
use tapprove_protocol::request_auth::RequestProof;
use tapprove_server::{SealKey, Service, ServiceConfig};
use tapprove_test_support::fixture;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::database::BenchDatabase;
use crate::{Bench, BenchError, Result, bench_limits, ms, quantile};

/// The environment variable that hands the child the seal key (not on its command line).
const SEAL_KEY_ENV: &str = "TAPPROVE_BENCH_SEAL_KEY";
/// Descriptors each process keeps for everything but the streams (listeners, the database,
/// the login device and site, the runtime).
const RESERVED_DESCRIPTORS: usize = 400;
/// Streams and pairings opened at a time.
const OPENING_AT_ONCE: usize = 64;
const PAIRING_AT_ONCE: usize = 8;
/// The event stream's path.
const EVENTS_PATH: &str = "/v1/device/events";

/// What `tapprove-bench streams` does.
#[derive(Debug, Clone)]
pub struct StreamsOptions {
    /// Paired accounts the streams are spread over.
    pub accounts: usize,
    /// Streams to open (fewer when the descriptor limit does not allow them; said so).
    pub streams: usize,
    /// Loopback source addresses (127.0.0.2 onwards).
    pub sources: usize,
    /// Logins timed before and while the streams are held.
    pub logins: usize,
}

/// Runs P8 and prints its `RESULT P8` line.
pub async fn run(options: &StreamsOptions) -> Result<()> {
    let limit = open_files_limit()?;
    let streams = options
        .streams
        .min(limit.saturating_sub(RESERVED_DESCRIPTORS));
    if streams < options.streams {
        eprintln!(
            "tapprove-bench: {} streams asked, {streams} opened: each process may open {limit} \
             descriptors (RLIMIT_NOFILE; raise it with `ulimit -n` where the hard limit allows)",
            options.streams
        );
    }
    let accounts = options.accounts.max(1);
    let per_account = streams.div_ceil(accounts).max(1);
    let database = BenchDatabase::prepare(None).await?;
    let mut seal = [0u8; 32];
    SystemRandom::new()
        .fill(&mut seal)
        .map_err(|_| BenchError::Setup("no randomness for the seal key".into()))?;
    let exe = std::env::current_exe()
        .map_err(|e| BenchError::Setup(format!("cannot find this program: {e}")))?;
    // std's process API on blocking threads (tokio's would need its `process` feature in
    // the whole workspace for this one tool).
    let mut child = std::process::Command::new(exe)
        .args(["streams-service", "--database", database.url()])
        .args([
            "--max-connections",
            &(streams + RESERVED_DESCRIPTORS).to_string(),
        ])
        .args(["--streams-per-account", &per_account.to_string()])
        .env(SEAL_KEY_ENV, hex(&seal))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| BenchError::Setup(format!("cannot start the service process: {e}")))?;
    let pid = child.id();
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        if let Some(out) = stdout {
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line);
        }
        line
    })
    .await
    .map_err(|e| BenchError::Setup(format!("reading the service process: {e}")))?;
    let addr: Option<SocketAddr> = line
        .trim()
        .strip_prefix("READY ")
        .and_then(|a| a.parse().ok());
    let result = match addr {
        Some(addr) => measure(options, streams, accounts, pid, addr, database, seal).await,
        None => Err(BenchError::Setup(format!(
            "the service process did not start: {line:?}"
        ))),
    };
    // Closing its stdin tells the child to shut down.
    drop(stdin);
    let waited = tokio::task::spawn_blocking(move || {
        for _ in 0..200 {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => return Err(e.to_string()),
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        Err("it did not stop within 20 s and was killed".to_owned())
    })
    .await;
    match waited {
        Ok(Ok(status)) if status.success() => {}
        Ok(Ok(status)) => eprintln!("tapprove-bench: the service process ended with {status}"),
        Ok(Err(e)) => eprintln!("tapprove-bench: the service process: {e}"),
        Err(e) => eprintln!("tapprove-bench: waiting for the service process: {e}"),
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    options: &StreamsOptions,
    streams: usize,
    accounts: usize,
    pid: u32,
    addr: SocketAddr,
    database: BenchDatabase,
    seal: [u8; 32],
) -> Result<()> {
    let bench = Bench::attach(
        database,
        format!("http://{addr}"),
        SealKey::from_bytes(seal),
    )
    .await?;
    let started = std::time::Instant::now();
    let keys: Vec<(String, SoftwareKey)> = futures_util::stream::iter(0..accounts)
        .map(|i| pair_with_key(&bench, format!("idle{i:05}")))
        .buffer_unordered(PAIRING_AT_ONCE)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    eprintln!(
        "tapprove-bench: paired {accounts} accounts in {:.1?}",
        started.elapsed()
    );
    let device = bench.pair_device("alice").await?;
    let (idle_p50, idle_p99) = logins(&bench, options.logins).await?;
    let rss_before = rss_kib(pid)?;
    let keys = Arc::new(keys);
    let sources = options.sources.clamp(1, 250);
    let started = std::time::Instant::now();
    let opened: Vec<Result<TcpStream>> = futures_util::stream::iter(0..streams)
        .map(|i| {
            let keys = keys.clone();
            async move {
                let (account, key) = &keys[i % keys.len()];
                let source = Ipv4Addr::new(127, 0, 0, 2 + (i % sources) as u8);
                open_stream(addr, source, account, key).await
            }
        })
        .buffer_unordered(OPENING_AT_ONCE)
        .collect()
        .await;
    let mut held = Vec::with_capacity(opened.len());
    let mut failed = Vec::new();
    for stream in opened {
        match stream {
            Ok(stream) => held.push(tokio::spawn(hold(stream))),
            Err(e) => failed.push(e.to_string()),
        }
    }
    eprintln!(
        "tapprove-bench: {} streams open in {:.1?}, {} failed{}",
        held.len(),
        started.elapsed(),
        failed.len(),
        failed
            .first()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    // Let the service settle (stream rows written, buffers allocated) before reading it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_held = rss_kib(pid)?;
    let (held_p50, held_p99) = logins(&bench, options.logins).await?;
    let open_now = held.iter().filter(|h| !h.is_finished()).count();
    let per_stream = (rss_held.saturating_sub(rss_before) * 1024) as f64 / held.len().max(1) as f64;
    println!(
        "RESULT P8 streams={} still_open={open_now} failed={} accounts={accounts} sources={sources} \
         service_rss_kib_before={rss_before} service_rss_kib_held={rss_held} \
         bytes_per_stream={per_stream:.0} p50_ms_before={:.2} p99_ms_before={:.2} \
         p50_ms_held={:.2} p99_ms_held={:.2} logins={}",
        held.len(),
        failed.len(),
        ms(idle_p50),
        ms(idle_p99),
        ms(held_p50),
        ms(held_p99),
        options.logins
    );
    for h in &held {
        h.abort();
    }
    drop(device);
    bench.shutdown().await
}

/// `logins` sequential logins of `alice`: p50 and p99.
async fn logins(bench: &Bench, logins: usize) -> Result<(Duration, Duration)> {
    let mut samples = Vec::with_capacity(logins);
    for _ in 0..logins {
        samples.push(bench.login("alice").await?);
    }
    Ok((quantile(&mut samples, 0.50), quantile(&mut samples, 0.99)))
}

/// Pairs a software device for `user` through the core; its account id and device key (to
/// sign the streams' request proofs; the core is dropped).
async fn pair_with_key(bench: &Bench, user: String) -> Result<(String, SoftwareKey)> {
    let store = Arc::new(MemoryStore::new());
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    let config = Config::new(&bench.bases[0], &bench.sdk_key)?;
    let auth = Authenticator::new(config, store.clone(), signer)?;
    let account = auth.pair(&user, fixture::PAIRING_CODE, None).await?;
    let store_error =
        |e: tapprove_core::StoreError| BenchError::Setup(format!("device store: {e}"));
    let names = store.list_keys(DEVICE_KEY_PREFIX).map_err(store_error)?;
    let [name] = names.as_slice() else {
        return Err(BenchError::Setup(format!(
            "expected one device key after pairing, found {}",
            names.len()
        )));
    };
    let der = store
        .get(name)
        .map_err(store_error)?
        .ok_or_else(|| BenchError::Setup("the device key vanished".into()))?;
    let key = SoftwareKey::from_pkcs8(der.expose_secret())
        .map_err(|e| BenchError::Setup(format!("device key: {e}")))?;
    Ok((account.id, key))
}

/// Opens one event stream from `source`: the request with a fresh request proof, then the
/// response head (it must be `200`). The body stays unread.
async fn open_stream(
    addr: SocketAddr,
    source: Ipv4Addr,
    account_id: &str,
    key: &SoftwareKey,
) -> Result<TcpStream> {
    let io = |what: &str, e: std::io::Error| BenchError::Setup(format!("stream {what}: {e}"));
    let socket = TcpSocket::new_v4().map_err(|e| io("socket", e))?;
    socket
        .bind(SocketAddr::new(source.into(), 0))
        .map_err(|e| io(&format!("bind to {source}"), e))?;
    let mut stream = socket.connect(addr).await.map_err(|e| io("connect", e))?;
    let mut jti = [0u8; 16];
    SystemRandom::new()
        .fill(&mut jti)
        .map_err(|_| BenchError::Setup("no randomness for a proof id".into()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let proof =
        RequestProof::authorization(account_id, "GET", EVENTS_PATH, b"", now, &hex(&jti), key)
            .map_err(|e| BenchError::Setup(format!("request proof: {e}")))?;
    let request = format!(
        "GET {EVENTS_PATH} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {proof}\r\n{}: {}\r\n\
         Accept: text/event-stream\r\n\r\n",
        tapprove_protocol::SDK_VERSION_HEADER,
        tapprove_core::SDK_VERSION
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| io("request", e))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.map_err(|e| io("response", e))?;
        if n == 0 || head.len() > 16 * 1024 {
            return Err(BenchError::Setup(format!(
                "stream response cut short: {:?}",
                String::from_utf8_lossy(&head)
            )));
        }
        head.extend_from_slice(&buf[..n]);
    }
    if !head.starts_with(b"HTTP/1.1 200") {
        let text = String::from_utf8_lossy(&head);
        return Err(BenchError::Setup(format!(
            "stream refused: {}",
            text.lines().next().unwrap_or_default()
        )));
    }
    Ok(stream)
}

/// Holds a stream open, reading (and dropping) what comes, until the service closes it.
async fn hold(mut stream: TcpStream) {
    let mut buf = [0u8; 256];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// The child: the service alone in this process, on `database_url`, the seal key from
/// [`SEAL_KEY_ENV`]; prints `READY <address>` and serves until its stdin closes.
pub async fn serve_child(
    database_url: &str,
    max_connections: usize,
    streams_per_account: u32,
) -> Result<()> {
    let seal = std::env::var(SEAL_KEY_ENV)
        .ok()
        .and_then(|h| unhex(&h))
        .ok_or_else(|| BenchError::Setup(format!("{SEAL_KEY_ENV} is not 64 hex digits")))?;
    let config = ServiceConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: database_url.to_owned(),
        seal_key: Some(SealKey::from_bytes(seal)),
        limits: bench_limits(),
        max_connections,
        max_event_streams_per_account: streams_per_account,
        ..ServiceConfig::default()
    };
    let service = Service::start(config)
        .await
        .map_err(|e| BenchError::Setup(format!("service: {e}")))?;
    println!("READY {}", service.local_addr());
    let _ = tokio::task::spawn_blocking(|| {
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut rest)
    })
    .await;
    service
        .shutdown()
        .await
        .map_err(|e| BenchError::Setup(format!("shutdown: {e}")))
}

/// The soft limit on open descriptors (`/proc/self/limits`).
fn open_files_limit() -> Result<usize> {
    let text = std::fs::read_to_string("/proc/self/limits")
        .map_err(|e| BenchError::Setup(format!("cannot read /proc/self/limits: {e}")))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .map(|soft| soft.parse().unwrap_or(usize::MAX)) // "unlimited"
        .ok_or_else(|| BenchError::Setup("no open-files limit in /proc/self/limits".into()))
}

/// A process's resident memory, KiB (`VmRSS`).
fn rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| BenchError::Setup(format!("cannot read {path}: {e}")))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| BenchError::Setup(format!("no VmRSS in {path}")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seal_key_travels_as_hex() {
        let key: [u8; 32] = std::array::from_fn(|i| (i * 7) as u8);
        assert_eq!(unhex(&hex(&key)), Some(key));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex(&"zz".repeat(32)), None);
    }

    #[test]
    fn the_descriptor_limit_and_memory_are_read() {
        assert!(open_files_limit().expect("limit") > 0);
        assert!(rss_kib(std::process::id()).expect("rss") > 0);
    }
}
