//! Starting, wiring and stopping the service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use tapprove_protocol::api::ErrorCode;
use tapprove_protocol::{Es256Signer as _, PublicKey, SoftwareKey};
use tapprove_push::{NoPush, PushSender};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{PushConfig, SealKey, ServiceConfig};
use crate::error::{ApiError, ServiceError};
use crate::events::EventBus;
use crate::extract::KeyCache;
use crate::ratelimit::{ReplayCache, WindowLimiter};
use crate::store::Store;
use crate::{crypto, device_api, rp_api};

/// Shared state of a running service: database, keys, event bus, limits. Cheap to clone.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub store: Store,
    pub config: ServiceConfig,
    pub seal_key: SealKey,
    pub service_key: SoftwareKey,
    pub service_public: PublicKey,
    pub push: Arc<dyn PushSender>,
    pub bus: Arc<EventBus>,
    pub pair_limiter_ip: WindowLimiter,
    pub pair_limiter_key: WindowLimiter,
    pub replay: ReplayCache,
    pub keys: KeyCache,
    pub http: reqwest::Client,
    pub shutdown: watch::Receiver<bool>,
    shutdown_tx: watch::Sender<bool>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("listen", &self.0.config.listen)
            .field("service_key", &self.0.service_public)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Opens and migrates the database, loads (or on first start creates) the service
    /// signing key, and builds the state. Does not listen.
    pub async fn open(
        config: ServiceConfig,
        push: Arc<dyn PushSender>,
    ) -> Result<Self, ServiceError> {
        config.validate()?;
        let seal_key = config
            .seal_key
            .clone()
            .ok_or(ServiceError::MissingSealKey)?;
        let store = Store::open(&config.database_url).await?;
        let service_key = match load_or_create_service_key(&store, &seal_key).await {
            Ok(k) => k,
            Err(e) => {
                store.close().await;
                return Err(e);
            }
        };
        // reqwest is built without a default crypto provider: use ring (ignore "already set").
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.webhook_timeout)
            .connect_timeout(config.webhook_timeout)
            .user_agent(concat!("tapprove-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ServiceError::Config(format!("cannot build the HTTP client: {e}")))?;
        let (shutdown_tx, shutdown) = watch::channel(false);
        let service_public = service_key.public_key();
        tracing::info!(kid = %service_public.key_id(), "service key loaded");
        Ok(Self(Arc::new(Inner {
            store,
            config,
            seal_key,
            service_key,
            service_public,
            push,
            bus: Arc::new(EventBus::new()),
            pair_limiter_ip: WindowLimiter::new(60),
            pair_limiter_key: WindowLimiter::new(60),
            replay: ReplayCache::default(),
            keys: KeyCache::default(),
            http,
            shutdown,
            shutdown_tx,
        })))
    }

    /// The public key that signs challenges (devices pin it at pairing).
    pub fn service_public_key(&self) -> &PublicKey {
        &self.0.service_public
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// Asks long-lived responses (event streams, long-polls) to end.
    pub fn begin_shutdown(&self) {
        let _ = self.0.shutdown_tx.send(true);
    }
}

async fn load_or_create_service_key(
    store: &Store,
    seal_key: &SealKey,
) -> Result<SoftwareKey, ServiceError> {
    if store
        .service_key()
        .await
        .map_err(ServiceError::db)?
        .is_none()
    {
        let key = SoftwareKey::generate().map_err(|e| ServiceError::Crypto(e.to_string()))?;
        let public = key.public_key();
        let kid = public.key_id();
        let sealed = crypto::seal(
            seal_key,
            &format!("service_key:{kid}"),
            key.secret_pkcs8_der(),
        )?;
        store
            .insert_service_key(&kid, &public.to_base64url(), &sealed)
            .await
            .map_err(ServiceError::db)?;
        tracing::info!(kid = %kid, "generated the service signing key");
    }
    // Re-read: if two processes raced on first start, both use the one stored first.
    let (kid, sealed) = store
        .service_key()
        .await
        .map_err(ServiceError::db)?
        .ok_or_else(|| ServiceError::Database("the service key vanished after insert".into()))?;
    let der = crypto::unseal(seal_key, &format!("service_key:{kid}"), &sealed)?;
    SoftwareKey::from_pkcs8(&der).map_err(|e| ServiceError::Crypto(e.to_string()))
}

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
        let addr = config.listen;
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
        let local_addr = listener.local_addr().map_err(|e| ServiceError::Bind {
            addr,
            reason: e.to_string(),
        })?;
        let state = AppState::open(config, push).await?;
        let sweeper = tokio::spawn(sweep(state.clone()));
        let app = Self::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let mut stop = state.0.shutdown.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    crate::events::stopped(&mut stop).await;
                })
                .await
        });
        tracing::info!(addr = %local_addr, "tapprove service listening");
        Ok(RunningService {
            local_addr,
            state,
            server,
            sweeper,
        })
    }

    /// All routes, with JSON errors for unknown routes and methods.
    pub fn router(state: AppState) -> Router {
        Router::new()
            .route("/v1/push/sessions", post(rp_api::create_session))
            .route(
                "/v1/push/sessions/{id}",
                get(rp_api::get_session).delete(rp_api::cancel_session),
            )
            .route("/v1/device/pair", post(device_api::pair))
            .route("/v1/device/push-token", put(device_api::push_token))
            .route("/v1/device", delete(device_api::unpair))
            .route("/v1/device/pending", get(device_api::pending))
            .route("/v1/device/answers", post(device_api::answer))
            .route("/v1/device/events", get(device_api::events))
            .route("/healthz", get(|| async { "ok" }))
            .fallback(|| async {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    ErrorCode::NotFound,
                    "No such API route; see docs/PROTOCOL.md.",
                )
            })
            .method_not_allowed_fallback(|| async {
                ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    ErrorCode::InvalidRequest,
                    "This route does not accept that HTTP method; see docs/PROTOCOL.md.",
                )
            })
            .layer(DefaultBodyLimit::max(64 * 1024))
            .with_state(state)
    }
}

/// Expires due sessions every `sweep_interval`, emitting `decided` events, and checkpoints
/// the WAL.
async fn sweep(state: AppState) {
    let mut stop = state.0.shutdown.clone();
    let mut tick = tokio::time::interval(state.0.config.sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = crate::events::stopped(&mut stop) => return,
        }
        match state.0.store.expire_due(crate::now()).await {
            Ok(ids) => {
                for id in ids {
                    tracing::info!(session_id = %id, "session expired");
                    rp_api::announce_decided(
                        &state,
                        &id,
                        tapprove_protocol::api::SessionStatus::Expired,
                    )
                    .await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
        }
        if let Err(e) = state.0.store.checkpoint().await {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

/// A service that is listening. Drop does not stop it: call [`RunningService::shutdown`].
#[derive(Debug)]
pub struct RunningService {
    local_addr: SocketAddr,
    state: AppState,
    server: JoinHandle<std::io::Result<()>>,
    sweeper: JoinHandle<()>,
}

impl RunningService {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The public key that signs challenges.
    pub fn service_public_key(&self) -> &PublicKey {
        self.state.service_public_key()
    }

    /// The shared state (database, keys).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting connections, ends event streams and long-polls, waits (up to 5 s) for
    /// in-flight requests and closes the database.
    pub async fn shutdown(self) -> Result<(), ServiceError> {
        self.state.begin_shutdown();
        let mut server = self.server;
        let result = match tokio::time::timeout(Duration::from_secs(5), &mut server).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(ServiceError::Server(e.to_string())),
            Ok(Err(e)) => Err(ServiceError::Server(e.to_string())),
            Err(_) => {
                server.abort();
                tracing::warn!("in-flight requests did not finish within 5 s; aborted them");
                Ok(())
            }
        };
        let _ = self.sweeper.await;
        self.state.0.store.close().await;
        tracing::info!("tapprove service stopped");
        result
    }
}
