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

/// Whether the URL's host is `localhost` or a loopback IP (`127.0.0.0/8`, `::1`): the only
/// hosts where plain `http://` is allowed, for development.
pub fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
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
        let host = |u: &str| is_loopback_host(&url::Url::parse(u).expect("url"));
        assert!(host("http://localhost:8080") && host("http://LOCALHOST"));
        assert!(host("http://127.0.0.1") && host("http://127.9.9.9") && host("http://[::1]:1"));
        assert!(!host("http://example.com") && !host("http://10.0.0.1"));
        assert!(!host("http://localhost.example.com") && !host("file:///tmp"));
    }
}
