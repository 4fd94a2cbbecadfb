//! Starting, wiring and stopping the service.

pub(crate) mod config;
pub(crate) mod listener;
pub(crate) mod metrics;
pub(crate) mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tapprove_protocol::PublicKey;
use tapprove_push::{NoPush, PushSender};
use tokio::task::JoinHandle;

use crate::domain::sessions;
use crate::error::ServiceError;
use crate::http;
use crate::service::config::{PushConfig, ServiceConfig};
use crate::service::state::{AppState, STREAM_STALE_SECONDS};
use crate::store::RemoteEvents;

/// Entry point.
#[derive(Debug)]
pub struct Service;

impl Service {
    /// Binds `config.listen` (port 0 picks a free port), migrates the database, loads the
    /// service key and serves until [`RunningService::shutdown`]. Push goes to the providers
    /// in `config.push` (APNs/FCM); with none configured, devices poll or listen on the event
    /// stream.
    pub async fn start(config: ServiceConfig) -> Result<RunningService, ServiceError> {
        config.validate()?;
        let push = if config.push == PushConfig::default() {
            Arc::new(NoPush) as Arc<dyn PushSender>
        } else {
            config.push.build()?
        };
        Self::start_with_push(config, push).await
    }

    /// Like [`Service::start`] with a given push sender (`config.push` is ignored): for tests
    /// and embedders with their own delivery.
    pub async fn start_with_push(
        config: ServiceConfig,
        push: Arc<dyn PushSender>,
    ) -> Result<RunningService, ServiceError> {
        config.validate()?;
        let (listener, local_addr) = bind(config.listen).await?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let state = AppState::open(config, push).await?;
        let sweeper = state.spawn(sweep(state.clone()));
        match state.0.store.remote_events().await {
            Ok(Some(events)) => {
                state.spawn(relay_remote_events(state.clone(), events));
            }
            Ok(None) => {}
            Err(e) => {
                state.0.store.close().await;
                return Err(ServiceError::Database(format!(
                    "cannot LISTEN for the other instances' events: {e}"
                )));
            }
        }
        let config = &state.0.config;
        let limits = listener::Limits {
            header_read_timeout: config.header_read_timeout,
            max_connections: config.max_connections,
        };
        let server = tokio::spawn(listener::serve(
            listener,
            Self::router(state.clone()),
            limits,
            state.0.shutdown.clone(),
        ));
        tracing::info!(addr = %local_addr, "tapprove service listening");
        let metrics = metrics_listener.map(|(listener, addr)| {
            tracing::info!(%addr, "metrics on http://{addr}/metrics");
            let server = tokio::spawn(listener::serve(
                listener,
                crate::service::metrics::router(state.0.metrics.clone()),
                limits,
                state.0.shutdown.clone(),
            ));
            (addr, server)
        });
        Ok(RunningService {
            local_addr,
            state,
            server,
            sweeper,
            metrics,
        })
    }

    /// All routes, with JSON errors for unknown routes and methods.
    pub fn router(state: AppState) -> Router {
        http::router(state)
    }
}

/// Expires due sessions every `sweep_interval`, emitting `decided` events, checkpoints the
/// WAL and re-reads stale service keys.
async fn sweep(state: AppState) {
    let mut stop = state.0.shutdown.clone();
    let mut tick = tokio::time::interval(state.0.config.sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_upkeep = 0;
    let mut next_retention = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = crate::domain::bus::stopped(&mut stop) => return,
        }
        let now = crate::now();
        if let Err(e) = sessions::expire_due(state.sessions(), now).await {
            tracing::warn!(error = %e, "expiry sweep failed");
        }
        if let Err(e) = state.0.store.checkpoint().await {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
        // Another process may have rotated the key: re-read once the last read is stale, so
        // event streams announce it without waiting for a request.
        if let Err(e) = state
            .0
            .service_keys
            .current(&state.0.store, &state.0.seal_key, false)
            .await
        {
            tracing::warn!(error = %e, "cannot re-read the service keys");
        }
        if now >= next_upkeep {
            next_upkeep = now + UPKEEP_SECONDS;
            // Site events that failed (or whose instance died): retried in the background, so
            // a slow site does not hold up the sweep; a claim keeps two instances apart.
            let s = state.clone();
            state.spawn(async move {
                crate::domain::site_events::deliver(s.site_events(), None, crate::now).await
            });
            let stale_before = now - 2 * STREAM_STALE_SECONDS;
            if let Err(e) = state
                .0
                .store
                .upkeep_shared(&state.0.instance_id, now, stale_before, now - 3600)
                .await
            {
                tracing::warn!(error = %e, "upkeep of the shared tables failed");
            }
        }
        if now >= next_retention {
            next_retention = now + RETENTION_EVERY_SECONDS;
            let cutoff = now - i64::from(state.0.config.retention_days) * 86_400;
            match state.0.store.delete_decided_before(cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sessions = n, "retention: deleted old decided sessions"),
                Err(e) => tracing::warn!(error = %e, "retention job failed"),
            }
            let cutoff = now - i64::from(state.0.config.audit_retention_days) * 86_400;
            match state.0.store.delete_audit_before(cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "retention: deleted old audit-log rows"),
                Err(e) => tracing::warn!(error = %e, "audit-log retention job failed"),
            }
            let cutoff = now - i64::from(state.0.config.retention_days) * 86_400;
            crate::domain::site_events::forget_finished(&state.0.store, cutoff).await;
        }
    }
}

/// How long shutdown waits for background tasks after the requests drained.
const BACKGROUND_DEADLINE: Duration = Duration::from_secs(5);

/// How often an instance refreshes its event streams' rows and prunes the shared tables.
const UPKEEP_SECONDS: i64 = 5;
/// How often the retention job runs (and once at start).
const RETENTION_EVERY_SECONDS: i64 = 3600;

/// Feeds the other instances' events (PostgreSQL LISTEN) to this instance's bus.
async fn relay_remote_events(state: AppState, mut events: RemoteEvents) {
    let mut stop = state.0.shutdown.clone();
    loop {
        tokio::select! {
            r = events.next() => match r {
                Ok(payload) => state.apply_remote(&payload),
                Err(e) => {
                    tracing::warn!(error = %e, "lost the database's event channel; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            _ = crate::domain::bus::stopped(&mut stop) => return,
        }
    }
}

/// Binds `addr` (port 0 picks a free port); the address actually bound.
async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), ServiceError> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            ServiceError::AddressInUse { addr }
        } else {
            ServiceError::Bind {
                addr,
                reason: e.to_string(),
            }
        }
    })?;
    let local = listener.local_addr().map_err(|e| ServiceError::Bind {
        addr,
        reason: e.to_string(),
    })?;
    Ok((listener, local))
}

/// A service that is listening. Drop does not stop it: call [`RunningService::shutdown`].
#[derive(Debug)]
pub struct RunningService {
    local_addr: SocketAddr,
    state: AppState,
    server: JoinHandle<()>,
    sweeper: JoinHandle<()>,
    /// The metrics listener's address and server, when `metrics_listen` is set.
    metrics: Option<(SocketAddr, JoinHandle<()>)>,
}

impl RunningService {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The metrics listener's address actually bound, when `metrics_listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(addr, _)| *addr)
    }

    /// The public key that signs challenges (as this instance last read it).
    pub fn service_public_key(&self) -> PublicKey {
        self.state.service_public_key()
    }

    /// The shared state (database, keys).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting connections, ends event streams and long-polls, waits (up to 5 s) for
    /// in-flight requests, then (up to 5 s more) for every background task they started
    /// (deliveries, site events, the sweep), and closes the database.
    pub async fn shutdown(self) -> Result<(), ServiceError> {
        self.state.begin_shutdown();
        let mut server = self.server;
        let result = match tokio::time::timeout(Duration::from_secs(5), &mut server).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ServiceError::Server(e.to_string())),
            Err(_) => {
                server.abort();
                tracing::warn!("in-flight requests did not finish within 5 s; aborted them");
                Ok(())
            }
        };
        if let Some((_, metrics)) = self.metrics {
            let _ = tokio::time::timeout(Duration::from_secs(1), metrics).await;
        }
        let _ = self.sweeper.await;
        if !self
            .state
            .finish_background_tasks(BACKGROUND_DEADLINE)
            .await
        {
            tracing::warn!(
                tasks = self.state.background_tasks(),
                "background tasks did not finish within 5 s; closing the database under them"
            );
        }
        self.state.0.store.close().await;
        tracing::info!("tapprove service stopped");
        result
    }
}
