//! Time: an injectable [`Clock`] and per-server offsets learnt from the HTTP `Date` header, so a
//! phone with a wrong clock still judges challenge expiry by the service's time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time. Inject a fake in tests to move time.
pub trait Clock: Send + Sync {
    /// The device's current time, Unix seconds.
    fn now_unix(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        }
    }
}

/// Allowed clock difference when checking challenge times, in seconds (docs/PROTOCOL.md §3).
pub const SKEW_SECONDS: i64 = 60;

/// Offsets (service time − device time) per server origin.
#[derive(Debug, Default)]
pub(crate) struct Offsets {
    by_server: Mutex<HashMap<String, i64>>,
}

impl Offsets {
    pub(crate) fn get(&self, server: &str) -> Option<i64> {
        self.by_server
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(server)
            .copied()
    }

    pub(crate) fn set(&self, server: &str, offset: i64) {
        self.by_server
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(server.to_owned(), offset);
    }

    /// Records the offset implied by a `Date` header value seen at device time `device_now`.
    /// Returns the offset when the header was valid.
    pub(crate) fn observe_date(&self, server: &str, date: &str, device_now: i64) -> Option<i64> {
        let offset = offset_from_date(date, device_now)?;
        self.set(server, offset);
        Some(offset)
    }
}

/// Unix seconds as an HTTP date ("Tue, 01 Dec 2026 09:30:00 GMT"), for messages.
pub fn utc_text(unix: i64) -> String {
    let secs = u64::try_from(unix).unwrap_or(0);
    httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Service time − device time, from an HTTP `Date` header (RFC 9110 IMF-fixdate and the two
/// obsolete forms).
pub fn offset_from_date(date: &str, device_now: i64) -> Option<i64> {
    let t = httpdate::parse_http_date(date.trim()).ok()?;
    let secs = i64::try_from(t.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
    Some(secs - device_now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_header_gives_offset() {
        // 1800000000 = Fri, 15 Jan 2027 08:00:00 GMT
        let date =
            httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000));
        assert_eq!(offset_from_date(&date, 1_800_000_000 - 300), Some(300));
        assert_eq!(offset_from_date(&date, 1_800_000_000 + 90), Some(-90));
        assert_eq!(offset_from_date("yesterday", 0), None);
        let o = Offsets::default();
        assert_eq!(o.get("https://a"), None);
        assert_eq!(o.observe_date("https://a", &date, 1_800_000_010), Some(-10));
        assert_eq!(o.get("https://a"), Some(-10));
        assert_eq!(o.observe_date("https://a", "garbage", 0), None);
        assert_eq!(o.get("https://a"), Some(-10));
    }

    #[test]
    fn system_clock_is_plausible() {
        assert!(SystemClock.now_unix() > 1_700_000_000);
    }
}
