//! The service's rules, one aggregate per module, with no axum and no SQL: each decides its
//! own things (a session's outcome, a device's trust, a pairing) through the store and
//! announces them on the bus.

pub mod admin;
pub(crate) mod audit;
pub(crate) mod bus;
pub(crate) mod context;
pub(crate) mod credentials;
pub(crate) mod delivery;
pub(crate) mod devices;
pub(crate) mod pairing;
pub mod policy;
pub(crate) mod ratelimit;
pub(crate) mod service_keys;
pub(crate) mod sessions;
pub(crate) mod site_events;
pub(crate) mod trust_webhook;
pub(crate) mod user_guard;

/// Longest user name, in characters, the service accepts anywhere (pairing, sessions, the
/// relying party's device calls).
pub(crate) const MAX_USER_CHARS: usize = 256;
