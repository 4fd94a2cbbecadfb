//! Performance measurements behind `cargo xtask bench` (results in
//! docs/PERFORMANCE.md).
//!
//! The login benchmarks (P4, P5) run everything over real loopback HTTP in one process: the
//! service ([`tapprove_server::Service::start`] on port 0, on a temporary SQLite file or a
//! fresh PostgreSQL database, one or several instances), the shared fake relying party's trust
//! webhook (`tapprove-test-support`), devices built on [`tapprove_core::Authenticator`]
//! listening on the event stream, and a "site" calling the relying-party API. With several
//! instances the site and the devices spread their calls over them round robin, like a load
//! balancer without sticky sessions. Nothing here asserts on time: the binaries print figures.

pub mod budget;
mod database;
pub mod streams;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use tapprove_core::{
    AccountRecord, Authenticator, Config, Decision, MemoryStore, RequestEvent, SecureStore as _,
    SoftwareSigner,
};
use tapprove_rp::SessionStatus;
use tapprove_server::{LimitsConfig, RunningService, SealKey, Service, ServiceConfig};
use tapprove_test_support::fixture;
use tapprove_test_support::rp::{FakeRp, TrustMode};
use tokio::sync::oneshot;

pub use database::Backend;
use database::BenchDatabase;

/// How long the site waits for one login before calling it failed.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// One long-poll of the site's.
const LONG_POLL: Duration = Duration::from_secs(25);

/// Why a benchmark could not run (never "too slow": figures are printed, not judged).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Setting up the service, project, store or devices failed.
    #[error("setup failed: {0}")]
    Setup(String),
    /// A login did not complete as the protocol says it should.
    #[error(
        "login failed: {0}; run `cargo test -p tapprove-server` to see whether the service is broken"
    )]
    Login(String),
    /// The device SDK reported an error.
    #[error("device error: {0}")]
    Core(#[from] tapprove_core::CoreError),
    /// An HTTP call from the site failed.
    #[error("HTTP error: {0}")]
    Http(#[from] reqwest::Error),
    /// A relying-party call from the site failed.
    #[error(transparent)]
    Rp(#[from] tapprove_rp::RpError),
}

/// Result type of this crate.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// Where the benchmark's service runs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// `None`: a temporary SQLite file. Otherwise an `sqlite:` URL (used as is) or a
    /// `postgres://` URL naming a server where a fresh database is created for the run and
    /// dropped after it.
    pub database: Option<String>,
    /// In-process instances of the service on that database (more than one needs
    /// PostgreSQL).
    pub instances: usize,
    /// Run the service on the devices' and the site's runtime, as the bench did before the
    /// service had its own (to compare with older builds; its CPU time is then not told
    /// apart, only SQLite's connection threads are).
    pub shared_runtime: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            database: None,
            instances: 1,
            shared_runtime: false,
        }
    }
}

/// Running service instances with one project, a fake trust webhook and a site-side HTTP
/// client.
pub struct Bench {
    database: BenchDatabase,
    services: Vec<RunningService>,
    /// The runtime the services run on (its threads named [`budget::SERVICE_THREAD`], so
    /// their CPU time is told apart from the devices' and the site's).
    runtime: ServiceRuntime,
    /// One base URL per instance, in the order the round robin takes them.
    bases: Vec<String>,
    /// The round robin's position, shared by the site and the devices.
    turn: AtomicUsize,
    sdk_key: String,
    /// The site's relying-party client of each instance (one connection pool), as `bases`.
    sites: Vec<tapprove_rp::RpClient>,
    codes: Arc<Codes>,
    _trust: FakeRp,
}

/// Limits raised for benchmarking: the default push budget (3 sessions per minute, 10 per hour
/// per user), cooldown after rejections and pairing limits would stop a benchmark after a few
/// logins.
pub fn bench_limits() -> LimitsConfig {
    LimitsConfig {
        sessions_per_minute: 1_000_000,
        sessions_per_hour: 1_000_000,
        pairings_per_minute_per_ip: 1_000_000,
        pairings_per_hour_per_user: 1_000_000,
        failures_before_cooldown: 0,
        ..LimitsConfig::default()
    }
}

impl Bench {
    /// Starts the service (one instance, port 0, temporary SQLite file, [`bench_limits`]),
    /// the fake trust webhook (accepting [`fixture::PAIRING_CODE`]) and a project.
    pub async fn start() -> Result<Self> {
        Self::start_with(&BenchOptions::default()).await
    }

    /// Like [`Bench::start`] on the database and with the instances of `options`.
    pub async fn start_with(options: &BenchOptions) -> Result<Self> {
        if options.instances == 0 {
            return Err(BenchError::Setup("--instances must be at least 1".into()));
        }
        let database = BenchDatabase::prepare(options.database.as_deref()).await?;
        if options.instances > 1 && database.backend() == Backend::Sqlite {
            return Err(BenchError::Setup(format!(
                "{} instances need PostgreSQL: an SQLite file serves a single instance (its \
                 events reach only that instance's streams and long-polls); pass \
                 --database postgres://USER@HOST:PORT/DB or --instances 1",
                options.instances
            )));
        }
        match Self::start_on(database, options, None).await {
            Ok(bench) => Ok(bench),
            Err((e, database)) => {
                if let Err(cleanup) = database.remove().await {
                    eprintln!("tapprove-bench: {cleanup}");
                }
                Err(e)
            }
        }
    }

    /// Like [`Bench::start`] with a service someone else started (another process) at
    /// `base`, on `database` (migrated, its service key sealed with `seal_key`).
    pub(crate) async fn attach(
        database: BenchDatabase,
        base: String,
        seal_key: SealKey,
    ) -> Result<Self> {
        match Self::start_on(database, &BenchOptions::default(), Some((base, seal_key))).await {
            Ok(bench) => Ok(bench),
            Err((e, _database)) => Err(e),
        }
    }

    /// Starts `instances` services on `database` (or, with `external`, uses the one at that
    /// base URL whose database is sealed with that key), then the trust webhook and the site.
    async fn start_on(
        database: BenchDatabase,
        options: &BenchOptions,
        external: Option<(String, SealKey)>,
    ) -> Result<Self, (BenchError, BenchDatabase)> {
        let instances = options.instances;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (external_base, seal_key) = match external {
            Some((base, key)) => (Some(base), key),
            None => match SealKey::generate() {
                Ok(key) => (None, key),
                Err(e) => return Err((BenchError::Setup(format!("seal key: {e}")), database)),
            },
        };
        let config = ServiceConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database.url().to_owned(),
            seal_key: Some(seal_key.clone()),
            limits: bench_limits(),
            ..ServiceConfig::default()
        };
        let runtime = match &external_base {
            Some(_) => ServiceRuntime(None),
            None if options.shared_runtime => ServiceRuntime(None),
            None => match ServiceRuntime::start() {
                Ok(runtime) => runtime,
                Err(e) => return Err((e, database)),
            },
        };
        // One after the other: the first creates the schema and the service key, the others
        // find them.
        let mut services = Vec::with_capacity(instances);
        let own = if external_base.is_some() {
            0
        } else {
            instances
        };
        for i in 0..own {
            match runtime
                .run({
                    let config = config.clone();
                    move || Service::start(config)
                })
                .await
            {
                Ok(Ok(service)) => services.push(service),
                failed => {
                    for service in services {
                        let _ = runtime.run(move || service.shutdown()).await;
                    }
                    let why = match failed {
                        Err(e) => e.to_string(),
                        Ok(Err(e)) => e.to_string(),
                        Ok(Ok(_)) => unreachable!("matched above"),
                    };
                    let e = BenchError::Setup(format!("service instance {}: {why}", i + 1));
                    return Err((e, database));
                }
            }
        }
        let trust = FakeRp::start(TrustMode::default()).await;
        let project = match tapprove_server::admin::create_project(
            &config.database_url,
            &seal_key,
            fixture::PROJECT_NAME,
            &trust.trust_url(),
        )
        .await
        {
            Ok(project) => project,
            Err(e) => {
                for service in services {
                    let _ = runtime.run(move || service.shutdown()).await;
                }
                return Err((BenchError::Setup(format!("project: {e}")), database));
            }
        };
        trust.set_credentials(
            &project.webhook_username,
            project.webhook_password.expose(),
            project.webhook_secret.expose(),
        );
        let http = match reqwest::Client::builder()
            .timeout(LOGIN_TIMEOUT + Duration::from_secs(5))
            .pool_max_idle_per_host(1024)
            .build()
        {
            Ok(http) => http,
            Err(e) => {
                for service in services {
                    let _ = runtime.run(move || service.shutdown()).await;
                }
                return Err((e.into(), database));
            }
        };
        let bases: Vec<String> = match external_base {
            Some(base) => vec![base],
            None => services
                .iter()
                .map(|s| format!("http://{}", s.local_addr()))
                .collect(),
        };
        let api_key = tapprove_rp::ApiKey::new(project.api_key.expose());
        let sites = bases
            .iter()
            .map(|b| tapprove_rp::RpClient::with_http(http.clone(), b, api_key.clone()))
            .collect::<std::result::Result<Vec<_>, _>>();
        let sites = match sites {
            Ok(sites) => sites,
            Err(e) => {
                for service in services {
                    let _ = runtime.run(move || service.shutdown()).await;
                }
                return Err((e.into(), database));
            }
        };
        Ok(Self {
            database,
            bases,
            services,
            runtime,
            turn: AtomicUsize::new(0),
            sdk_key: project.sdk_key,
            sites,
            codes: Arc::new(Codes::default()),
            _trust: trust,
        })
    }

    /// The database engine the service runs on.
    pub fn backend(&self) -> Backend {
        self.database.backend()
    }

    /// How many instances serve.
    pub fn instances(&self) -> usize {
        self.bases.len()
    }

    /// The next instance in the round robin (an index into `bases`).
    fn next_instance(&self) -> usize {
        self.turn.fetch_add(1, Ordering::Relaxed) % self.bases.len()
    }

    /// Pairs a new software device (in-memory store) for `user` and starts it answering every
    /// request it receives on its event stream with the code the site shows.
    pub async fn pair_device(&self, user: &str) -> Result<Device> {
        let (auth, account_id) = self.pair_account(user).await?;
        Ok(self.connect(auth, account_id))
    }

    /// Pairs a new software device (in-memory store) for `user`: its authenticator and account
    /// id, not yet listening. With several instances it pairs through the next one and then
    /// talks (event stream, answers) to the one after it.
    pub async fn pair_account(&self, user: &str) -> Result<(Authenticator, String)> {
        let store = Arc::new(MemoryStore::new());
        let signer = Arc::new(SoftwareSigner::new(store.clone()));
        let first = self.next_instance();
        let config = Config::new(&self.bases[first], &self.sdk_key)?;
        let auth = Authenticator::new(config, store.clone(), signer)?;
        let account = auth.pair(user, fixture::PAIRING_CODE, None).await?;
        if self.bases.len() > 1 {
            // The account records the instance it paired with; point it at the next one, as
            // if a load balancer had sent the device's later connections there.
            let key = format!("{}{}", tapprove_core::ACCOUNT_PREFIX, account.id);
            let stored = store
                .get(&key)
                .map_err(|e| BenchError::Setup(format!("device store: {e}")))?
                .ok_or_else(|| BenchError::Setup(format!("paired account {key} not stored")))?;
            let mut record: AccountRecord = serde_json::from_slice(stored.expose_secret())
                .map_err(|e| BenchError::Setup(format!("stored account record: {e}")))?;
            record.server_url = self.bases[(first + 1) % self.bases.len()].clone();
            auth.import_account(record)?;
        }
        Ok((auth, account.id))
    }

    /// Presence codes the site has shown and no device has taken yet, plus devices still
    /// waiting for one: near zero between logins, or the tool itself leaks.
    pub fn codes_held(&self) -> usize {
        self.codes.held()
    }

    /// Opens the account's event stream and answers every request on it (as
    /// [`Bench::pair_device`]) until the returned [`Device`] is dropped (a disconnect).
    pub fn connect(&self, auth: Authenticator, account_id: String) -> Device {
        let answerer = tokio::spawn(answer_loop(auth, account_id, self.codes.clone()));
        Device { answerer }
    }

    /// One login as the site sees it: create a push session, then long-poll
    /// `GET /v1/push/sessions/{id}?wait=` until it is `accepted`. Returns the time from sending
    /// the create request to reading `accepted`. With several instances each call goes to the
    /// next one (the create on one, the first long-poll on the next, and so on): no call
    /// depends on reaching the instance of the one before.
    pub async fn login(&self, user: &str) -> Result<Duration> {
        let start = Instant::now();
        let mut instance = self.next_instance();
        let request: tapprove_rp::CreateSessionRequest =
            serde_json::from_value(fixture::create_session_body(user))
                .map_err(|e| BenchError::Setup(format!("the fixture's login body: {e}")))?;
        let created = self.sites[instance].create_session(&request).await?;
        let Some(code) = created.presence_code.as_deref() else {
            return Err(BenchError::Login(format!(
                "session {} has no presence code",
                created.id
            )));
        };
        let id = created.id.as_str();
        // The user reads the code off the login page and picks it on the phone.
        self.codes.put(id, code);
        loop {
            instance = (instance + 1) % self.sites.len();
            let view = self.sites[instance].wait_session(id, LONG_POLL).await?;
            match view.status {
                SessionStatus::Accepted => return Ok(start.elapsed()),
                SessionStatus::Sent if start.elapsed() < LOGIN_TIMEOUT => continue,
                _ => {
                    return Err(BenchError::Login(format!(
                        "session {id} ended as {view:?} after {:.1?}",
                        start.elapsed()
                    )));
                }
            }
        }
    }

    /// The store's counts, summed over the instances.
    pub fn store_counts(&self) -> tapprove_server::StoreCounts {
        let mut sum = tapprove_server::StoreCounts::default();
        for service in &self.services {
            let counts = service.state().store().counts();
            sum.write_transactions += counts.write_transactions;
            sum.direct_statements += counts.direct_statements;
        }
        sum
    }

    /// The PostgreSQL server processes serving this run's database now (empty on SQLite),
    /// for their CPU time.
    pub async fn database_processes(&self) -> Result<Vec<u32>> {
        self.database.backend_pids().await
    }

    /// Updates the database's planner statistics, as on a server that has run a while.
    pub async fn analyze(&self) -> Result<()> {
        self.database.analyze().await
    }

    /// Stops every instance, then drops the run's PostgreSQL database (if any).
    pub async fn shutdown(self) -> Result<()> {
        let mut first_error = None;
        for service in self.services {
            let stopped = self.runtime.run(move || service.shutdown()).await;
            if let Err(e) = stopped.and_then(|r| r.map_err(|e| e.to_string())) {
                first_error.get_or_insert(BenchError::Setup(format!("shutdown: {e}")));
            }
        }
        let removed = self.database.remove().await;
        match first_error {
            Some(e) => Err(e),
            None => removed,
        }
    }
}

/// The services' own multi-threaded tokio runtime, its threads named
/// [`budget::SERVICE_THREAD`] and kept alive for the run (an exited thread's CPU time could
/// not be counted any more); `None`: the caller's runtime. Dropping it stops it without
/// waiting.
struct ServiceRuntime(Option<tokio::runtime::Runtime>);

impl ServiceRuntime {
    fn start() -> Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name(budget::SERVICE_THREAD)
            .thread_keep_alive(Duration::from_secs(24 * 3600))
            .enable_all()
            .build()
            .map(|r| Self(Some(r)))
            .map_err(|e| BenchError::Setup(format!("cannot start the service runtime: {e}")))
    }

    /// Runs the future `work` makes inside the service runtime (what it spawns runs there)
    /// and waits for it. On a blocking thread: the service's futures are not all provably
    /// `Send`, so they cannot be spawned, but a blocking thread can drive one.
    async fn run<T, F>(
        &self,
        work: impl FnOnce() -> F + Send + 'static,
    ) -> std::result::Result<T, String>
    where
        T: Send + 'static,
        F: std::future::Future<Output = T>,
    {
        let Some(runtime) = &self.0 else {
            // No runtime of its own: on the caller's.
            return Ok(work().await);
        };
        let handle = runtime.handle().clone();
        tokio::task::spawn_blocking(move || handle.block_on(work()))
            .await
            .map_err(|e| e.to_string())
    }
}

impl Drop for ServiceRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// A paired device answering on its event stream until dropped.
pub struct Device {
    answerer: tokio::task::JoinHandle<()>,
}

impl Drop for Device {
    fn drop(&mut self) {
        self.answerer.abort();
    }
}

async fn answer_loop(auth: Authenticator, account_id: String, codes: Arc<Codes>) {
    let mut events = auth.events(Some(&account_id));
    while let Some(event) = events.next().await {
        match event {
            Ok(RequestEvent::Request(request)) => {
                let auth = auth.clone();
                let codes = codes.clone();
                tokio::spawn(async move {
                    let Some(code) = codes.take(&request.id).await else {
                        eprintln!(
                            "bench: no code for request {} within the timeout",
                            request.id
                        );
                        return;
                    };
                    let decision = Decision::Approve {
                        presence_answer: Some(code),
                    };
                    if let Err(e) = auth.respond(&request.id, decision).await {
                        eprintln!("bench: answering {} failed: {e}", request.id);
                    }
                });
            }
            Ok(RequestEvent::Decided { .. }) => {}
            Err(e) => eprintln!("bench: event stream: {e}"),
        }
    }
}

enum Slot {
    Code(String),
    Waiting(oneshot::Sender<String>),
}

/// Hands the code shown by the "login page" to the device that received the request, in
/// whichever order the two arrive.
#[derive(Default)]
struct Codes(Mutex<HashMap<String, Slot>>);

impl Codes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(&self, id: &str, code: &str) {
        let mut map = self.lock();
        match map.remove(id) {
            Some(Slot::Waiting(tx)) => {
                let _ = tx.send(code.to_owned());
            }
            _ => {
                map.insert(id.to_owned(), Slot::Code(code.to_owned()));
            }
        }
    }

    async fn take(&self, id: &str) -> Option<String> {
        let rx = {
            let mut map = self.lock();
            match map.remove(id) {
                Some(Slot::Code(code)) => return Some(code),
                _ => {
                    let (tx, rx) = oneshot::channel();
                    map.insert(id.to_owned(), Slot::Waiting(tx));
                    rx
                }
            }
        };
        let code = tokio::time::timeout(LOGIN_TIMEOUT, rx)
            .await
            .ok()
            .and_then(Result::ok);
        if code.is_none() {
            // A request delivered again after its login ended waits for nothing: forget it
            // (unless a later wait took the slot: its receiver is still open).
            let mut map = self.lock();
            if matches!(map.get(id), Some(Slot::Waiting(tx)) if tx.is_closed()) {
                map.remove(id);
            }
        }
        code
    }

    /// Codes and waits not yet matched.
    fn held(&self) -> usize {
        self.lock().len()
    }
}

/// Runs a tool's work on a multi-threaded tokio runtime; a failure is printed after the
/// tool's name and ends the process with a failing status.
pub fn run_main(
    tool: &str,
    work: impl std::future::Future<Output = Result<()>>,
) -> std::process::ExitCode {
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Setup(format!("cannot start the tokio runtime: {e}")))
        .and_then(|runtime| runtime.block_on(work));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{tool}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The `q`-quantile (0..=1) of `samples` (sorted in place), nearest-rank.
pub fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

/// Milliseconds as a float, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_is_nearest_rank() {
        let mut v: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(quantile(&mut v, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&mut v, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&mut v, 1.0), Duration::from_millis(100));
        assert_eq!(quantile(&mut [], 0.5), Duration::ZERO);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn codes_meet_in_either_order() {
        let codes = Codes::default();
        codes.put("a", "17");
        assert_eq!(codes.take("a").await.as_deref(), Some("17"));
        let codes = Arc::new(codes);
        let waiter = {
            let codes = codes.clone();
            tokio::spawn(async move { codes.take("b").await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        codes.put("b", "42");
        assert_eq!(waiter.await.ok().flatten().as_deref(), Some("42"));
    }
}
