//! Prometheus metrics: what an operator watches, served as OpenMetrics text on `GET /metrics`
//! on a listen address of its own (`metrics_listen`), never on the public API port.
//!
//! Each instance counts what it did itself (sessions it created or decided, pushes it sent,
//! streams it holds); Prometheus sums the instances. Nothing here carries a user name, an id
//! or a secret: labels are closed sets (status, reason, provider, outcome, limit).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Buckets of the decision latency, seconds: a phone answers in seconds, a session lives up to
/// ten minutes.
const DECISION_BUCKETS: [f64; 10] = [1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0, 120.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Presence {
    pub presence: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Decided {
    pub status: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Delivery {
    pub provider: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PairingOutcome {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Limit {
    pub limit: &'static str,
}

/// Declares the metrics in one list: each field with its type, its first value, the name it is
/// exposed under (after the `tapprove_` prefix) and its help text. The struct, its
/// construction and the registration all come from that list, so a metric cannot be declared
/// and left unregistered.
macro_rules! metrics {
    ($($field:ident: $ty:ty = $init:expr, $name:literal, $help:literal;)*) => {
        /// The service's metrics and their registry. Cheap to clone (the metrics are shared
        /// handles).
        #[derive(Clone)]
        pub(crate) struct Metrics {
            registry: Arc<Registry>,
            $(pub $field: $ty,)*
        }

        impl Metrics {
            /// Registers every metric; `db_wait` is the store's own histogram (see
            /// [`crate::store::Store::db_wait`]).
            pub(crate) fn new(db_wait: Histogram) -> Self {
                let mut registry = Registry::with_prefix("tapprove");
                $(
                    let $field: $ty = $init;
                    registry.register($name, $help, $field.clone());
                )*
                registry.register(
                    "db_wait_seconds",
                    "Seconds a statement waited for a database connection",
                    db_wait,
                );
                Self {
                    registry: Arc::new(registry),
                    $($field,)*
                }
            }
        }
    };
}

metrics! {
    sessions_created: Family<Presence, Counter> = Family::default(),
        "sessions_created", "Push sessions created, by presence mode";
    sessions_decided: Family<Decided, Counter> = Family::default(),
        "sessions_decided", "Push sessions that reached a final status, by status and reason";
    decision_seconds: Histogram = Histogram::new(DECISION_BUCKETS),
        "decision_seconds", "Seconds from a session's creation to the device's accept or reject";
    push_deliveries: Family<Delivery, Counter> = Family::default(),
        "push_deliveries", "Pushes handed to APNs or FCM, by provider and outcome";
    pairings: Family<PairingOutcome, Counter> = Family::default(),
        "pairings", "Device pairing attempts, by outcome";
    rate_limited: Family<Limit, Counter> = Family::default(),
        "rate_limited", "Requests refused by a limit, by limit";
    event_streams: Gauge = Gauge::default(),
        "event_streams_open", "Device event streams this instance holds open";
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The OpenMetrics text exposition of every metric.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// One more refusal by `limit`: the audit log's name of it (`audit::Limit::as_str`; a
    /// string so this module does not import `audit`).
    pub(crate) fn refused(&self, limit: &'static str) {
        self.rate_limited.get_or_create(&Limit { limit }).inc();
    }

    /// One more pairing attempt that ended with `outcome`.
    pub(crate) fn paired(&self, outcome: &'static str) {
        self.pairings
            .get_or_create(&PairingOutcome { outcome })
            .inc();
    }
}

/// The `presence` label of a mode (its wire form).
pub(crate) fn presence(mode: tapprove_protocol::PresenceMode) -> &'static str {
    mode.as_str()
}

/// Counts an open event stream for as long as it lives.
pub(crate) struct StreamGuard(Gauge);

impl StreamGuard {
    pub(crate) fn open(metrics: &Metrics) -> Self {
        metrics.event_streams.inc();
        Self(metrics.event_streams.clone())
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `GET /metrics` on the metrics listener.
pub(crate) fn router(metrics: Metrics) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.encode(),
                )
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_appear_in_the_exposition_with_their_labels() {
        let m = Metrics::new(crate::store::Store::new_db_wait_histogram());
        m.sessions_decided
            .get_or_create(&Decided {
                status: "accepted",
                reason: "approved",
            })
            .inc();
        m.refused("sessions_per_minute");
        let streams = StreamGuard::open(&m);
        let text = m.encode();
        assert!(
            text.contains(
                r#"tapprove_sessions_decided_total{status="accepted",reason="approved"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"tapprove_rate_limited_total{limit="sessions_per_minute"} 1"#));
        assert!(text.contains("tapprove_event_streams_open 1"));
        drop(streams);
        assert!(m.encode().contains("tapprove_event_streams_open 0"));
        assert!(text.ends_with("# EOF\n"));
    }
}
