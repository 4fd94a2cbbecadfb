//! In-memory limits: a sliding-window counter per key (pairing attempts) and a replay cache
//! for request-proof `jti`s. Per process; the push budget, which must survive restarts, is
//! computed from the database instead (see `rp_api`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Sliding-window limiter: at most `limit` events per `window` seconds per key.
#[derive(Debug)]
pub(crate) struct WindowLimiter {
    window: i64,
    hits: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl WindowLimiter {
    pub(crate) fn new(window_secs: i64) -> Self {
        Self {
            window: window_secs,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Records an attempt for `key` at `now` if under `limit`; otherwise returns the seconds
    /// until one is allowed again.
    pub(crate) fn check(&self, key: &str, limit: u32, now: i64) -> Result<(), u64> {
        let mut map = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            let window = self.window;
            map.retain(|_, q| q.back().is_some_and(|t| *t > now - window));
        }
        let q = map.entry(key.to_owned()).or_default();
        while q.front().is_some_and(|t| *t <= now - self.window) {
            q.pop_front();
        }
        if q.len() >= limit as usize {
            let oldest = q.front().copied().unwrap_or(now);
            return Err((oldest + self.window - now).max(1) as u64);
        }
        q.push_back(now);
        Ok(())
    }
}

/// Remembers request-proof ids until they are too old to be accepted anyway.
#[derive(Debug, Default)]
pub(crate) struct ReplayCache {
    seen: Mutex<HashMap<String, i64>>,
}

impl ReplayCache {
    /// Returns false if `key` was seen and has not expired; otherwise remembers it until
    /// `expires_at`.
    pub(crate) fn first_use(&self, key: String, now: i64, expires_at: i64) -> bool {
        let mut map = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 1_000 {
            map.retain(|_, exp| *exp >= now);
        }
        match map.get(&key) {
            Some(exp) if *exp >= now => false,
            _ => {
                map.insert(key, expires_at);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_limits_and_recovers() {
        let l = WindowLimiter::new(60);
        assert!(l.check("a", 2, 100).is_ok());
        assert!(l.check("a", 2, 110).is_ok());
        assert_eq!(l.check("a", 2, 120), Err(40));
        assert!(l.check("b", 2, 120).is_ok());
        assert!(l.check("a", 2, 161).is_ok());
    }

    #[test]
    fn replay_cache() {
        let c = ReplayCache::default();
        assert!(c.first_use("x".into(), 100, 220));
        assert!(!c.first_use("x".into(), 150, 270));
        assert!(c.first_use("x".into(), 221, 341));
    }
}
