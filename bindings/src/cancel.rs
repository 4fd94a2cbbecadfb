//! [`CancelToken`]: cancels an exported async call from outside its future. uniffi's Swift
//! futures do not stop when their `Task` is cancelled, so the Swift layer wires
//! `withTaskCancellationHandler { … } onCancel: { token.cancel() }` to it; Kotlin coroutines
//! cancel through uniffi already, and the token also serves a UI "Stop" button.

use std::future::Future;
use std::sync::Arc;

use tapprove_core as core;

use crate::error::AuthError;

/// A cancellation signal for one or more calls: pass it as the last argument (`cancel`) of an
/// async method and call [`CancelToken::cancel`] from any thread to end the call at once with
/// `AuthError.Cancelled`; its connection is closed and its background work stops.
#[derive(Debug, Default, uniffi::Object)]
pub struct CancelToken(core::CancelToken);

#[uniffi::export]
impl CancelToken {
    /// A token not cancelled yet.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Cancels every call given this token, running or started later. Idempotent.
    pub fn cancel(&self) {
        self.0.cancel();
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// Runs a core call under `token`, if any, and maps its error for apps.
pub(crate) async fn run<T, F>(token: Option<Arc<CancelToken>>, call: F) -> Result<T, AuthError>
where
    F: Future<Output = Result<T, core::CoreError>>,
{
    Ok(match token {
        Some(token) => token.0.run(call).await?,
        None => call.await?,
    })
}
