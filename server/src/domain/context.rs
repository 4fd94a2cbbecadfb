//! What each aggregate may use of the running service: small `Copy` structs of borrows, built
//! from `AppState` by the wiring (`service::state`) at the edge, next to the time (`now`),
//! which the handler or background tick reads once and passes down.
//!
//! Why: a function that takes the whole state can reach everything, so its real dependencies
//! are invisible and it reads the clock wherever it likes. A context names what the rule
//! touches; time as an argument makes one action see one instant.
//!
//! Still reading the clock themselves, on purpose: `audit::record` (a row's time is when it
//! was written), the service-key cache (its refresh age) and the operator's `admin`
//! functions (each is an edge of its own).

use std::sync::Arc;

use tapprove_push::PushSender;
use tokio::sync::watch;

use crate::crypto::SealKey;
use crate::domain::bus::{BusEvent, EventBus};
use crate::domain::credentials::KeyCache;
use crate::domain::service_keys::{KeySet, ServiceKeys};
use crate::error::ApiError;
use crate::service::config::LimitsConfig;
use crate::service::metrics::Metrics;
use crate::store::{AccountRow, SessionDeviceRow, SessionRow, Store};

/// Work that outlives the request that asked for it. The wiring runs it on a task that
/// shutdown waits for, and reads the clock itself when it starts.
pub(crate) trait Background: Send + Sync {
    /// Pushes a new session to its devices; fails it when none can be reached.
    fn deliver_session(
        &self,
        session: SessionRow,
        devices: Vec<AccountRow>,
        challenges: Vec<SessionDeviceRow>,
    );
    /// Starts sending a queued site event (the sweep retries what fails).
    fn send_site_event(&self, event_id: String);
}

/// Publishing on the event bus: this instance's subscribers, then the other instances.
#[derive(Clone, Copy)]
pub(crate) struct Bus<'a> {
    pub events: &'a Arc<EventBus>,
    pub store: &'a Store,
    /// This process, among the instances sharing the database.
    pub instance_id: &'a str,
}

impl Bus<'_> {
    /// Delivers an event to this instance's subscribers and sends it to the other instances.
    pub(crate) async fn publish(self, event: BusEvent) {
        self.events.apply(&event);
        crate::domain::bus::send_to_instances(self.store, self.instance_id, event).await;
    }
}

/// The service's signing keys.
#[derive(Clone, Copy)]
pub(crate) struct Keys<'a> {
    pub keys: &'a ServiceKeys,
    pub store: &'a Store,
    pub seal_key: &'a SealKey,
}

impl Keys<'_> {
    /// The service keys, re-read when the last read is older than `service_keys::REFRESH`.
    pub(crate) async fn current(self) -> Result<Arc<KeySet>, ApiError> {
        self.keys
            .current(self.store, self.seal_key, false)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot read the service keys");
                ApiError::internal()
            })
    }
}

/// Signed POSTs to the projects' webhooks (trust and site events).
#[derive(Clone, Copy)]
pub(crate) struct Webhooks<'a> {
    pub http: &'a reqwest::Client,
    pub seal_key: &'a SealKey,
    pub allow_insecure_on_loopback: bool,
}

/// A refused request's metric and audit row.
#[derive(Clone, Copy)]
pub(crate) struct Refusals<'a> {
    pub store: &'a Store,
    pub metrics: &'a Metrics,
}

/// The user guard: locks and cooldowns, and the fraud event it queues for the site.
#[derive(Clone, Copy)]
pub(crate) struct Guard<'a> {
    pub store: &'a Store,
    pub limits: &'a LimitsConfig,
    pub background: &'a dyn Background,
}

/// The session lifecycle.
#[derive(Clone, Copy)]
pub(crate) struct Sessions<'a> {
    pub store: &'a Store,
    pub bus: Bus<'a>,
    pub metrics: &'a Metrics,
    pub limits: &'a LimitsConfig,
    pub keys: Keys<'a>,
    pub guard: Guard<'a>,
    pub refusals: Refusals<'a>,
    /// The devices' parsed public keys.
    pub device_keys: &'a KeyCache,
    /// Ends long-polls early.
    pub shutdown: &'a watch::Receiver<bool>,
    pub background: &'a dyn Background,
}

/// Pairing a device.
#[derive(Clone, Copy)]
pub(crate) struct Pairing<'a> {
    pub store: &'a Store,
    pub limits: &'a LimitsConfig,
    pub seal_key: &'a SealKey,
    pub metrics: &'a Metrics,
    pub keys: Keys<'a>,
    pub webhooks: Webhooks<'a>,
    pub refusals: Refusals<'a>,
}

/// Revoking devices in the running service (their streams end, their sessions' long-polls wake).
#[derive(Clone, Copy)]
pub(crate) struct Devices<'a> {
    pub store: &'a Store,
    pub bus: Bus<'a>,
    pub sessions: Sessions<'a>,
}

/// Pushing a new session's challenges.
#[derive(Clone, Copy)]
pub(crate) struct Delivery<'a> {
    pub store: &'a Store,
    pub push: &'a dyn PushSender,
    pub seal_key: &'a SealKey,
    pub metrics: &'a Metrics,
}

/// Sending the site-event outbox.
#[derive(Clone, Copy)]
pub(crate) struct SiteEvents<'a> {
    pub store: &'a Store,
    pub webhooks: Webhooks<'a>,
}
