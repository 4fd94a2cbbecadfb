//! uniffi bindings of tapprove-core (skeleton).
uniffi::setup_scaffolding!();

/// Version of this SDK.
#[uniffi::export]
pub fn sdk_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
