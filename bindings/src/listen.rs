//! Listening for login requests live: [`crate::Authenticator::listen`] returns a
//! [`ListenHandle`] whose [`ListenHandle::cancel`] stops it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tapprove_core::{EventStream, EventStreamStopper, RequestEvent};

use crate::error::AuthError;
use crate::types::{LoginRequest, SessionStatus};

/// Receives live login requests. Called on an SDK thread: hand the work to the UI thread and
/// return quickly; do not block on SDK calls from inside a callback.
#[uniffi::export(foreign)]
pub trait RequestListener: Send + Sync {
    /// A new login request (each id once per listen call).
    fn on_request(&self, request: LoginRequest) -> Result<(), AuthError>;
    /// A request is over (answered here or elsewhere, canceled, expired): dismiss its prompt.
    fn on_decided(&self, request_id: String, status: SessionStatus) -> Result<(), AuthError>;
    /// A failure. Transient ones (network) are followed by a reconnect; after a fatal one
    /// (not paired, update required, unknown account) `on_closed` follows.
    fn on_error(&self, error: AuthError) -> Result<(), AuthError>;
    /// Listening ended by itself after a fatal error (not called after `cancel`).
    fn on_closed(&self) -> Result<(), AuthError>;
}

/// A running listener. Listening stops on [`ListenHandle::cancel`] or when the handle is
/// dropped (closed/deinitialised): keep it for as long as you want requests.
#[derive(uniffi::Object)]
pub struct ListenHandle {
    stopper: EventStreamStopper,
    cancelled: Arc<AtomicBool>,
    /// Cleared by the listening thread before `on_closed`, so the callback already sees
    /// `is_active() == false`.
    running: Arc<AtomicBool>,
}

#[uniffi::export]
impl ListenHandle {
    /// Stops listening. Idempotent. At most one callback already under way may still complete.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.stopper.stop();
    }

    /// Whether the listener is still running (false after `cancel` or a fatal error).
    pub fn is_active(&self) -> bool {
        !self.cancelled.load(Ordering::SeqCst) && self.running.load(Ordering::SeqCst)
    }
}

impl Drop for ListenHandle {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Delivers `events` to `listener` on a thread of the SDK's own, so `listen` can be called
/// from any thread without an async context.
pub(crate) fn spawn(
    mut events: EventStream,
    listener: Arc<dyn RequestListener>,
) -> Result<Arc<ListenHandle>, AuthError> {
    let cancelled = Arc::new(AtomicBool::new(false));
    let stop = cancelled.clone();
    let running = Arc::new(AtomicBool::new(true));
    let ended = NotRunningOnExit(running.clone());
    let stopper = events.stopper();
    std::thread::Builder::new()
        .name("tapprove-listen".into())
        .spawn(move || {
            let ended = ended;
            while let Some(item) = events.blocking_next() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let delivered = match item {
                    Ok(RequestEvent::Request(request)) => listener.on_request(request.into()),
                    Ok(RequestEvent::Decided { request_id, status }) => {
                        listener.on_decided(request_id, status.into())
                    }
                    Err(e) => listener.on_error(e.into()),
                };
                if let Err(e) = delivered {
                    tracing::warn!(error = %e, "the app's RequestListener failed");
                }
            }
            ended.mark();
            if stop.load(Ordering::SeqCst) {
                return;
            }
            if let Err(e) = listener.on_closed() {
                tracing::warn!(error = %e, "the app's RequestListener failed");
            }
        })
        .map_err(|e| AuthError::Internal {
            detail: format!("could not start a thread: {e}"),
        })?;
    Ok(Arc::new(ListenHandle {
        stopper,
        cancelled,
        running,
    }))
}

/// Clears the running flag when the thread ends, however it ends (a panicking callback too).
struct NotRunningOnExit(Arc<AtomicBool>);

impl NotRunningOnExit {
    fn mark(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Drop for NotRunningOnExit {
    fn drop(&mut self) {
        self.mark();
    }
}
