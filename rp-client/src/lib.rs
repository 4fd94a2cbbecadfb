//! The Rust client of Tapprove's relying-party API (docs/PROTOCOL.md §8–§10): the one way a Rust
//! site — the demo, the tests' harness, the benchmarks, RADIUS or PAM front ends — integrates.
//!
//! - [`RpClient`]: every relying-party call — push sessions (create, read, long-poll, cancel),
//!   code-to-phone (`PresenceMode::Display` on create, then [`RpClient::submit_code`] with the
//!   code the user read off the phone), the user lock, devices (list, revoke one, revoke all),
//!   the audit log — with one typed
//!   error, [`RpError`] (the API's [`ErrorCode`], HTTP status, `Retry-After`, `locked_until`).
//! - [`RpClient::wait_for_decision`]: waits for a session's decision until a deadline with
//!   repeated long-polls. Dropping the future at any point is safe (it only abandons a `GET`),
//!   so it composes with `tokio::select!` and `tokio::time::timeout`.
//! - [`WebhookVerifier`]: checks the service's calls to the site (the trust webhook at pairing,
//!   site events): HTTP Basic and the Standard Webhooks signature, through
//!   `tapprove_protocol::webhook`, and the message id form of each (`msg_…` / `evt_…`).
//!
//! ```no_run
//! # async fn login() -> Result<(), tapprove_rp::RpError> {
//! use std::time::Duration;
//! use tapprove_rp::{ApiKey, CreateSessionRequest, Notification, RpClient, SessionStatus};
//!
//! let rp = RpClient::new("https://tapprove.example.com", ApiKey::new("tap_api_…"))?;
//! let created = rp
//!     .create_session(&CreateSessionRequest {
//!         user: "alice".into(),
//!         notification: Notification { title: "Sign in to Example".into(), body: "From Lyon".into() },
//!         context: None,
//!         presence: None,
//!         ttl_seconds: None,
//!         join_pending: false,
//!     })
//!     .await?;
//! // Show `created.presence_code` on the login page, then:
//! match rp.wait_for_decision(&created.id, Duration::from_secs(120)).await? {
//!     Some(view) if view.status == SessionStatus::Accepted => { /* signed in */ }
//!     Some(_refused) => {}
//!     None => { rp.cancel_session(&created.id).await?; } // nobody answered in time
//! }
//! # Ok(()) }
//! ```
//!
//! A runnable example: `rp-client/examples/login.rs`; the guide: docs/RP_CLIENT.md.

mod client;
mod error;
mod webhook;

pub use client::{ApiKey, AuditQuery, MAX_WAIT, RpClient};
pub use error::RpError;
pub use tapprove_protocol::api::{
    AuditEntry, AuditPage, CreateSessionRequest, DeviceList, DeviceView, ErrorCode, Notification,
    SessionCreated, SessionReason, SessionStatus, SessionView, SubmitCodeRequest,
};
pub use tapprove_protocol::challenge::{Context, PresenceMode};
pub use webhook::{
    SiteEvent, TrustRequest, Verified, WebhookKind, WebhookRejection, WebhookVerifier,
};
