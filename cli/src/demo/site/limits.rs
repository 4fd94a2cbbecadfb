//! Password attempt limits: wrong passwords are counted per user name and per client network,
//! and a key over its limit is refused before any password hashing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Wrong passwords for one user name within [`WINDOW_SECONDS`].
pub(super) const MAX_FAILURES_PER_USER: u32 = 5;
/// Wrong passwords from one network (IPv4 address, IPv6 /64) within [`WINDOW_SECONDS`].
pub(super) const MAX_FAILURES_PER_IP: u32 = 20;
/// The counting window, from a key's first failure.
pub(super) const WINDOW_SECONDS: i64 = 15 * 60;
/// Most keys tracked per limiter; beyond, expired windows are dropped first.
const MAX_KEYS: usize = 100_000;

/// Which limit refused an attempt, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Limited {
    /// Too many wrong passwords for this user name.
    User {
        /// Seconds until the window ends.
        retry_after: i64,
    },
    /// Too many wrong passwords from this network.
    Network {
        /// Seconds until the window ends.
        retry_after: i64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: i64,
    failures: u32,
}

/// Failure counts per key in fixed windows.
struct Counter {
    max: u32,
    windows: Mutex<HashMap<String, Window>>,
}

impl Counter {
    fn new(max: u32) -> Self {
        Self {
            max,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Seconds to wait when `key` is over its limit.
    fn blocked(&self, key: &str, now: i64) -> Option<i64> {
        let w = *self.lock().get(key)?;
        let left = w.started + WINDOW_SECONDS - now;
        (left > 0 && w.failures >= self.max).then_some(left)
    }

    fn fail(&self, key: &str, now: i64) {
        let mut map = self.lock();
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            // Amortised: only a full map is swept.
            map.retain(|_, w| now - w.started < WINDOW_SECONDS);
        }
        let w = map.entry(key.to_owned()).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now - w.started >= WINDOW_SECONDS {
            *w = Window {
                started: now,
                failures: 0,
            };
        }
        w.failures += 1;
    }

    fn clear(&self, key: &str) {
        self.lock().remove(key);
    }
}

/// The login's two counters.
pub(super) struct PasswordLimits {
    per_user: Counter,
    per_ip: Counter,
}

/// The key of a client address: IPv4 as is, IPv6 by its /64 (one host's usual allocation).
pub(super) fn network_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

impl PasswordLimits {
    pub(super) fn new() -> Self {
        Self {
            per_user: Counter::new(MAX_FAILURES_PER_USER),
            per_ip: Counter::new(MAX_FAILURES_PER_IP),
        }
    }

    /// Whether an attempt for `user` from `ip` may be checked at all.
    pub(super) fn check(&self, user: &str, ip: IpAddr, now: i64) -> Result<(), Limited> {
        if let Some(retry_after) = self.per_ip.blocked(&network_key(ip), now) {
            return Err(Limited::Network { retry_after });
        }
        if let Some(retry_after) = self.per_user.blocked(user, now) {
            return Err(Limited::User { retry_after });
        }
        Ok(())
    }

    /// Counts a wrong password (or an unknown user) for both keys.
    pub(super) fn failed(&self, user: &str, ip: IpAddr, now: i64) {
        self.per_user.fail(user, now);
        self.failed_network(ip, now);
    }

    /// Counts a failure against the network only (a user name no account can have: not a key
    /// worth keeping).
    pub(super) fn failed_network(&self, ip: IpAddr, now: i64) {
        self.per_ip.fail(&network_key(ip), now);
    }

    /// A right password ends the user's count (the network's keeps running).
    pub(super) fn succeeded(&self, user: &str) {
        self.per_user.clear(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));

    #[test]
    fn a_user_is_limited_after_five_failures_until_the_window_ends() {
        let l = PasswordLimits::new();
        for _ in 0..MAX_FAILURES_PER_USER {
            assert_eq!(l.check("alice", A, 10), Ok(()));
            l.failed("alice", A, 10);
        }
        assert_eq!(
            l.check("alice", B, 20),
            Err(Limited::User {
                retry_after: WINDOW_SECONDS - 10
            }),
            "from any network"
        );
        assert_eq!(
            l.check("bob", B, 20),
            Ok(()),
            "other users are not affected"
        );
        assert_eq!(l.check("alice", B, 10 + WINDOW_SECONDS), Ok(()));
        l.failed("alice", B, 10 + WINDOW_SECONDS);
        assert_eq!(
            l.check("alice", B, 11 + WINDOW_SECONDS),
            Ok(()),
            "a new window"
        );
    }

    #[test]
    fn a_network_is_limited_across_user_names() {
        let l = PasswordLimits::new();
        for i in 0..MAX_FAILURES_PER_IP {
            l.failed(&format!("user{i}"), A, 0);
        }
        assert!(matches!(
            l.check("someone", A, 1),
            Err(Limited::Network { .. })
        ));
        assert_eq!(l.check("someone", B, 1), Ok(()));
    }

    #[test]
    fn success_clears_the_user_count_only() {
        let l = PasswordLimits::new();
        for _ in 0..MAX_FAILURES_PER_USER - 1 {
            l.failed("alice", A, 0);
        }
        l.succeeded("alice");
        l.failed("alice", A, 1);
        assert_eq!(l.check("alice", A, 2), Ok(()));
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(network_key(a), network_key(b));
        assert_ne!(network_key(a), network_key(c));
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().expect("ip");
        assert_eq!(network_key(mapped), "203.0.113.7");
    }
}
