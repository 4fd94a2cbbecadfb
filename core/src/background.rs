//! Runs blocking work (network calls, the key store, the signer) on a thread of its own, so
//! the public API is `async` without tying the core to one async runtime: the futures work
//! under tokio, under uniffi's foreign executors (Swift, Kotlin coroutines) and anywhere else.
//!
//! A device makes a handful of calls per login, so a short-lived thread per call costs nothing
//! noticeable and keeps no runtime alive in the app between logins.
//!
//! Dropping the future cancels its call: the built-in HTTP client sees the call's
//! [`CallCancel`] (through [`current_cancel`], a thread-local of the call's thread), stops
//! waiting and shuts its socket down, so the thread ends instead of waiting for a timeout.

use std::cell::RefCell;
use std::future::Future;
use std::net::{Shutdown, TcpStream};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_channel::oneshot;

use crate::error::CoreError;

/// The cancellation flag of one background call, and the sockets to shut down when it is set.
#[derive(Debug, Default)]
pub(crate) struct CallCancel {
    cancelled: AtomicBool,
    sockets: Mutex<Vec<TcpStream>>,
}

impl CallCancel {
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        for socket in self.lock().drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<TcpStream>> {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Shuts `socket` down when the call is cancelled (at once if it already is).
    pub(crate) fn watch(&self, socket: &TcpStream) {
        let Ok(clone) = socket.try_clone() else {
            return;
        };
        let mut sockets = self.lock();
        if self.is_cancelled() {
            let _ = clone.shutdown(Shutdown::Both);
        } else {
            sockets.push(clone);
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<CallCancel>>> = const { RefCell::new(None) };
}

/// The cancellation of the background call running on this thread, if any.
pub(crate) fn current_cancel() -> Option<Arc<CallCancel>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// The future of [`run`]: cancels the call when dropped before it completed.
pub(crate) struct Call<T> {
    rx: oneshot::Receiver<Result<T, CoreError>>,
    cancel: Arc<CallCancel>,
    done: bool,
}

impl<T> Future for Call<T> {
    type Output = Result<T, CoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(result) => {
                self.done = true;
                Poll::Ready(result.unwrap_or_else(|_| {
                    Err(CoreError::Internal {
                        detail: "a background call ended without a result (it panicked)".into(),
                    })
                }))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for Call<T> {
    fn drop(&mut self) {
        if !self.done {
            self.cancel.cancel();
        }
    }
}

/// Runs `work` on a new thread; the future completes with its result. Dropping the future
/// cancels the call (see the module comment); work that is not network I/O (a store or
/// signer call) still runs to its end.
pub(crate) fn run<T, F>(work: F) -> Call<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, CoreError> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let cancel = Arc::new(CallCancel::default());
    let for_thread = cancel.clone();
    let spawned = spawn(
        "tapprove-call",
        Box::new(move || {
            CURRENT.with(|c| *c.borrow_mut() = Some(for_thread));
            let _ = tx.send(work());
        }),
    );
    let rx = match spawned {
        Ok(()) => rx,
        Err(e) => {
            // The closure (and with it `tx`) is gone: hand the error over directly.
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(Err(e));
            rx
        }
    };
    Call {
        rx,
        cancel,
        done: false,
    }
}

/// Starts a named thread. Boxed, so that every thread of the core shares one instantiation of
/// the standard library's spawn machinery (it counts in the phone library's size).
pub(crate) fn spawn(name: &str, f: Box<dyn FnOnce() + Send + 'static>) -> Result<(), CoreError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map(|_| ())
        .map_err(|e| CoreError::Internal {
            detail: format!("could not start a thread: {e}"),
        })
}
