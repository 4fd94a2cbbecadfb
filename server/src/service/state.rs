//! The shared state of a running service: database, keys, event bus, limits, HTTP client.

use std::sync::Arc;

use tapprove_protocol::PublicKey;
use tapprove_push::PushSender;
use tokio::sync::watch;

use crate::crypto::{self, SealKey};
use crate::domain::bus::{BusEvent, EventBus};
use crate::domain::service_keys::{KeySet, ServiceKeys};
use crate::error::{ApiError, ServiceError};
use crate::service::config::ServiceConfig;
use crate::service::metrics::Metrics;
use crate::store::{AccountRow, Store};

/// An event stream whose instance has not refreshed it for this long is taken for closed
/// (the instance died); instances refresh theirs every sweep.
pub(crate) const STREAM_STALE_SECONDS: i64 = 30;

/// Shared state of a running service: database, keys, event bus, limits. Cheap to clone.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub store: Store,
    pub config: ServiceConfig,
    pub seal_key: SealKey,
    /// The signing key and the one in its grace period, as last read (docs/PROTOCOL.md §5a).
    pub service_keys: ServiceKeys,
    pub push: Arc<dyn PushSender>,
    pub bus: Arc<EventBus>,
    /// This process, among the instances sharing the database.
    pub instance_id: String,
    pub keys: KeyCache,
    pub http: reqwest::Client,
    pub metrics: Metrics,
    pub shutdown: watch::Receiver<bool>,
    shutdown_tx: watch::Sender<bool>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("listen", &self.0.config.listen)
            .field("service_kid", &self.0.service_keys.cached().signing.kid)
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
        let service_keys = match ServiceKeys::open(&store, &seal_key).await {
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
        tracing::info!(kid = %service_keys.cached().signing.kid, "service key loaded");
        let metrics = Metrics::new(store.db_wait());
        Ok(Self(Arc::new(Inner {
            store,
            config,
            seal_key,
            service_keys,
            push,
            bus: Arc::new(EventBus::new()),
            instance_id: crypto::new_id("ins_")?,
            keys: KeyCache::default(),
            http,
            metrics,
            shutdown,
            shutdown_tx,
        })))
    }

    /// The public key that signs challenges (devices pin it at pairing), as last read.
    pub fn service_public_key(&self) -> PublicKey {
        self.0.service_keys.cached().signing.public.clone()
    }

    /// Re-reads the service keys from the database now (a rotation by another process shows
    /// up by itself within `service_keys::REFRESH` plus one sweep).
    pub async fn refresh_service_keys(&self) -> Result<(), ServiceError> {
        self.0
            .service_keys
            .current(&self.0.store, &self.0.seal_key, true)
            .await
            .map(|_| ())
    }

    /// The service keys, re-read when the last read is older than `service_keys::REFRESH`.
    pub(crate) async fn keys(&self) -> Result<Arc<KeySet>, ApiError> {
        self.0
            .service_keys
            .current(&self.0.store, &self.0.seal_key, false)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot read the service keys");
                ApiError::internal()
            })
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// Delivers an event to this instance's subscribers and sends it to the other instances
    /// on the database.
    pub(crate) async fn publish(&self, event: BusEvent) {
        self.0.bus.apply(&event);
        let envelope = Envelope {
            origin: self.0.instance_id.clone(),
            event,
        };
        match serde_json::to_string(&envelope) {
            Ok(payload) => {
                if let Err(e) = self.0.store.publish(&payload).await {
                    tracing::warn!(error = %e, "cannot send an event to the other instances");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot encode a bus event"),
        }
    }

    /// Delivers an event another instance published (this instance's own are skipped: they
    /// were delivered when published).
    pub(crate) fn apply_remote(&self, payload: &str) {
        match serde_json::from_str::<Envelope>(payload) {
            Ok(e) if e.origin == self.0.instance_id => {}
            Ok(Envelope {
                event: BusEvent::ServiceKeyRotated,
                ..
            }) => {
                let state = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = state.refresh_service_keys().await {
                        tracing::warn!(error = %e, "cannot re-read the rotated service keys");
                    }
                });
            }
            Ok(e) => self.0.bus.apply(&e.event),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring an unreadable event from another instance")
            }
        }
    }

    /// Asks long-lived responses (event streams, long-polls) to end.
    pub fn begin_shutdown(&self) {
        let _ = self.0.shutdown_tx.send(true);
    }
}

/// Sends a bus event from a process that serves nothing (`tapprove admin`) to the running
/// instances on this database: PostgreSQL NOTIFY; nothing on SQLite, where the serving
/// process sees the change at its next read of the database.
pub(crate) async fn publish_from_admin(store: &Store, event: BusEvent) {
    let envelope = Envelope {
        origin: "admin".to_owned(),
        event,
    };
    match serde_json::to_string(&envelope) {
        Ok(payload) => {
            if let Err(e) = store.publish(&payload).await {
                tracing::warn!(error = %e, "cannot send an event to the running instances");
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot encode a bus event"),
    }
}

/// A bus event with the instance that published it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    origin: String,
    event: BusEvent,
}

/// Device public keys parsed from their stored base64url form. Parsing checks that the point
/// is on the curve, which costs about as much as verifying a signature; the result depends
/// only on the string, so it is kept (bounded: cleared when full).
#[derive(Default)]
pub(crate) struct KeyCache(std::sync::Mutex<std::collections::HashMap<String, PublicKey>>);

impl KeyCache {
    const MAX: usize = 10_000;

    /// The parsed key of an account (error: the stored key is invalid).
    pub(crate) fn parse(&self, account: &AccountRow) -> Result<PublicKey, ApiError> {
        let lock = || self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = lock().get(&account.public_key) {
            return Ok(key.clone());
        }
        let key = PublicKey::from_base64url(&account.public_key).map_err(|_| {
            tracing::error!(account_id = %account.id, "stored device key is invalid");
            ApiError::internal()
        })?;
        let mut map = lock();
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(account.public_key.clone(), key.clone());
        Ok(key)
    }
}
