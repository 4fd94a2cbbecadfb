//! Service configuration ([`Config`]) and enrollment links ([`EnrollmentUri`]), both validated
//! locally before any network call.

use std::fmt;

use tapprove_protocol::credentials::is_well_formed_sdk_key;

use crate::address::{self, AddressError, Origin};
use crate::error::CoreError;

pub use tapprove_protocol::credentials::{SDK_KEY_CHARS, SDK_KEY_PREFIX, is_loopback_host};

/// Where the Tapprove service is and which project this app belongs to.
///
/// The server URL must be `https://`, except for loopback hosts (`127.0.0.0/8`, `::1`,
/// `localhost`) where `http://` is allowed for development. It must be the service's origin
/// (no path, query, fragment or credentials). The SDK key (it ships inside apps and is not a
/// secret) must be `tap_sdk_` followed by 22 base64url characters.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// `server_url` serialized: what accounts store and calls start with.
    server_url: String,
    sdk_key: String,
    device_name: Option<String>,
}

impl Config {
    /// Validates and builds a configuration.
    pub fn new(server_url: &str, sdk_key: &str) -> Result<Self, CoreError> {
        check_sdk_key(sdk_key)?;
        let server_url = parse_server_url(server_url)?;
        Ok(Self {
            server_url: server_url.to_string(),
            sdk_key: sdk_key.to_owned(),
            device_name: None,
        })
    }

    /// Sets a name for this device, sent at pairing and shown to the service's operators.
    pub fn with_device_name(mut self, name: &str) -> Self {
        let name = name.trim();
        self.device_name = if name.is_empty() {
            None
        } else {
            Some(name.chars().take(100).collect())
        };
        self
    }

    /// The service origin, without a trailing slash (e.g. `https://auth.example.com`).
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The SDK key.
    pub fn sdk_key(&self) -> &str {
        &self.sdk_key
    }

    /// The device name sent at pairing, if set.
    pub fn device_name(&self) -> Option<&str> {
        self.device_name.as_deref()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("server_url", &self.server_url())
            .field("sdk_key", &self.sdk_key)
            .field("device_name", &self.device_name)
            .finish()
    }
}

/// Checks the SDK key format: `tap_sdk_` + 22 base64url characters.
pub fn check_sdk_key(sdk_key: &str) -> Result<(), CoreError> {
    if is_well_formed_sdk_key(sdk_key) {
        Ok(())
    } else {
        Err(CoreError::InvalidSdkKey)
    }
}

fn parse_server_url(raw: &str) -> Result<Origin, CoreError> {
    let raw = raw.trim();
    // An origin never needs percent-encoding, and host names are ASCII only (docs/BINDINGS.md:
    // no IDNA): write a Unicode name in its punycode (xn--) form.
    if !raw.is_ascii() || raw.contains('%') {
        return Err(CoreError::config(format!(
            "the server URL {raw:?} may contain only ASCII letters, digits and `.-:/[]`; write a \
             Unicode host name in its punycode (xn--) form"
        )));
    }
    let url = address::parse(raw).map_err(|e| match e {
        AddressError::Scheme(other) => CoreError::config(format!(
            "the server URL {raw:?} has scheme {other:?}; use https://"
        )),
        AddressError::NoHost => CoreError::config(format!("the server URL {raw:?} has no host")),
        AddressError::UserInfo => {
            CoreError::config("the server URL must not contain a user name or password")
        }
        AddressError::Target => address_only(raw),
        e => CoreError::config(format!(
            "the server URL {raw:?} is not a URL Tapprove accepts ({e}); use e.g. https://auth.example.com"
        )),
    })?;
    if url.path != "/" || url.query.is_some() {
        return Err(address_only(raw));
    }
    if !url.origin.tls && !is_loopback_host(&url.origin.host.to_string()) {
        return Err(CoreError::config(format!(
            "the server URL {raw:?} must use https:// (http:// is only allowed for localhost)"
        )));
    }
    Ok(url.origin)
}

fn address_only(raw: &str) -> CoreError {
    CoreError::config(format!(
        "the server URL {raw:?} must be the service's address only, like https://auth.example.com (no path, query or fragment)"
    ))
}

/// A parsed enrollment link, as encoded in the pairing QR code:
/// `tapprove://pair?server=<url>&sdk_key=<key>&user=<name>&code=<pairing code>` (values
/// percent-encoded, all four required).
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentUri {
    /// The service and project.
    pub config: Config,
    /// The user name at the relying party.
    pub user: String,
    /// The one-time pairing code (secret: never logged, redacted in `Debug`).
    pub code: String,
}

/// Scheme of enrollment links.
pub const ENROLLMENT_SCHEME: &str = "tapprove";

impl EnrollmentUri {
    /// Parses an enrollment link.
    pub fn parse(uri: &str) -> Result<Self, CoreError> {
        let uri = uri.trim();
        let prefix = format!("{ENROLLMENT_SCHEME}://pair");
        let start = || CoreError::uri(format!("it must start with {prefix}"));
        let rest = uri
            .get(..prefix.len())
            .filter(|p| p.eq_ignore_ascii_case(&prefix))
            .map(|_| &uri[prefix.len()..])
            .ok_or_else(start)?;
        if !uri.is_ascii() {
            return Err(CoreError::uri(
                "it contains characters that are not ASCII (a pairing link's values are percent-encoded)",
            ));
        }
        // `pair`, an optional `/`, the query; a fragment is ignored.
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let query = match rest.strip_prefix('?') {
            Some(query) => query,
            None if rest.is_empty() => "",
            None => return Err(start()),
        };
        let pairs = address::form_pairs(query)
            .map_err(|_| CoreError::uri("a parameter is not percent-encoded UTF-8"))?;
        let (mut server, mut sdk_key, mut user, mut code) = (None, None, None, None);
        for (k, v) in pairs {
            let slot = match k.as_str() {
                "server" => &mut server,
                "sdk_key" => &mut sdk_key,
                "user" => &mut user,
                "code" => &mut code,
                _ => continue, // forward compatible: ignore unknown parameters
            };
            if slot.is_some() {
                return Err(CoreError::uri(format!("parameter {k:?} appears twice")));
            }
            *slot = Some(v);
        }
        let required = |v: Option<String>, name: &str| -> Result<String, CoreError> {
            match v {
                Some(v) if !v.trim().is_empty() => Ok(v),
                _ => Err(CoreError::uri(format!("parameter {name:?} is missing"))),
            }
        };
        let server = required(server, "server")?;
        let sdk_key = required(sdk_key, "sdk_key")?;
        let user = required(user, "user")?;
        let code = required(code, "code")?;
        let config = Config::new(&server, &sdk_key)?;
        Ok(Self { config, user, code })
    }

    /// The link for these values (the inverse of [`EnrollmentUri::parse`]).
    pub fn to_uri(&self) -> String {
        let mut query = String::new();
        address::form_append(&mut query, "server", self.config.server_url());
        address::form_append(&mut query, "sdk_key", self.config.sdk_key());
        address::form_append(&mut query, "user", &self.user);
        address::form_append(&mut query, "code", &self.code);
        format!("{ENROLLMENT_SCHEME}://pair?{query}")
    }
}

impl fmt::Debug for EnrollmentUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollmentUri")
            .field("config", &self.config)
            .field("user", &self.user)
            .field("code", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn accepts_https_and_loopback_http() {
        for ok in [
            "https://auth.example.com",
            "https://auth.example.com/",
            "https://auth.example.com:8443",
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:3000/",
            "http://LOCALHOST",
            "http://[::1]:8080",
        ] {
            let c = Config::new(ok, KEY).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(!c.server_url().ends_with('/'), "{}", c.server_url());
        }
    }

    #[test]
    fn refuses_bad_urls_with_a_reason() {
        for bad in [
            "http://auth.example.com",
            "http://10.0.0.1",
            "http://localhost.evil.com",
            "ftp://auth.example.com",
            "auth.example.com",
            "https://auth.example.com/tapprove",
            "https://auth.example.com/?x=1",
            "https://user:pw@auth.example.com",
            "",
        ] {
            match Config::new(bad, KEY) {
                Err(CoreError::InvalidConfig { message }) => assert!(!message.is_empty()),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_non_ascii_and_percent_encoded_hosts() {
        // Found by the enrollment_uri fuzz target: such hosts reached the IDNA code, whose
        // ASCII-only backend asserts on them (a panic in debug builds).
        for bad in [
            "http://hF%82F127.0.0.1:8080",
            "https://aB\u{e4}.example.com",
            "https://auth%2Eexample.com",
        ] {
            match Config::new(bad, KEY) {
                Err(CoreError::InvalidConfig { message }) => assert!(message.contains("ASCII")),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let link = "tapprove://pair?server=http%3AhF%82F127.0$1.1%3A8080&sdk_key=tap_sdk_AAAAAAAAAAAAAAAAAAAAAA&user=.A%20b&code=3KQ2-M9XD";
        // `%82` alone is not UTF-8: refused as the link's fault before the URL is looked at.
        match EnrollmentUri::parse(link) {
            Err(CoreError::InvalidEnrollmentUri { message }) => assert!(message.contains("UTF-8")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_other_schemes_and_non_ascii_links_before_parsing_them() {
        // Found by the enrollment_uri fuzz target: a `ws:` link with a Unicode host reached
        // the IDNA code through the URL parser (a panic in debug builds).
        for bad in [
            "\0\0\0\0\u{1}WS:'A\u{2006}r=h",
            "https://example.com/pair",
            "tapprove:pair",
            "tapprove://pair?server=https%3A%2F%2Fexample.com&user=\u{e4}",
        ] {
            match EnrollmentUri::parse(bad) {
                Err(CoreError::InvalidEnrollmentUri { message }) => {
                    assert!(
                        message.contains("tapprove://pair") || message.contains("ASCII"),
                        "{bad:?}: {message}"
                    )
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn sdk_key_format() {
        assert!(check_sdk_key(KEY).is_ok());
        assert!(check_sdk_key("tap_sdk_abcdefghij-_KLMNOPQRST").is_ok());
        for bad in [
            "",
            "tap_sdk_",
            "tap_sdk_AAAAAAAAAAAAAAAAAAAAA",
            "tap_sdk_AAAAAAAAAAAAAAAAAAAAAAA",
            "tap_api_AAAAAAAAAAAAAAAAAAAAAA",
            "tap_sdk_AAAAAAAAAAAAAAAAAAAAA=",
            "tap_sdk_AAAAAAAAAAAAAAAAAAAAA+",
        ] {
            assert!(
                matches!(
                    Config::new("https://a.example", bad),
                    Err(CoreError::InvalidSdkKey)
                ),
                "{bad}"
            );
        }
        // The key is checked before the URL.
        assert!(matches!(
            Config::new("http://remote.example", "nope"),
            Err(CoreError::InvalidSdkKey)
        ));
    }

    #[test]
    fn device_name() {
        let c = Config::new("https://a.example", KEY)
            .expect("config")
            .with_device_name("  Alice's phone ");
        assert_eq!(c.device_name(), Some("Alice's phone"));
        assert_eq!(c.clone().with_device_name(" ").device_name(), None);
    }

    #[test]
    fn parses_enrollment_uri() {
        let uri = format!(
            "tapprove://pair?server=http%3A%2F%2F127.0.0.1%3A8080&sdk_key={KEY}&user=alice%40example.com&code=7KQ2-M9XD"
        );
        let e = EnrollmentUri::parse(&uri).expect("parse");
        assert_eq!(e.config.server_url(), "http://127.0.0.1:8080");
        assert_eq!(e.config.sdk_key(), KEY);
        assert_eq!(e.user, "alice@example.com");
        assert_eq!(e.code, "7KQ2-M9XD");
        assert!(!format!("{e:?}").contains("7KQ2"));
        assert_eq!(EnrollmentUri::parse(&e.to_uri()).expect("round trip"), e);
        // '+' means space in query values.
        let e = EnrollmentUri::parse(&format!(
            "tapprove://pair?server=https://a.example&sdk_key={KEY}&user=Alice+B&code=x&extra=1"
        ))
        .expect("parse");
        assert_eq!(e.user, "Alice B");
    }

    #[test]
    fn enrollment_uri_errors_are_typed() {
        let full = format!("server=https://a.example&sdk_key={KEY}&user=alice&code=C");
        let cases = [
            ("not a uri".to_owned(), "tapprove://pair"),
            (format!("https://pair?{full}"), "tapprove://pair"),
            (format!("tapprove://other?{full}"), "tapprove://pair"),
            (
                format!("tapprove://pair?sdk_key={KEY}&user=alice&code=C"),
                "server",
            ),
            (
                "tapprove://pair?server=https://a.example&user=alice&code=C".to_owned(),
                "sdk_key",
            ),
            (
                format!("tapprove://pair?server=https://a.example&sdk_key={KEY}&code=C"),
                "user",
            ),
            (
                format!("tapprove://pair?server=https://a.example&sdk_key={KEY}&user=alice&code="),
                "code",
            ),
            (format!("tapprove://pair?{full}&user=bob"), "twice"),
        ];
        for (uri, needle) in cases {
            match EnrollmentUri::parse(&uri) {
                Err(CoreError::InvalidEnrollmentUri { message }) => {
                    assert!(message.contains(needle), "{uri}: {message}")
                }
                other => panic!("{uri}: {other:?}"),
            }
        }
        assert!(matches!(
            EnrollmentUri::parse(
                "tapprove://pair?server=https://a.example&sdk_key=bad&user=a&code=C"
            ),
            Err(CoreError::InvalidSdkKey)
        ));
        assert!(matches!(
            EnrollmentUri::parse(&format!(
                "tapprove://pair?server=http://remote.example&sdk_key={KEY}&user=a&code=C"
            )),
            Err(CoreError::InvalidConfig { .. })
        ));
    }
}
