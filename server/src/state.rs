//! The shared state of a running service: database, keys, event bus, limits, HTTP client.

use std::sync::Arc;

use tapprove_protocol::{Es256Signer as _, PublicKey, SoftwareKey};
use tapprove_push::PushSender;
use tokio::sync::watch;

use crate::config::ServiceConfig;
use crate::crypto::{self, SealKey};
use crate::error::{ApiError, ServiceError};
use crate::events::{BusEvent, EventBus};
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
    pub service_key: SoftwareKey,
    pub service_public: PublicKey,
    pub push: Arc<dyn PushSender>,
    pub bus: Arc<EventBus>,
    /// This process, among the instances sharing the database.
    pub instance_id: String,
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
            instance_id: crypto::new_id("ins_")?,
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
