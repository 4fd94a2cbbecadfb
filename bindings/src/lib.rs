//! uniffi bindings of `tapprove-core` for Kotlin (Android, package `dev.tapprove`) and Swift
//! (iOS, module `Tapprove`).
//!
//! Small wrappers only: [`Authenticator`] delegates each call to `tapprove_core::Authenticator`;
//! records and enums are copied into FFI-friendly types ([`types`]); platform capabilities are
//! foreign traits ([`SecureStore`], [`DeviceSigner`], [`UserVerifier`], [`Logger`],
//! [`RequestListener`], [`HttpTransport`]) bridged into the core's traits. Every failure is one
//! [`AuthError`] (`AuthException` in Kotlin).
//!
//! Private keys never cross the FFI: the app's [`DeviceSigner`] returns public keys and
//! signatures only. Generate the bindings with `cargo xtask bindings` (see docs/BINDINGS.md).

mod authenticator;
mod cancel;
mod error;
mod foreign;
mod listen;
mod logging;
mod transport;
pub mod types;

pub use authenticator::Authenticator;
pub use cancel::CancelToken;
pub use error::{AuthError, ClosedReason};
pub use foreign::{Clock, DeviceSigner, SecureStore, UserVerifier};
pub use listen::{ListenHandle, RequestListener};
pub use logging::{LogLevel, Logger, init_logging};
pub use transport::{
    HttpBodyStream, HttpHeader, HttpRequest, HttpResponse, HttpStreamTransport, HttpTransport,
};
pub use types::*;

uniffi::setup_scaffolding!();

/// The SDK version, e.g. `0.1.0`.
#[uniffi::export]
pub fn sdk_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// What an enrollment link says (service and user), without its one-time code, or why it is
/// not a valid link. No network.
#[uniffi::export]
pub fn describe_enrollment_uri(uri: String) -> Result<EnrollmentInfo, AuthError> {
    let e = tapprove_core::EnrollmentUri::parse(&uri)?;
    Ok(EnrollmentInfo {
        server_url: e.config.server_url().to_owned(),
        user: e.user,
    })
}
