//! One in-memory cache of login requests keyed by session id: the same challenge arriving by
//! push, poll and event stream is one request; answered ids are remembered so a second answer
//! never reaches the network. Requests that ended unanswered (superseded, canceled, expired) are
//! kept a while as *ended*: the user may still report them with "not me", nothing else. The
//! ended ones are also written to the secure store ([`super::ended`]), so another process of the
//! app can list and report them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::ended::EndedStore;
use crate::error::CoreError;
use crate::model::{EndedRequest, LoginRequest};
use crate::store::SecureStore;
use tapprove_protocol::api::SessionStatus;

/// How long answered or expired request ids are remembered after their expiry, seconds.
const REMEMBER_AFTER_EXPIRY: i64 = 600;
/// Entries (pending and answered) above which expired ones are pruned. After a prune the next
/// one waits until the count has doubled, so pruning costs O(1) per request however many ids
/// the window holds.
const PRUNE_ABOVE: usize = 64;
/// How long a request that ended unanswered can still be reported with "not me", seconds: the
/// service accepts a late report for as long.
pub const NOT_ME_WINDOW: i64 = 600;
/// Ended requests kept at most, in memory and in the store (the oldest go first): a flood of
/// restarted logins must not grow either, and a user reports the latest ones.
pub(super) const MAX_ENDED: usize = 32;

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

/// The account and id of an ended request dropped from memory, to delete from the store.
type Dropped = Vec<(String, String)>;

pub(super) struct RequestCache {
    entries: Mutex<Entries>,
    /// The ended requests' copy in the secure store. Written after the lock is released, so
    /// app code behind the store never runs while the cache is locked.
    stored: EndedStore,
}

impl RequestCache {
    /// An empty cache holding the ended requests already in `store` at time `now`.
    pub(super) fn new(store: Arc<dyn SecureStore>, now: i64) -> Self {
        let cache = Self {
            entries: Mutex::default(),
            stored: EndedStore::new(store),
        };
        cache.load_ended(now);
        cache
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn delete_stored(&self, dropped: Dropped) {
        for (account_id, id) in dropped {
            self.stored.delete(&account_id, &id);
        }
    }

    /// Adds the stored ended requests this process does not hold yet (another process, e.g.
    /// the app's listener or an earlier command, learnt of them), keeping the newest.
    fn load_ended(&self, now: i64) {
        let stored = self.stored.load(now);
        let dropped = {
            let mut entries = self.lock();
            for e in stored {
                let id = e.cached.request.id.clone();
                if entries.answered.contains_key(&id) {
                    continue;
                }
                entries.pending.remove(&id);
                entries.ended.entry(id).or_insert(e);
            }
            let mut dropped = entries.drop_old_ended(now);
            dropped.extend(entries.keep_newest_ended(MAX_ENDED));
            dropped
        };
        self.delete_stored(dropped);
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
    /// An id unknown here is looked up in the store's ended requests too.
    pub(super) fn lookup(&self, id: &str, now: i64) -> Result<Known, CoreError> {
        let (known, dropped) = self.lookup_in_memory(id, now)?;
        self.delete_stored(dropped);
        if !matches!(known, Known::Unknown) {
            return Ok(known);
        }
        self.load_ended(now);
        Ok(self.lookup_in_memory(id, now)?.0)
    }

    fn lookup_in_memory(&self, id: &str, now: i64) -> Result<(Known, Dropped), CoreError> {
        let mut entries = self.lock();
        if entries.answered.contains_key(id) {
            return Err(CoreError::AlreadyAnswered);
        }
        let dropped = entries.drop_old_ended(now);
        let known = if let Some(c) = entries.pending.get(id) {
            Known::Pending(c.clone())
        } else {
            entries
                .ended
                .get(id)
                .cloned()
                .map_or(Known::Unknown, Known::Ended)
        };
        Ok((known, dropped))
    }

    /// Moves pending request `id` to the ended ones when it ended unanswered (`status`
    /// canceled or expired) at service time `now`; forgets it otherwise.
    pub(super) fn end(&self, id: &str, status: SessionStatus, now: i64) {
        let (ended, dropped) = {
            let mut entries = self.lock();
            let Some(cached) = entries.pending.remove(id) else {
                return;
            };
            if !ended_unanswered(status) || entries.answered.contains_key(id) {
                return;
            }
            let mut dropped = entries.drop_old_ended(now);
            // Room for the new one first, so it is never the one evicted.
            dropped.extend(entries.keep_newest_ended(MAX_ENDED - 1));
            let ended = Ended {
                cached,
                status,
                ended_at: now,
            };
            entries.ended.insert(id.to_owned(), ended.clone());
            (ended, dropped)
        };
        self.delete_stored(dropped);
        self.stored.save(&ended);
    }

    /// The requests that ended unanswered less than [`NOT_ME_WINDOW`] before `now`, for one
    /// account or all, newest first.
    pub(super) fn ended(&self, account_id: Option<&str>, now: i64) -> Vec<EndedRequest> {
        self.load_ended(now);
        let entries = self.lock();
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
        let ended = {
            let mut entries = self.lock();
            entries.pending.remove(id);
            entries.ended.remove(id)
        };
        if let Some(e) = ended {
            self.stored.delete(&e.cached.request.account_id, id);
        }
    }

    /// Removes every pending and ended request of an account, stored ones included.
    pub(super) fn forget_account(&self, account_id: &str) {
        {
            let mut entries = self.lock();
            entries
                .pending
                .retain(|_, c| c.request.account_id != account_id);
            entries
                .ended
                .retain(|_, e| e.cached.request.account_id != account_id);
        }
        self.stored.delete_account(account_id);
    }
}

impl Entries {
    /// Drops the ended requests past the "not me" window; what was dropped.
    fn drop_old_ended(&mut self, now: i64) -> Dropped {
        self.drop_ended(|e| e.ended_at.saturating_add(NOT_ME_WINDOW) < now)
    }

    /// Drops the oldest ended requests until at most `max` are left; what was dropped.
    fn keep_newest_ended(&mut self, max: usize) -> Dropped {
        if self.ended.len() <= max {
            return Vec::new();
        }
        let mut by_age: Vec<(i64, String)> = self
            .ended
            .iter()
            .map(|(id, e)| (e.ended_at, id.clone()))
            .collect();
        by_age.sort();
        let excess = by_age.len() - max;
        let oldest: std::collections::HashSet<String> =
            by_age.into_iter().take(excess).map(|(_, id)| id).collect();
        self.drop_ended(|e| oldest.contains(&e.cached.request.id))
    }

    fn drop_ended(&mut self, drop: impl Fn(&Ended) -> bool) -> Dropped {
        let mut dropped = Vec::new();
        self.ended.retain(|id, e| {
            let gone = drop(e);
            if gone {
                dropped.push((e.cached.request.account_id.clone(), id.clone()));
            }
            !gone
        });
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StoreError;
    use crate::secret::SecretBytes;
    use crate::store::MemoryStore;
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
        let cache = RequestCache::new(Arc::new(MemoryStore::new()), 0);
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
        let cache = RequestCache::new(Arc::new(MemoryStore::new()), 0);
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

    fn end_one(cache: &RequestCache, id: &str, account: &str, at: i64) {
        let mut r = request(id, 1_000);
        r.account_id = account.into();
        cache.record(&r, format!("nonce-{id}"), at).expect("record");
        cache.end(id, SessionStatus::Expired, at);
    }

    fn stored_keys(store: &MemoryStore) -> Vec<String> {
        store
            .list_keys(super::super::ended::ENDED_PREFIX)
            .expect("list")
    }

    /// A new process (a relaunched app, the next terminal command) must still be able to sign
    /// a late "not me": it needs the ended challenge's nonce, which only the store can give it.
    #[test]
    fn ended_requests_survive_a_new_cache_on_the_same_store_with_their_nonce() {
        let store = Arc::new(MemoryStore::new());
        let first = RequestCache::new(store.clone(), 0);
        end_one(&first, "ses_1", "acc_1", 10);
        drop(first);

        let second = RequestCache::new(store.clone(), 20);
        let ended = second.ended(None, 20);
        assert_eq!(ended.len(), 1);
        assert_eq!(
            (
                ended[0].request.id.as_str(),
                ended[0].status,
                ended[0].ended_at
            ),
            ("ses_1", SessionStatus::Expired, 10)
        );
        match second.lookup("ses_1", 20) {
            Ok(Known::Ended(e)) => assert_eq!(e.cached.nonce, "nonce-ses_1"),
            _ => panic!("expected an ended request"),
        }
        // Reported: gone from memory and store.
        second.forget("ses_1");
        assert!(stored_keys(&store).is_empty());
        assert!(RequestCache::new(store, 20).ended(None, 20).is_empty());
    }

    /// Another process ending a request while this one runs: listing and looking it up read
    /// the store again.
    #[test]
    fn a_request_another_process_ended_is_found_without_restarting() {
        let store = Arc::new(MemoryStore::new());
        let app = RequestCache::new(store.clone(), 0);
        let listener = RequestCache::new(store.clone(), 0);
        end_one(&listener, "ses_1", "acc_1", 5);
        assert!(matches!(app.lookup("ses_1", 6), Ok(Known::Ended(_))));
        end_one(&listener, "ses_2", "acc_1", 7);
        assert_eq!(app.ended(None, 8).len(), 2);
    }

    #[test]
    fn stored_ended_requests_are_pruned_after_the_window_and_bounded_in_count() {
        let store = Arc::new(MemoryStore::new());
        let cache = RequestCache::new(store.clone(), 0);
        for i in 0..40_i64 {
            end_one(&cache, &format!("ses_{i:02}"), "acc_1", i);
        }
        let keys = stored_keys(&store);
        assert_eq!(keys.len(), MAX_ENDED, "{keys:?}");
        assert!(
            keys.iter().all(|k| !k.ends_with("/ses_00")),
            "oldest evicted"
        );
        // A new process past the window of the older half finds and deletes only those.
        let later = RequestCache::new(store.clone(), 20 + NOT_ME_WINDOW);
        assert_eq!(later.ended(None, 20 + NOT_ME_WINDOW).len(), 20);
        assert_eq!(stored_keys(&store).len(), 20);
        // Past the window of all: nothing is left behind.
        let _ = RequestCache::new(store.clone(), 100 + NOT_ME_WINDOW);
        assert!(stored_keys(&store).is_empty());
    }

    #[test]
    fn removing_an_account_deletes_its_stored_ended_requests_even_unloaded_ones() {
        let store = Arc::new(MemoryStore::new());
        let cache = RequestCache::new(store.clone(), 0);
        end_one(&cache, "ses_1", "acc_1", 1);
        end_one(&cache, "ses_2", "acc_2", 1);
        // Written by another process after this one loaded: still removed with the account.
        end_one(&RequestCache::new(store.clone(), 0), "ses_3", "acc_1", 2);
        cache.forget_account("acc_1");
        let keys = stored_keys(&store);
        assert_eq!(keys, vec!["ended_request/acc_2/ses_2".to_owned()]);
        assert_eq!(cache.ended(Some("acc_1"), 3).len(), 0);
        assert_eq!(cache.ended(None, 3).len(), 1);
    }

    /// A store whose reads of one key fail (a keychain item this process may not read).
    struct OneUnreadable(MemoryStore, &'static str);

    impl SecureStore for OneUnreadable {
        fn get(&self, key: &str) -> Result<Option<SecretBytes>, StoreError> {
            if key == self.1 {
                return Err(StoreError::Backend {
                    message: "locked".into(),
                });
            }
            self.0.get(key)
        }
        fn set(&self, key: &str, value: SecretBytes) -> Result<(), StoreError> {
            self.0.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.0.delete(key)
        }
        fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
            self.0.list_keys(prefix)
        }
    }

    #[test]
    fn unreadable_or_corrupt_records_never_break_loading() {
        let locked = "ended_request/acc_1/ses_locked";
        let store = Arc::new(OneUnreadable(MemoryStore::new(), locked));
        end_one(&RequestCache::new(store.clone(), 0), "ses_ok", "acc_1", 1);
        for (key, value) in [
            (locked, &b"{}"[..]),
            ("ended_request/acc_1/ses_junk", b"not json"),
            // A record filed under another request's key is not trusted.
            ("ended_request/acc_9/ses_other", b"{}"),
        ] {
            store
                .0
                .set(key, SecretBytes::from_slice(value))
                .expect("set");
        }
        let moved = store
            .0
            .get("ended_request/acc_1/ses_ok")
            .expect("get")
            .expect("some");
        store
            .0
            .set("ended_request/acc_9/ses_moved", moved)
            .expect("set");

        let cache = RequestCache::new(store.clone(), 2);
        let ended = cache.ended(None, 2);
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert_eq!(ended[0].request.id, "ses_ok");
        // Unparsable ones are deleted; the unreadable one is left for a later read.
        let mut keys = store.0.list_keys("ended_request/").expect("list");
        keys.sort();
        assert_eq!(
            keys,
            vec![locked.to_owned(), "ended_request/acc_1/ses_ok".to_owned()]
        );
    }
}
