//! [`CancelToken`]: cancels an async call from outside the future, for callers whose async
//! runtime does not drop futures on cancellation (uniffi's Swift futures ignore `Task`
//! cancellation; a UI "Stop" button has no future to drop).
//!
//! [`CancelToken::run`] completes with [`CoreError::Cancelled`] as soon as the token is
//! cancelled and drops the call's future, which cancels the background call itself (its
//! socket is shut down; see `background.rs`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::error::CoreError;

/// A cancellation signal for one or more calls. Clones share the signal.
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelToken {
    /// A token not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every call running under this token (and every later one). Idempotent; may
    /// be called from any thread.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *self.wakers());
        for waker in wakers {
            waker.wake();
        }
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    fn wakers(&self) -> std::sync::MutexGuard<'_, Vec<Waker>> {
        self.inner.wakers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `call` until it completes or the token is cancelled, whichever comes first; then
    /// [`CoreError::Cancelled`], and `call` is dropped (which cancels a core call).
    pub async fn run<T, F>(&self, call: F) -> Result<T, CoreError>
    where
        F: Future<Output = Result<T, CoreError>>,
    {
        Guarded {
            call: Box::pin(call),
            token: self,
        }
        .await
    }
}

struct Guarded<'a, F> {
    call: Pin<Box<F>>,
    token: &'a CancelToken,
}

impl<T, F: Future<Output = Result<T, CoreError>>> Future for Guarded<'_, F> {
    type Output = Result<T, CoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.token.is_cancelled() {
            return Poll::Ready(Err(CoreError::Cancelled));
        }
        {
            let mut wakers = self.token.wakers();
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
        }
        // Checked again: a cancel between the first check and the registration woke nobody.
        if self.token.is_cancelled() {
            return Poll::Ready(Err(CoreError::Cancelled));
        }
        self.call.as_mut().poll(cx)
    }
}
