//! The in-process event bus: new challenges and decisions, fanned out to device event streams
//! and relying-party long-polls. Losing an event is harmless: every consumer re-reads the
//! database when it lags (and devices re-read pending challenges on reconnect).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tapprove_protocol::api::SessionStatus;
use tokio::sync::broadcast;

/// One event.
#[derive(Debug, Clone)]
pub(crate) enum BusEvent {
    /// A challenge for one device.
    Challenge {
        /// The device.
        account_id: String,
        /// The compact JWS.
        jws: String,
    },
    /// A session reached a final status.
    Decided {
        /// The session.
        session_id: String,
        /// Its status.
        status: SessionStatus,
        /// The devices that were asked.
        account_ids: Arc<Vec<String>>,
    },
    /// A device was unpaired: its streams end.
    Unpaired {
        /// The device.
        account_id: String,
    },
}

/// Bus plus a count of open event streams per device (a device with an open stream is
/// reachable without push).
#[derive(Debug)]
pub(crate) struct EventBus {
    tx: broadcast::Sender<BusEvent>,
    listeners: Mutex<HashMap<String, usize>>,
}

impl EventBus {
    pub(crate) fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            tx,
            listeners: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.tx.subscribe()
    }

    pub(crate) fn publish(&self, event: BusEvent) {
        // No receiver is fine: nobody is listening right now.
        let _ = self.tx.send(event);
    }

    /// Whether any of these devices has an open event stream.
    pub(crate) fn any_listening<'a>(&self, accounts: impl IntoIterator<Item = &'a str>) -> bool {
        let map = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        accounts
            .into_iter()
            .any(|a| map.get(a).is_some_and(|n| *n > 0))
    }

    /// Registers an open stream; the guard unregisters it when dropped.
    pub(crate) fn listen(self: &Arc<Self>, account_id: &str) -> ListenerGuard {
        let mut map = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(account_id.to_owned()).or_insert(0) += 1;
        ListenerGuard {
            bus: Arc::clone(self),
            account_id: account_id.to_owned(),
        }
    }
}

/// Keeps a device counted as listening while alive.
#[derive(Debug)]
pub(crate) struct ListenerGuard {
    bus: Arc<EventBus>,
    account_id: String,
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        let mut map = self.bus.listeners.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.account_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.account_id);
            }
        }
    }
}

/// Resolves once shutdown has begun (helper that keeps futures `Send`).
pub(crate) async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
