//! The one test harness of Tapprove's tests, benchmarks and vector generator (never shipped).
//!
//! - [`fixture`]: the "Demo Bank" login everybody tests with — the signed challenge's fields,
//!   its APNs payload, the relying party's create-session body, the pairing code.
//! - [`endpoint`] (feature `http`): where the service is ([`endpoint::ServiceEndpoint`],
//!   implemented by a fixed [`endpoint::Endpoint`] and by harnesses that restart the service on
//!   a new port), the tests' HTTP client and response reader.
//! - [`rp`] (feature `http`): a fake relying party on loopback — the trust webhook, checking
//!   HTTP Basic and the Standard Webhooks signature with `tapprove_protocol::webhook` and
//!   recording every call — and the tests' face of [`tapprove_rp`], the relying-party client.
//! - [`device`] (feature `http`): a software device speaking the device API directly (pairing,
//!   request proofs, pending challenges, signed answers, the event stream), each call to the
//!   service it is given.
//! - [`terminal`] (feature `http`): the terminal authenticator (`tapprove device pair`,
//!   `tapprove device listen` typed at) as the phone of system tests.
//! - [`postgres`] (feature `postgres`): a fresh database per test, SQLite or on the test
//!   PostgreSQL server.
//!
//! Test code: failures panic with the response that caused them.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

#[cfg(feature = "http")]
pub mod device;
#[cfg(feature = "http")]
pub mod endpoint;
pub mod fixture;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "http")]
pub mod rp;
#[cfg(feature = "http")]
pub mod terminal;

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
