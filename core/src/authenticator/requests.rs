//! One in-memory cache of login requests keyed by session id: the same challenge arriving by
//! push, poll and event stream is one request; answered ids are remembered so a second answer
//! never reaches the network.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::error::CoreError;
use crate::model::LoginRequest;

/// How long answered or expired request ids are remembered after their expiry, seconds.
const REMEMBER_AFTER_EXPIRY: i64 = 600;
/// Pending entries above which expired ones are pruned.
const PRUNE_ABOVE: usize = 64;

/// A verified request and the nonce its answer must echo.
#[derive(Clone)]
pub(super) struct Cached {
    pub(super) request: LoginRequest,
    pub(super) nonce: String,
}

#[derive(Default)]
struct Entries {
    pending: HashMap<String, Cached>,
    /// Answered (or being answered) ids → their expiry, for pruning.
    answered: HashMap<String, i64>,
}

impl Entries {
    fn prune(&mut self, now: i64) {
        let keep = |exp: i64| exp.saturating_add(REMEMBER_AFTER_EXPIRY) >= now;
        self.pending.retain(|_, c| keep(c.request.expires_at));
        self.answered.retain(|_, exp| keep(*exp));
    }
}

#[derive(Default)]
pub(super) struct RequestCache {
    entries: Mutex<Entries>,
}

impl RequestCache {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `id` was answered (or is being answered) from this device.
    pub(super) fn is_answered(&self, id: &str) -> bool {
        self.lock().answered.contains_key(id)
    }

    /// Records a verified request seen at service time `now`. A re-issued challenge for the
    /// same session (e.g. after a service restart) replaces the older one: the newest verified
    /// one wins. [`CoreError::AlreadyAnswered`] when this device answered it already.
    pub(super) fn record(
        &self,
        request: &LoginRequest,
        nonce: String,
        now: i64,
    ) -> Result<(), CoreError> {
        let mut entries = self.lock();
        if entries.answered.contains_key(&request.id) {
            return Err(CoreError::AlreadyAnswered);
        }
        if entries.pending.len() > PRUNE_ABOVE {
            entries.prune(now);
        }
        let entry = entries
            .pending
            .entry(request.id.clone())
            .or_insert_with(|| Cached {
                request: request.clone(),
                nonce: nonce.clone(),
            });
        if entry.nonce != nonce {
            *entry = Cached {
                request: request.clone(),
                nonce,
            };
        }
        Ok(())
    }

    /// The pending request `id`, if known; [`CoreError::AlreadyAnswered`] if answered.
    pub(super) fn lookup(&self, id: &str) -> Result<Option<Cached>, CoreError> {
        let entries = self.lock();
        if entries.answered.contains_key(id) {
            return Err(CoreError::AlreadyAnswered);
        }
        Ok(entries.pending.get(id).cloned())
    }

    /// Marks `id` as being answered, so a concurrent second answer fails without a network
    /// call; [`CoreError::AlreadyAnswered`] if it already was.
    pub(super) fn reserve(&self, id: &str, expires_at: i64) -> Result<(), CoreError> {
        let mut entries = self.lock();
        if entries.answered.contains_key(id) {
            return Err(CoreError::AlreadyAnswered);
        }
        entries.answered.insert(id.to_owned(), expires_at);
        Ok(())
    }

    /// Undoes [`RequestCache::reserve`]: nothing was decided, another try is allowed.
    pub(super) fn release(&self, id: &str) {
        self.lock().answered.remove(id);
    }

    /// Removes a pending request the service says is over.
    pub(super) fn forget(&self, id: &str) {
        self.lock().pending.remove(id);
    }

    /// Removes every pending request of an account.
    pub(super) fn forget_account(&self, account_id: &str) {
        self.lock()
            .pending
            .retain(|_, c| c.request.account_id != account_id);
    }
}
