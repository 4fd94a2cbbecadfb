//! One in-memory cache of login requests keyed by session id: the same challenge arriving by
//! push, poll and event stream is one request; answered ids are remembered so a second answer
//! never reaches the network. Requests that ended unanswered (superseded, canceled, expired) are
//! kept a while as *ended*: the user may still report them with "not me", nothing else.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::error::CoreError;
use crate::model::{EndedRequest, LoginRequest};
use tapprove_protocol::api::SessionStatus;

/// How long answered or expired request ids are remembered after their expiry, seconds.
const REMEMBER_AFTER_EXPIRY: i64 = 600;
/// Entries (pending and answered) above which expired ones are pruned. After a prune the next
/// one waits until the count has doubled, so pruning costs O(1) per request however many ids
/// the window holds.
const PRUNE_ABOVE: usize = 64;
/// How long a request that ended unanswered can still be reported with "not me", seconds: the
/// service accepts a late report for as long.
pub(crate) const NOT_ME_WINDOW: i64 = 600;
/// Ended requests kept at most (the oldest go first): a flood of restarted logins must not
/// grow the cache, and a user reports the latest ones.
const MAX_ENDED: usize = 32;

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
    /// Requests that ended unanswered, with how and when (service time).
    ended: HashMap<String, Ended>,
}

#[derive(Clone)]
pub(super) struct Ended {
    pub(super) cached: Cached,
    pub(super) status: SessionStatus,
    pub(super) ended_at: i64,
}

/// What the cache knows about a request id.
pub(super) enum Known {
    Pending(Cached),
    /// Over without an answer: only "not me" is still possible.
    Ended(Ended),
    Unknown,
}

/// Whether `status` is an end without anyone's answer (what a late "not me" may report).
pub(super) fn ended_unanswered(status: SessionStatus) -> bool {
    matches!(status, SessionStatus::Canceled | SessionStatus::Expired)
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
        if entries.ended.contains_key(&request.id) {
            // Still in a poll or push that raced its end: it stays ended, never approvable.
            return Err(CoreError::RequestEnded {
                status: entries.ended[&request.id].status,
            });
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

    /// What is known of request `id` at service time `now`; [`CoreError::AlreadyAnswered`] if
    /// answered.
    pub(super) fn lookup(&self, id: &str, now: i64) -> Result<Known, CoreError> {
        let mut entries = self.lock();
        if entries.answered.contains_key(id) {
            return Err(CoreError::AlreadyAnswered);
        }
        entries.drop_old_ended(now);
        if let Some(c) = entries.pending.get(id) {
            return Ok(Known::Pending(c.clone()));
        }
        Ok(entries
            .ended
            .get(id)
            .cloned()
            .map_or(Known::Unknown, Known::Ended))
    }

    /// Moves pending request `id` to the ended ones when it ended unanswered (`status`
    /// canceled or expired) at service time `now`; forgets it otherwise.
    pub(super) fn end(&self, id: &str, status: SessionStatus, now: i64) {
        let mut entries = self.lock();
        let Some(cached) = entries.pending.remove(id) else {
            return;
        };
        if !ended_unanswered(status) || entries.answered.contains_key(id) {
            return;
        }
        entries.drop_old_ended(now);
        if entries.ended.len() >= MAX_ENDED
            && let Some(oldest) = entries
                .ended
                .iter()
                .min_by_key(|(_, e)| e.ended_at)
                .map(|(k, _)| k.clone())
        {
            entries.ended.remove(&oldest);
        }
        entries.ended.insert(
            id.to_owned(),
            Ended {
                cached,
                status,
                ended_at: now,
            },
        );
    }

    /// The requests that ended unanswered less than [`NOT_ME_WINDOW`] before `now`, for one
    /// account or all, newest first.
    pub(super) fn ended(&self, account_id: Option<&str>, now: i64) -> Vec<EndedRequest> {
        let mut entries = self.lock();
        entries.drop_old_ended(now);
        let mut list: Vec<EndedRequest> = entries
            .ended
            .values()
            .filter(|e| account_id.is_none_or(|a| e.cached.request.account_id == a))
            .map(|e| EndedRequest {
                request: e.cached.request.clone(),
                status: e.status,
                ended_at: e.ended_at,
            })
            .collect();
        list.sort_by(|a, b| {
            b.ended_at
                .cmp(&a.ended_at)
                .then(a.request.id.cmp(&b.request.id))
        });
        list
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

    /// Removes a request the service says is over (pending or ended).
    pub(super) fn forget(&self, id: &str) {
        let mut entries = self.lock();
        entries.pending.remove(id);
        entries.ended.remove(id);
    }

    /// Removes every pending and ended request of an account.
    pub(super) fn forget_account(&self, account_id: &str) {
        let mut entries = self.lock();
        entries
            .pending
            .retain(|_, c| c.request.account_id != account_id);
        entries
            .ended
            .retain(|_, e| e.cached.request.account_id != account_id);
    }
}

impl Entries {
    fn drop_old_ended(&mut self, now: i64) {
        self.ended
            .retain(|_, e| e.ended_at.saturating_add(NOT_ME_WINDOW) >= now);
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
            display_code: None,
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

    #[test]
    fn requests_that_ended_unanswered_are_kept_bounded_and_never_pending_again() {
        let cache = RequestCache::default();
        for i in 0..40_i64 {
            let id = format!("ses_{i}");
            cache
                .record(&request(&id, 1_000), format!("n{i}"), 0)
                .expect("record");
            cache.end(&id, SessionStatus::Canceled, i);
        }
        // Only the newest MAX_ENDED are kept, newest first.
        let ended = cache.ended(None, 40);
        assert_eq!(ended.len(), MAX_ENDED);
        assert_eq!(ended[0].request.id, "ses_39");
        assert_eq!(ended[0].status, SessionStatus::Canceled);
        assert!(matches!(cache.lookup("ses_39", 40), Ok(Known::Ended(_))));
        assert!(matches!(cache.lookup("ses_0", 40), Ok(Known::Unknown)));
        // A poll racing the end does not make it pending again.
        assert!(matches!(
            cache.record(&request("ses_39", 1_000), "n39".into(), 40),
            Err(CoreError::RequestEnded {
                status: SessionStatus::Canceled
            })
        ));
        // Decided by an answer (here or elsewhere): not kept.
        cache
            .record(&request("ses_a", 1_000), "na".into(), 0)
            .expect("record");
        cache.end("ses_a", SessionStatus::Accepted, 41);
        assert!(matches!(cache.lookup("ses_a", 41), Ok(Known::Unknown)));
        // Past the window they are gone.
        assert!(cache.ended(None, 39 + NOT_ME_WINDOW).len() == 1);
        assert!(cache.ended(None, 40 + NOT_ME_WINDOW).is_empty());
    }
}
