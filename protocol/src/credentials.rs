//! Formats of the keys a project is given (docs/SERVICE.md "Projects and keys") and the URL
//! rule shared by the app's server URL and the site's trust URL. One home, so the service that
//! issues a key and the device that checks it cannot drift apart.

use std::net::IpAddr;

/// Prefix of relying-party API keys (secret; the service stores only a hash).
pub const API_KEY_PREFIX: &str = "tap_api_";
/// Prefix of SDK keys (public; they ship inside apps).
pub const SDK_KEY_PREFIX: &str = "tap_sdk_";
/// Number of base64url characters after [`SDK_KEY_PREFIX`] (128 bits).
pub const SDK_KEY_CHARS: usize = 22;

/// Whether `sdk_key` is `tap_sdk_` followed by exactly [`SDK_KEY_CHARS`] base64url characters.
pub fn is_well_formed_sdk_key(sdk_key: &str) -> bool {
    sdk_key.strip_prefix(SDK_KEY_PREFIX).is_some_and(|rest| {
        rest.len() == SDK_KEY_CHARS
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Whether a URL's host, as written in the URL (`localhost`, `127.0.0.1`, `[::1]`), is
/// `localhost` or a loopback IP (`127.0.0.0/8`, `::1`): the only hosts where plain `http://`
/// is allowed, for development.
pub fn is_loopback_host(host: &str) -> bool {
    let ip = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().map(IpAddr::V6),
        None => host.parse::<std::net::Ipv4Addr>().map(IpAddr::V4),
    };
    match ip {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_key_format() {
        assert!(is_well_formed_sdk_key("tap_sdk_ABCDEFGHIJKLMNOPQRSTU-"));
        assert!(!is_well_formed_sdk_key("tap_sdk_ABCDEFGHIJKLMNOPQRSTU"));
        assert!(!is_well_formed_sdk_key("tap_sdk_ABCDEFGHIJKLMNOPQRSTU+"));
        assert!(!is_well_formed_sdk_key("tap_api_ABCDEFGHIJKLMNOPQRSTUV"));
    }

    #[test]
    fn loopback_hosts() {
        for yes in ["localhost", "LOCALHOST", "127.0.0.1", "127.9.9.9", "[::1]"] {
            assert!(is_loopback_host(yes), "{yes}");
        }
        for no in [
            "example.com",
            "10.0.0.1",
            "localhost.example.com",
            "[::2]",
            "::1",
            "",
        ] {
            assert!(!is_loopback_host(no), "{no}");
        }
    }
}
