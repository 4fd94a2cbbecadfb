//! Listening for login requests live: [`crate::Authenticator::listen`] returns a
//! [`ListenHandle`] whose [`ListenHandle::cancel`] stops it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::StreamExt as _;
use tapprove_core::{EventStream, RequestEvent};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

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
    task: Mutex<Option<JoinHandle<()>>>,
    cancelled: Arc<AtomicBool>,
}

#[uniffi::export]
impl ListenHandle {
    /// Stops listening. Idempotent. At most one callback already under way may still complete.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }

    /// Whether the listener is still running (false after `cancel` or a fatal error).
    pub fn is_active(&self) -> bool {
        self.task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }
}

impl Drop for ListenHandle {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The SDK's own runtime for long-running background work (the event stream), so `listen` can
/// be called from any thread without an async context.
fn runtime() -> Result<&'static Runtime, AuthError> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("tapprove-listen")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| AuthError::Internal {
            detail: format!("could not start a thread: {e}"),
        })
}

pub(crate) fn spawn(
    mut events: EventStream,
    listener: Arc<dyn RequestListener>,
) -> Result<Arc<ListenHandle>, AuthError> {
    let cancelled = Arc::new(AtomicBool::new(false));
    let stop = cancelled.clone();
    let task = runtime()?.spawn(async move {
        while let Some(item) = events.next().await {
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
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if let Err(e) = listener.on_closed() {
            tracing::warn!(error = %e, "the app's RequestListener failed");
        }
    });
    Ok(Arc::new(ListenHandle {
        task: Mutex::new(Some(task)),
        cancelled,
    }))
}
