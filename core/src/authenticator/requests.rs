//! One in-memory cache of login requests keyed by session id: the same challenge arriving by
//! push, poll and event stream is one request; answered ids are remembered so a second answer
//! never reaches the network.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::error::CoreError;
use crate::model::LoginRequest;

/// How long answered or expired request ids are remembered after their expiry, seconds.
const REMEMBER_AFTER_EXPIRY: i64 = 600;
/// Entries (pending and answered) above which expired ones are pruned. After a prune the next
/// one waits until the count has doubled, so pruning costs O(1) per request however many ids
/// the window holds.
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
    /// The count above which the next prune runs (at least [`PRUNE_ABOVE`]).
    prune_above: usize,
}

impl Entries {
    /// Drops what expired more than [`REMEMBER_AFTER_EXPIRY`] ago, once there are enough
    /// entries. Both maps count: answered ids are removed from `pending`, so a cache that only
    /// watched `pending` would keep every answered id forever.
    fn prune(&mut self, now: i64) {
        if self.pending.len() + self.answered.len() <= self.prune_above.max(PRUNE_ABOVE) {
            return;
        }
        let keep = |exp: i64| exp.saturating_add(REMEMBER_AFTER_EXPIRY) >= now;
        self.pending.retain(|_, c| keep(c.request.expires_at));
        self.answered.retain(|_, exp| keep(*exp));
        self.prune_above = 2 * (self.pending.len() + self.answered.len());
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
        entries.prune(now);
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

    /// Marks `id` as being answered at service time `now`, so a concurrent second answer fails
    /// without a network call; [`CoreError::AlreadyAnswered`] if it already was.
    pub(super) fn reserve(&self, id: &str, expires_at: i64, now: i64) -> Result<(), CoreError> {
        let mut entries = self.lock();
        if entries.answered.contains_key(id) {
            return Err(CoreError::AlreadyAnswered);
        }
        entries.prune(now);
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

#[cfg(test)]
mod tests {
    use super::*;
    use tapprove_protocol::{Context, PresenceMode};

    fn request(id: &str, expires_at: i64) -> LoginRequest {
        LoginRequest {
            id: id.into(),
            account_id: "acc_1".into(),
            user: "alice".into(),
            title: "t".into(),
            body: "b".into(),
            context: Context::default(),
            presence_mode: PresenceMode::Entry,
            options: vec![],
            code_length: Some(6),
            user_verification: None,
            issued_at: expires_at - 120,
            expires_at,
        }
    }

    /// Found by the soak: each login ends in `reserve` then `forget`, so `pending` stays small
    /// and the answered ids were never pruned (a terminal authenticator grew ~100 bytes a
    /// login, forever).
    #[test]
    fn answered_ids_are_forgotten_once_long_expired_however_few_are_pending() {
        let cache = RequestCache::default();
        // A day of logins, one every 10 s, each answered and forgotten as `respond` does.
        for i in 0..8_640_i64 {
            let now = i * 10;
            let (id, expires_at) = (format!("ses_{i}"), now + 120);
            cache
                .record(&request(&id, expires_at), format!("n{i}"), now)
                .expect("record");
            cache.reserve(&id, expires_at, now).expect("reserve");
            cache.forget(&id);
        }
        let entries = cache.lock();
        // The window keeps ids up to REMEMBER_AFTER_EXPIRY past their expiry, about 72 here;
        // pruning only when the count doubles lets it reach twice that.
        let remembered = entries.answered.len();
        assert!(
            (60..=2 * 72 + PRUNE_ABOVE).contains(&remembered),
            "{remembered}"
        );
        assert!(entries.pending.is_empty());
        drop(entries);
        // What is remembered is still refused; what was forgotten is long expired.
        assert!(cache.is_answered("ses_8639"));
        assert!(!cache.is_answered("ses_0"));
        assert!(matches!(
            cache.reserve("ses_8639", 86_510, 86_400),
            Err(CoreError::AlreadyAnswered)
        ));
    }
}
