//! Runs blocking work (network calls, the key store, the signer) off the caller's thread, so
//! the public API is `async` without tying the core to one async runtime: the futures work
//! under tokio, under uniffi's foreign executors (Swift, Kotlin coroutines) and anywhere else.
//!
//! A call runs on a worker thread. A worker that finished its call waits up to [`LINGER`] for
//! the next one and then ends: the calls of one login (fetch, answer) share a thread instead
//! of starting one each, and nothing stays alive in the app between logins. Calls never wait
//! for a busy worker: one is started whenever none is idle.
//!
//! Dropping the future cancels its call: the built-in HTTP client sees the call's
//! [`CallCancel`] (through [`current_cancel`], a thread-local of the call's thread), stops
//! waiting and shuts its socket down, so the thread ends instead of waiting for a timeout.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::net::{Shutdown, TcpStream};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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

/// How long a worker waits for its next call before it ends.
const LINGER: Duration = Duration::from_secs(5);

/// A call: runs its work and returns the step that hands the result over, which the worker
/// takes only once it counts itself idle (so a caller that starts its next call at once finds
/// it).
type Job = Box<dyn FnOnce() -> Deliver + Send + 'static>;
type Deliver = Box<dyn FnOnce() + Send + 'static>;

/// The calls waiting for an idle worker, and how many workers are idle. Invariant: no more
/// calls wait than workers are idle, so every queued call has a worker.
struct Workers {
    queue: Mutex<(VecDeque<Job>, usize)>,
    posted: Condvar,
}

static WORKERS: Workers = Workers {
    queue: Mutex::new((VecDeque::new(), 0)),
    posted: Condvar::new(),
};

impl Workers {
    fn lock(&self) -> std::sync::MutexGuard<'_, (VecDeque<Job>, usize)> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands `job` to an idle worker, or starts one.
    fn submit(&'static self, job: Job) -> Result<(), CoreError> {
        let mut queue = self.lock();
        if queue.1 > queue.0.len() {
            queue.0.push_back(job);
            drop(queue);
            self.posted.notify_one();
            return Ok(());
        }
        drop(queue);
        spawn("tapprove-call", Box::new(move || self.work(job)))
    }

    /// Runs `job`, then the calls handed over within [`LINGER`] of each other. A call that
    /// panics ends its worker (its future reports it).
    fn work(&self, mut job: Job) {
        loop {
            let deliver = job();
            let mut queue = self.lock();
            queue.1 += 1;
            drop(queue);
            // Counted idle, this worker may already have a call queued for it: it must live on.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(deliver));
            let mut queue = self.lock();
            let until = Instant::now() + LINGER;
            job = loop {
                if let Some(next) = queue.0.pop_front() {
                    queue.1 -= 1;
                    break next;
                }
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    queue.1 -= 1;
                    return;
                }
                queue = self
                    .posted
                    .wait_timeout(queue, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            };
        }
    }
}

/// Runs `work` on a worker thread; the future completes with its result. Dropping the future
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
    let spawned = WORKERS.submit(Box::new(move || {
        CURRENT.with(|c| *c.borrow_mut() = Some(for_thread));
        let result = work();
        // The call's sockets must not outlive it in an idle worker.
        CURRENT.with(|c| *c.borrow_mut() = None);
        Box::new(move || {
            let _ = tx.send(result);
        }) as Deliver
    }));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread::ThreadId;

    /// A pool of its own, so that other tests' calls cannot take its workers.
    fn pool() -> &'static Workers {
        Box::leak(Box::new(Workers {
            queue: Mutex::new((VecDeque::new(), 0)),
            posted: Condvar::new(),
        }))
    }

    /// Runs `f` on `pool`; its result arrives on the receiver.
    fn call<T: Send + 'static>(
        pool: &'static Workers,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> mpsc::Receiver<(T, ThreadId)> {
        let (tx, rx) = mpsc::channel();
        pool.submit(Box::new(move || {
            let result = (f(), std::thread::current().id());
            Box::new(move || {
                let _ = tx.send(result);
            }) as Deliver
        }))
        .expect("submit");
        rx
    }

    const WAIT: Duration = Duration::from_secs(20);

    #[test]
    fn a_finished_worker_takes_the_next_call() {
        let pool = pool();
        let ((), first) = call(pool, || ()).recv_timeout(WAIT).expect("first");
        let ((), second) = call(pool, || ()).recv_timeout(WAIT).expect("second");
        assert_eq!(first, second, "the second call started a thread of its own");
        assert_ne!(first, std::thread::current().id());
    }

    #[test]
    fn a_call_does_not_wait_for_a_busy_worker() {
        let pool = pool();
        let (tx, rx) = mpsc::channel::<()>();
        // The first call waits for the second: queued behind it, the second would never run.
        let waiting = call(pool, move || rx.recv_timeout(WAIT).is_ok());
        let (sent, _) = call(pool, move || tx.send(()).is_ok())
            .recv_timeout(WAIT)
            .expect("second");
        assert!(sent);
        let (arrived, _) = waiting.recv_timeout(WAIT).expect("first");
        assert!(arrived, "the second call waited for the first");
    }

    #[tokio::test]
    async fn a_call_leaves_no_cancellation_behind_on_its_worker() {
        let stale = run(|| Ok(current_cancel().is_some())).await.expect("call");
        assert!(stale, "a call sees its own cancellation");
        // Most likely on the same worker (it is idle): it must not still hold that call's.
        let (left, _) = call(&WORKERS, current_cancel)
            .recv_timeout(WAIT)
            .expect("call");
        assert!(
            left.is_none(),
            "a worker kept a finished call's cancellation"
        );
    }
}
