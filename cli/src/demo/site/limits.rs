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

    /// Counts one attempt for `key` unless it is over its limit (then the seconds to wait),
    /// in one step under the lock: concurrent attempts cannot all pass a check made before
    /// any of them is counted. Returns the window the attempt was counted in.
    fn take(&self, key: &str, now: i64) -> Result<i64, i64> {
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
        if w.failures >= self.max {
            return Err(w.started + WINDOW_SECONDS - now);
        }
        w.failures += 1;
        Ok(w.started)
    }

    /// Takes back an attempt counted in the window that started at `started` (a right
    /// password, or one never checked); a window that has ended since is left alone.
    fn refund(&self, key: &str, started: i64) {
        if let Some(w) = self.lock().get_mut(key)
            && w.started == started
        {
            w.failures = w.failures.saturating_sub(1);
        }
    }

    fn clear(&self, key: &str) {
        self.lock().remove(key);
    }
}

/// One password attempt, counted as a failure from [`PasswordLimits::begin`] on: dropping it
/// leaves it counted (a wrong password, an unknown user); [`PasswordLimits::succeeded`] and
/// [`PasswordLimits::not_checked`] take it back.
#[must_use = "an attempt stays counted as a failure unless it is settled"]
pub(super) struct Attempt {
    /// (user name, window) when the name could be an account.
    user: Option<(String, i64)>,
    /// (network key, window).
    network: (String, i64),
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

    /// Counts an attempt for `user` (`None`: a name no account can have, counted against the
    /// network only) from `ip`, or refuses it before any password hashing. Check and count are
    /// one step per counter, so parallel attempts get no more tries than the limit.
    pub(super) fn begin(
        &self,
        user: Option<&str>,
        ip: IpAddr,
        now: i64,
    ) -> Result<Attempt, Limited> {
        let net = network_key(ip);
        let net_window = self
            .per_ip
            .take(&net, now)
            .map_err(|retry_after| Limited::Network { retry_after })?;
        let user = match user {
            Some(u) => match self.per_user.take(u, now) {
                Ok(window) => Some((u.to_owned(), window)),
                Err(retry_after) => {
                    self.per_ip.refund(&net, net_window);
                    return Err(Limited::User { retry_after });
                }
            },
            None => None,
        };
        Ok(Attempt {
            user,
            network: (net, net_window),
        })
    }

    /// A right password: the user's count ends, and the attempt is not a failure of the network
    /// (whose other failures keep counting).
    pub(super) fn succeeded(&self, attempt: Attempt) {
        if let Some((user, _)) = &attempt.user {
            self.per_user.clear(user);
        }
        self.per_ip.refund(&attempt.network.0, attempt.network.1);
    }

    /// The password was not checked (the site was too busy): the attempt is taken back.
    pub(super) fn not_checked(&self, attempt: Attempt) {
        if let Some((user, window)) = &attempt.user {
            self.per_user.refund(user, *window);
        }
        self.per_ip.refund(&attempt.network.0, attempt.network.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));

    /// A failed attempt: begun and dropped.
    fn fail(l: &PasswordLimits, user: &str, ip: IpAddr, now: i64) {
        drop(l.begin(Some(user), ip, now).expect("allowed"));
    }

    #[test]
    fn a_user_is_limited_after_five_failures_until_the_window_ends() {
        let l = PasswordLimits::new();
        for _ in 0..MAX_FAILURES_PER_USER {
            fail(&l, "alice", A, 10);
        }
        assert_eq!(
            l.begin(Some("alice"), B, 20).err(),
            Some(Limited::User {
                retry_after: WINDOW_SECONDS - 10
            }),
            "from any network"
        );
        assert!(
            l.begin(Some("bob"), B, 20).is_ok(),
            "other users are not affected"
        );
        fail(&l, "alice", B, 10 + WINDOW_SECONDS);
        assert!(
            l.begin(Some("alice"), B, 11 + WINDOW_SECONDS).is_ok(),
            "a new window"
        );
    }

    #[test]
    fn a_network_is_limited_across_user_names() {
        let l = PasswordLimits::new();
        for i in 0..MAX_FAILURES_PER_IP {
            fail(&l, &format!("user{i}"), A, 0);
        }
        assert!(matches!(
            l.begin(Some("someone"), A, 1),
            Err(Limited::Network { .. })
        ));
        assert!(matches!(l.begin(None, A, 1), Err(Limited::Network { .. })));
        assert!(l.begin(Some("someone"), B, 1).is_ok());
    }

    #[test]
    fn success_clears_the_user_count_and_is_no_failure_of_the_network() {
        let l = PasswordLimits::new();
        for _ in 0..MAX_FAILURES_PER_USER - 1 {
            fail(&l, "alice", A, 0);
        }
        l.succeeded(l.begin(Some("alice"), A, 0).expect("allowed"));
        fail(&l, "alice", A, 1);
        assert!(l.begin(Some("alice"), A, 2).is_ok());
        // Many right passwords from one network never block it.
        let l = PasswordLimits::new();
        for _ in 0..3 * MAX_FAILURES_PER_IP {
            l.succeeded(l.begin(Some("alice"), A, 0).expect("allowed"));
        }
        // A busy site's unchecked attempts are not failures either.
        for _ in 0..3 * MAX_FAILURES_PER_USER {
            l.not_checked(l.begin(Some("bob"), A, 0).expect("allowed"));
        }
    }

    #[test]
    fn parallel_attempts_get_no_more_tries_than_the_limit() {
        // Every thread starts together; each attempt is held (the password being hashed)
        // until all have asked, as concurrent logins would be.
        let l = std::sync::Arc::new(PasswordLimits::new());
        let threads = 4 * MAX_FAILURES_PER_USER as usize;
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (l, barrier) = (l.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let ip = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, i as u8));
                    barrier.wait();
                    let attempt = l.begin(Some("alice"), ip, 0);
                    barrier.wait();
                    attempt.is_ok()
                })
            })
            .collect();
        let allowed = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .filter(|ok| *ok)
            .count();
        assert_eq!(allowed, MAX_FAILURES_PER_USER as usize);
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
