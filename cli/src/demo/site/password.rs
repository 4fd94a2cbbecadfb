//! Passwords: the credentials form, argon2id hashing, and the bound on hashing work (a few
//! hashes at a time, a short queue, long passwords refused before any hashing).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use serde::Deserialize;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// Longest accepted password, in bytes (checked before hashing).
pub(super) const MAX_PASSWORD_BYTES: usize = 256;
/// Shortest accepted password at sign-up, in characters.
pub(super) const MIN_PASSWORD_CHARS: usize = 8;
/// argon2id hashes computed at once (each takes 19 MiB and most of a core).
const MAX_CONCURRENT_HASHES: usize = 2;
/// Requests allowed to wait for a hashing slot; more are refused at once.
const MAX_WAITING_HASHES: usize = 8;
/// Longest wait for a slot.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// The sign-up and login form.
#[derive(Deserialize)]
pub(super) struct Credentials {
    pub(super) user: String,
    pub(super) password: String,
}

/// All hashing slots are taken and the queue is full: answer 503, try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the site is busy checking other passwords")]
pub(super) struct Busy;

/// The site's argon2id work, bounded.
pub(super) struct PasswordWork {
    slots: Semaphore,
    waiting: AtomicUsize,
}

/// Counts a waiting request for as long as it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PasswordWork {
    pub(super) fn new() -> Self {
        Self {
            slots: Semaphore::new(MAX_CONCURRENT_HASHES),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Runs `f` (argon2) on the blocking pool once a slot is free.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let permit = match self.slots.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING_HASHES {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(Busy);
                }
                let _waiting = Waiting(&self.waiting);
                tokio::time::timeout(MAX_WAIT, self.slots.acquire())
                    .await
                    .map_err(|_| Busy)?
                    .map_err(|_| Busy)?
            }
        };
        let result = tokio::task::spawn_blocking(f).await.map_err(|_| Busy);
        drop(permit);
        result
    }

    /// The PHC string of a new password; `Ok(Err)` if argon2 fails.
    pub(super) async fn hash(
        &self,
        password: Zeroizing<String>,
    ) -> Result<Result<String, String>, Busy> {
        self.run(move || hash_password(&password)).await
    }

    /// Whether `password` matches `phc`.
    pub(super) async fn verify(
        &self,
        password: Zeroizing<String>,
        phc: String,
    ) -> Result<bool, Busy> {
        self.run(move || verify_password(&password, &phc)).await
    }
}

fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A fixed hash to verify against for unknown users, so both paths take the same time.
pub(super) fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_beyond_the_slots_and_the_queue_is_refused() {
        let work = Arc::new(PasswordWork::new());
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
        let mut tasks = Vec::new();
        // Fill the slots with jobs that block until released, then the queue.
        for _ in 0..MAX_CONCURRENT_HASHES + MAX_WAITING_HASHES {
            let (work, rx) = (work.clone(), release_rx.clone());
            tasks.push(tokio::spawn(async move {
                work.run(move || {
                    let _ = rx.lock().map(|r| r.recv());
                })
                .await
            }));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(work.slots.available_permits(), 0);
        assert_eq!(work.waiting.load(Ordering::SeqCst), MAX_WAITING_HASHES);
        assert_eq!(work.run(|| ()).await, Err(Busy), "full: refused at once");
        for _ in 0..MAX_CONCURRENT_HASHES + MAX_WAITING_HASHES {
            release_tx.send(()).expect("release");
        }
        for t in tasks {
            assert_eq!(t.await.expect("join"), Ok(()));
        }
        assert_eq!(work.waiting.load(Ordering::SeqCst), 0);
        assert_eq!(work.run(|| 7).await, Ok(7));
    }
}
