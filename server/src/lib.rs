//! The Tapprove service: relying-party API (PROTOCOL.md §9), device API (§6–§7), trust
//! webhook (§8) and admin operations, over axum + sqlx (SQLite embedded).
//!
//! ```no_run
//! # async fn run() -> Result<(), tapprove_server::ServiceError> {
//! use tapprove_server::{Service, ServiceConfig};
//! let config = ServiceConfig::load(None)?; // TOML file + TAPPROVE_* environment
//! let running = Service::start(config).await?;
//! println!("listening on http://{}", running.local_addr());
//! tokio::signal::ctrl_c().await.ok();
//! running.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! Design decisions beyond the protocol are written down in `docs/SERVICE.md`.

mod crypto;
pub mod domain;
mod error;
mod http;
mod service;
mod store;
mod testhook;

pub use admin::{
    ApiKeyRotation, DeviceSummary, KeyRotation, ProjectCredentials, ProjectSummary, RevokeSummary,
    RevokeTarget, ServiceKeySummary, WebhookCredentials,
};
pub use crypto::{SealKey, SecretString};
pub use domain::{admin, policy};
pub use error::{ApiError, ServiceError};
pub use service::config::{
    DEFAULT_DATABASE_URL, DEFAULT_LISTEN, LimitsConfig, PushConfig, ServiceConfig,
};
pub use service::state::AppState;
pub use service::{RunningService, Service};
pub use store::{Store, StoreCounts};
pub use tapprove_push::{NoPush, PushSender};

/// Clock allowance for request proofs and answers, seconds (PROTOCOL.md §4, §5).
pub(crate) const SKEW_SECONDS: i64 = 60;

/// The current Unix time in seconds.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
