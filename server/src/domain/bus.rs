//! The in-process event bus: new challenges and decisions, routed to the device event streams
//! and relying-party long-polls they concern. Losing an event is harmless: every consumer
//! re-reads the database when it lags (and devices re-read pending challenges on reconnect).
//! Events cross instances as [`BusEvent`]s (`AppState::publish`, PostgreSQL NOTIFY).
//!
//! Events are addressed: each device (account) and each waited-on session has its own channel,
//! created by the first subscriber and removed with the last. Publishing touches only the
//! channels concerned, so the cost of an event does not grow with the number of open streams
//! and long-polls (a single broadcast channel woke every one of them for every event).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tapprove_protocol::api::SessionStatus;
use tokio::sync::broadcast;

/// Events a device's event stream can lag behind before it re-reads pending challenges. A
/// device has a few requests in flight at most, and a tokio broadcast channel allocates every
/// slot up front (~56 bytes each, per device): 256 slots were 14 KB per idle device.
const DEVICE_CAPACITY: usize = 16;
/// A session is decided once; a little room for repeated announcements.
const SESSION_CAPACITY: usize = 4;

/// One event for one device.
#[derive(Debug, Clone)]
pub(crate) enum DeviceEvent {
    /// A challenge for this device (compact JWS).
    Challenge(Arc<str>),
    /// A session this device was asked about reached a final status.
    Decided {
        /// The session.
        session_id: Arc<str>,
        /// Its status.
        status: SessionStatus,
    },
    /// The device was unpaired: its streams end.
    Unpaired,
}

pub(crate) use crate::store::Outcome;

/// A session reached a final status (for long-polls), with what was stored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionDecided(pub Outcome);

/// One event as it travels between instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum BusEvent {
    /// A new challenge for a device.
    Challenge { account_id: String, jws: String },
    /// A session is final (what was stored), for its long-polls and devices.
    Decided {
        session_id: String,
        outcome: Outcome,
        account_ids: Vec<String>,
    },
    /// A device was unpaired.
    Unpaired { account_id: String },
    /// An operator rotated the service key: every instance re-reads the keys now.
    ServiceKeyRotated,
}

type Channels<T> = Mutex<HashMap<String, broadcast::Sender<T>>>;

/// Per-device and per-session channels.
#[derive(Debug, Default)]
pub(crate) struct EventBus {
    devices: Channels<DeviceEvent>,
    sessions: Channels<SessionDecided>,
}

fn lock<T>(m: &Channels<T>) -> MutexGuard<'_, HashMap<String, broadcast::Sender<T>>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn subscribe<T: Clone>(m: &Channels<T>, key: &str, capacity: usize) -> broadcast::Receiver<T> {
    let mut map = lock(m);
    if let Some(tx) = map.get(key) {
        return tx.subscribe();
    }
    let (tx, rx) = broadcast::channel(capacity);
    map.insert(key.to_owned(), tx);
    rx
}

fn send<T>(m: &Channels<T>, key: &str, event: T) {
    if let Some(tx) = lock(m).get(key) {
        // No receiver left is fine: the last one is about to remove the channel.
        let _ = tx.send(event);
    }
}

/// Removes the channel of `key` if the receiver being dropped is its last one.
fn unsubscribe<T>(m: &Channels<T>, key: &str) {
    let mut map = lock(m);
    if map.get(key).is_some_and(|tx| tx.receiver_count() <= 1) {
        map.remove(key);
    }
}

impl EventBus {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Subscribes to one device's events; while the subscription lives the device counts as
    /// listening. Subscribe before reading pending challenges, so nothing falls in between.
    pub(crate) fn subscribe_device(self: &Arc<Self>, account_id: &str) -> DeviceSubscription {
        DeviceSubscription {
            rx: subscribe(&self.devices, account_id, DEVICE_CAPACITY),
            bus: Arc::clone(self),
            key: account_id.to_owned(),
        }
    }

    /// Subscribes to one session's decision. Subscribe before reading the session, so a
    /// decision between the read and the wait is not missed.
    pub(crate) fn subscribe_session(self: &Arc<Self>, session_id: &str) -> SessionSubscription {
        SessionSubscription {
            rx: subscribe(&self.sessions, session_id, SESSION_CAPACITY),
            bus: Arc::clone(self),
            key: session_id.to_owned(),
        }
    }

    /// Delivers an event to this process's subscribers.
    pub(crate) fn apply(&self, event: &BusEvent) {
        match event {
            BusEvent::Challenge { account_id, jws } => self.challenge(account_id, jws),
            BusEvent::Decided {
                session_id,
                outcome,
                account_ids,
            } => self.decided(session_id, *outcome, account_ids),
            BusEvent::Unpaired { account_id } => self.unpaired(account_id),
            // Not for the bus: `AppState::apply_remote` re-reads the keys.
            BusEvent::ServiceKeyRotated => {}
        }
    }

    /// A new challenge for one device.
    pub(crate) fn challenge(&self, account_id: &str, jws: &str) {
        send(
            &self.devices,
            account_id,
            DeviceEvent::Challenge(Arc::from(jws)),
        );
    }

    /// A session is final: tells its long-polls and the devices it was sent to. `outcome`
    /// must be exactly what the deciding UPDATE stored (long-polls answer from it instead of
    /// re-reading the row).
    pub(crate) fn decided(&self, session_id: &str, outcome: Outcome, account_ids: &[String]) {
        send(&self.sessions, session_id, SessionDecided(outcome));
        let session_id: Arc<str> = Arc::from(session_id);
        for account_id in account_ids {
            send(
                &self.devices,
                account_id,
                DeviceEvent::Decided {
                    session_id: Arc::clone(&session_id),
                    status: outcome.status,
                },
            );
        }
    }

    /// A device was unpaired: its event streams end.
    pub(crate) fn unpaired(&self, account_id: &str) {
        send(&self.devices, account_id, DeviceEvent::Unpaired);
    }
}

/// A device's event channel; dropping it stops counting the device as listening.
#[derive(Debug)]
pub(crate) struct DeviceSubscription {
    pub rx: broadcast::Receiver<DeviceEvent>,
    bus: Arc<EventBus>,
    key: String,
}

impl Drop for DeviceSubscription {
    fn drop(&mut self) {
        unsubscribe(&self.bus.devices, &self.key);
    }
}

/// A long-poll's wait for one session's decision.
#[derive(Debug)]
pub(crate) struct SessionSubscription {
    pub rx: broadcast::Receiver<SessionDecided>,
    bus: Arc<EventBus>,
    key: String,
}

impl Drop for SessionSubscription {
    fn drop(&mut self) {
        unsubscribe(&self.bus.sessions, &self.key);
    }
}

/// Resolves once shutdown has begun (helper that keeps futures `Send`).
pub(crate) async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Sends a bus event to the other instances on the database, as `origin`.
pub(crate) async fn send_to_instances(store: &crate::store::Store, origin: &str, event: BusEvent) {
    let envelope = Envelope {
        origin: origin.to_owned(),
        event,
    };
    match serde_json::to_string(&envelope) {
        Ok(payload) => {
            if let Err(e) = store.publish(&payload).await {
                tracing::warn!(error = %e, "cannot send an event to the other instances");
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot encode a bus event"),
    }
}

/// A bus event with the instance that published it.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Envelope {
    pub origin: String,
    pub event: BusEvent,
}

#[cfg(test)]
mod tests {
    use tapprove_protocol::api::SessionReason;

    use super::*;
    use tokio::sync::broadcast::error::TryRecvError;

    #[test]
    fn events_reach_only_their_subscribers() {
        let bus = Arc::new(EventBus::new());
        let mut a = bus.subscribe_device("acc_a");
        let mut b = bus.subscribe_device("acc_b");
        let mut s1 = bus.subscribe_session("ses_1");
        let mut s2 = bus.subscribe_session("ses_2");
        bus.challenge("acc_a", "jws-a");
        let accepted = Outcome {
            status: SessionStatus::Accepted,
            reason: SessionReason::Approved,
            decided_at: 1,
        };
        bus.decided("ses_1", accepted, &["acc_a".to_owned()]);
        assert!(matches!(a.rx.try_recv(), Ok(DeviceEvent::Challenge(j)) if &*j == "jws-a"));
        assert!(matches!(
            a.rx.try_recv(),
            Ok(DeviceEvent::Decided { session_id, status: SessionStatus::Accepted })
                if &*session_id == "ses_1"
        ));
        assert!(matches!(b.rx.try_recv(), Err(TryRecvError::Empty)));
        assert!(matches!(s1.rx.try_recv(), Ok(SessionDecided(o)) if o == accepted));
        assert!(matches!(s2.rx.try_recv(), Err(TryRecvError::Empty)));
        bus.unpaired("acc_b");
        assert!(matches!(b.rx.try_recv(), Ok(DeviceEvent::Unpaired)));
    }

    #[test]
    fn bus_events_travel_as_json_and_apply_locally() {
        let bus = Arc::new(EventBus::new());
        let mut device = bus.subscribe_device("acc_a");
        let mut waiter = bus.subscribe_session("ses_1");
        let decided = BusEvent::Decided {
            session_id: "ses_1".into(),
            outcome: Outcome {
                status: SessionStatus::Rejected,
                reason: SessionReason::FraudReported,
                decided_at: 7,
            },
            account_ids: vec!["acc_a".into()],
        };
        let json = serde_json::to_string(&decided).expect("json");
        assert!(
            json.contains(r#""kind":"decided""#) && json.contains("fraud_reported"),
            "{json}"
        );
        let back: BusEvent = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, decided);
        bus.apply(&back);
        assert!(matches!(
            waiter.rx.try_recv(),
            Ok(SessionDecided(o)) if o.reason == SessionReason::FraudReported && o.decided_at == 7
        ));
        assert!(matches!(
            device.rx.try_recv(),
            Ok(DeviceEvent::Decided {
                status: SessionStatus::Rejected,
                ..
            })
        ));
        bus.apply(&BusEvent::Unpaired {
            account_id: "acc_a".into(),
        });
        assert!(matches!(device.rx.try_recv(), Ok(DeviceEvent::Unpaired)));
    }

    #[test]
    fn channels_live_as_long_as_their_subscribers() {
        let bus = Arc::new(EventBus::new());
        let first = bus.subscribe_device("acc_a");
        let mut second = bus.subscribe_device("acc_a");
        assert_eq!(lock(&bus.devices).len(), 1);
        drop(first);
        assert_eq!(lock(&bus.devices).len(), 1, "one stream is still open");
        bus.challenge("acc_a", "still delivered");
        assert!(second.rx.try_recv().is_ok());
        drop(second);
        assert!(lock(&bus.devices).is_empty());
        let waiter = bus.subscribe_session("ses_1");
        drop(waiter);
        assert!(lock(&bus.sessions).is_empty());
        // Publishing with nobody listening is a no-op.
        let expired = Outcome {
            status: SessionStatus::Expired,
            reason: SessionReason::Timeout,
            decided_at: 2,
        };
        bus.decided("ses_1", expired, &["acc_a".to_owned()]);
    }
}
