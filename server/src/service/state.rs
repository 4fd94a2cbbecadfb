//! The shared state of a running service: database, keys, event bus, limits, HTTP client.

use std::sync::Arc;

use tapprove_protocol::PublicKey;
use tapprove_push::PushSender;
use tokio::sync::watch;

use crate::crypto::{self, SealKey};
use crate::domain::bus::{BusEvent, EventBus};
use crate::domain::service_keys::{KeySet, ServiceKeys};
use crate::domain::{context, delivery, sessions, site_events};
use crate::error::{ApiError, ServiceError};
use crate::service::config::ServiceConfig;
use crate::service::metrics::Metrics;
use crate::store::{AccountRow, SessionDeviceRow, SessionRow, Store};

pub(crate) use crate::domain::delivery::STREAM_STALE_SECONDS;

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
    pub keys: crate::domain::credentials::KeyCache,
    pub http: reqwest::Client,
    pub metrics: Metrics,
    pub shutdown: watch::Receiver<bool>,
    shutdown_tx: watch::Sender<bool>,
    /// Every background task (deliveries, site events, the sweep, the relay): shutdown waits
    /// for them, with a deadline, before it closes the database.
    tasks: tokio_util::task::TaskTracker,
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
            keys: crate::domain::credentials::KeyCache::default(),
            http,
            metrics,
            shutdown,
            shutdown_tx,
            tasks: tokio_util::task::TaskTracker::new(),
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
        self.service_keys().current().await
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// Delivers an event to this instance's subscribers and sends it to the other instances
    /// on the database.
    pub(crate) async fn publish(&self, event: BusEvent) {
        self.bus().publish(event).await;
    }

    fn bus(&self) -> context::Bus<'_> {
        context::Bus {
            events: &self.0.bus,
            store: &self.0.store,
            instance_id: &self.0.instance_id,
        }
    }

    fn service_keys(&self) -> context::Keys<'_> {
        context::Keys {
            keys: &self.0.service_keys,
            store: &self.0.store,
            seal_key: &self.0.seal_key,
        }
    }

    fn webhooks(&self) -> context::Webhooks<'_> {
        context::Webhooks {
            http: &self.0.http,
            seal_key: &self.0.seal_key,
            allow_insecure_on_loopback: self.0.config.allow_insecure_webhooks_on_loopback,
        }
    }

    /// What a refusal records.
    pub(crate) fn refusals(&self) -> context::Refusals<'_> {
        context::Refusals {
            store: &self.0.store,
            metrics: &self.0.metrics,
        }
    }

    /// What the user guard uses.
    pub(crate) fn guard(&self) -> context::Guard<'_> {
        context::Guard {
            store: &self.0.store,
            limits: &self.0.config.limits,
            background: self,
        }
    }

    /// What the session lifecycle uses.
    pub(crate) fn sessions(&self) -> context::Sessions<'_> {
        context::Sessions {
            store: &self.0.store,
            bus: self.bus(),
            metrics: &self.0.metrics,
            limits: &self.0.config.limits,
            keys: self.service_keys(),
            guard: self.guard(),
            refusals: self.refusals(),
            device_keys: &self.0.keys,
            shutdown: &self.0.shutdown,
            background: self,
        }
    }

    /// What pairing uses.
    pub(crate) fn pairing(&self) -> context::Pairing<'_> {
        context::Pairing {
            store: &self.0.store,
            limits: &self.0.config.limits,
            seal_key: &self.0.seal_key,
            metrics: &self.0.metrics,
            keys: self.service_keys(),
            webhooks: self.webhooks(),
            refusals: self.refusals(),
        }
    }

    /// What revoking devices uses.
    pub(crate) fn devices(&self) -> context::Devices<'_> {
        context::Devices {
            store: &self.0.store,
            bus: self.bus(),
            sessions: self.sessions(),
        }
    }

    fn delivery(&self) -> context::Delivery<'_> {
        context::Delivery {
            store: &self.0.store,
            push: self.0.push.as_ref(),
            seal_key: &self.0.seal_key,
            metrics: &self.0.metrics,
        }
    }

    /// What sending site events uses.
    pub(crate) fn site_events(&self) -> context::SiteEvents<'_> {
        context::SiteEvents {
            store: &self.0.store,
            webhooks: self.webhooks(),
        }
    }

    /// Delivers an event another instance published (this instance's own are skipped: they
    /// were delivered when published).
    pub(crate) fn apply_remote(&self, payload: &str) {
        match serde_json::from_str::<crate::domain::bus::Envelope>(payload) {
            Ok(e) if e.origin == self.0.instance_id => {}
            Ok(crate::domain::bus::Envelope {
                event: BusEvent::ServiceKeyRotated,
                ..
            }) => {
                let state = self.clone();
                self.spawn(async move {
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

    /// Runs background work owned by the service: shutdown waits for it.
    pub(crate) fn spawn<F>(&self, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.tasks.spawn(work)
    }

    /// How many background tasks are still running.
    pub fn background_tasks(&self) -> usize {
        self.0.tasks.len()
    }

    /// Takes no new background task and waits up to `deadline` for the running ones; whether
    /// they all finished.
    pub(crate) async fn finish_background_tasks(&self, deadline: std::time::Duration) -> bool {
        self.0.tasks.close();
        tokio::time::timeout(deadline, self.0.tasks.wait())
            .await
            .is_ok()
    }
}

/// Sends a bus event from a process that serves nothing (`tapprove admin`) to the running
/// instances on this database: PostgreSQL NOTIFY; nothing on SQLite, where the serving
/// process sees the change at its next read of the database.
pub(crate) async fn publish_from_admin(store: &Store, event: BusEvent) {
    crate::domain::bus::send_to_instances(store, "admin", event).await;
}

impl context::Background for AppState {
    fn deliver_session(
        &self,
        session: SessionRow,
        devices: Vec<AccountRow>,
        challenges: Vec<SessionDeviceRow>,
    ) {
        let state = self.clone();
        self.spawn(async move {
            let sent = delivery::deliver(
                state.delivery(),
                &session,
                &devices,
                &challenges,
                crate::now(),
            );
            // Read the clock again after the pushes: they may have taken seconds.
            let reached = sent.await
                || delivery::listening(state.delivery(), &session, &devices, crate::now()).await;
            if !reached {
                sessions::fail_undelivered(state.sessions(), &session.id, crate::now()).await;
            }
        });
    }

    fn send_site_event(&self, event_id: String) {
        let state = self.clone();
        self.spawn(async move {
            site_events::deliver(state.site_events(), Some(&event_id), crate::now).await
        });
    }
}
