//! Runs blocking work (network calls, the key store, the signer) on a thread of its own, so
//! the public API is `async` without tying the core to one async runtime: the futures work
//! under tokio, under uniffi's foreign executors (Swift, Kotlin coroutines) and anywhere else.
//!
//! A device makes a handful of calls per login, so a short-lived thread per call costs nothing
//! noticeable and keeps no runtime alive in the app between logins.

use crate::error::CoreError;

/// Runs `work` on a new thread; the future completes with its result. Dropping the future
/// does not stop the work (an answer already being sent is still sent).
pub(crate) async fn run<T, F>(work: F) -> Result<T, CoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, CoreError> + Send + 'static,
{
    let (tx, rx) = futures_channel::oneshot::channel();
    spawn("tapprove-call", move || {
        let _ = tx.send(work());
    })?;
    rx.await.unwrap_or_else(|_| {
        Err(CoreError::Internal {
            detail: "a background call ended without a result (it panicked)".into(),
        })
    })
}

/// Starts a named thread.
pub(crate) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), CoreError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map(|_| ())
        .map_err(|e| CoreError::Internal {
            detail: format!("could not start a thread: {e}"),
        })
}
