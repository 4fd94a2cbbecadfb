//! Push configuration: serde structs the service embeds in its TOML file, checked at start.
//!
//! ```toml
//! [push.apns]
//! key_path = "/etc/tapprove/AuthKey_ABCDE12345.p8"
//! key_id = "ABCDE12345"
//! team_id = "TEAM123456"
//! topic = "com.example.bank"
//! environment = "production"      # default for devices that registered without one
//!
//! [push.fcm]
//! service_account_path = "/etc/tapprove/firebase-service-account.json"
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tapprove_protocol::api::PushEnvironment;
use thiserror::Error;
use url::Url;

use crate::{ApnsSender, FcmSender, Provider, PushSender, Router, http};

/// All push settings. Every part is optional: with no provider configured the service still
/// works, and devices poll or listen on the event stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    /// Apple Push Notification service (iOS devices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apns: Option<ApnsConfig>,
    /// Firebase Cloud Messaging HTTP v1 (Android devices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fcm: Option<FcmConfig>,
    /// A PEM file of CA certificates to trust **instead of** the built-in Mozilla roots, for
    /// provider connections only (a TLS-inspecting egress proxy, or loopback test endpoints).
    /// Production needs none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Retry and timeout policy.
    #[serde(default)]
    pub retry: RetryConfig,
}

/// APNs token-based authentication (a `.p8` signing key from Apple Developer → Keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsConfig {
    /// Path of the `AuthKey_<KEYID>.p8` file (PKCS#8 PEM, P-256).
    pub key_path: PathBuf,
    /// The 10-character Key ID of that key.
    pub key_id: String,
    /// The 10-character Team ID of the Apple developer account.
    pub team_id: String,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    /// Environment for devices that registered without one (`production` when unset). A device's
    /// own environment always wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<PushEnvironment>,
    /// Send every APNs request to this base URL (`https://host:port`) instead of Apple's host for
    /// the token's environment. For tests and proxies; `http://` only for loopback (h2c).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Mint a new provider token after this many seconds (Apple: not more often than every
    /// 20 minutes, and a token older than 60 minutes is refused). 1200–3300, default 3000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_refresh_secs: Option<u64>,
}

/// FCM HTTP v1 with a Google service account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmConfig {
    /// Path of the service-account JSON key (Firebase console → Project settings → Service
    /// accounts → Generate new private key).
    pub service_account_path: PathBuf,
    /// Base URL instead of `https://fcm.googleapis.com` (tests and proxies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// OAuth2 token endpoint instead of the key file's `token_uri` (tests and proxies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_uri: Option<String>,
}

/// How hard to try one push. A login push lives minutes: a few quick retries within the
/// session's expiry, then the session is reported `delivery_failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts for transient failures (429, 5xx, transport), the first included. 1–10, default 4.
    pub max_attempts: u32,
    /// First backoff, doubled per retry (with jitter). Default 250 ms.
    pub initial_backoff_ms: u64,
    /// Largest backoff. Default 4000 ms.
    pub max_backoff_ms: u64,
    /// Timeout of one HTTP exchange (never beyond the session expiry). Default 10000 ms.
    pub request_timeout_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff_ms: 250,
            max_backoff_ms: 4000,
            request_timeout_ms: 10_000,
        }
    }
}

/// A push setting that cannot work. Reported at start, each with what to change.
#[derive(Debug, Error)]
pub enum PushConfigError {
    /// A file the configuration names cannot be read.
    #[error("cannot read the {what} at {path}: {source}; check `{field}`")]
    ReadFile {
        /// What the file is, e.g. "APNs key".
        what: &'static str,
        /// The configuration field naming it.
        field: &'static str,
        /// The path as configured.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The `.p8` file is not a P-256 PKCS#8 key.
    #[error(
        "the APNs key {path} is not usable: {detail}. Use the AuthKey_<KEYID>.p8 file downloaded \
         from Apple Developer → Certificates, Identifiers & Profiles → Keys, unmodified"
    )]
    BadApnsKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The service-account JSON is not usable.
    #[error(
        "the FCM service-account file {path} is not usable: {detail}. Download a key from the \
         Firebase console → Project settings → Service accounts → Generate new private key"
    )]
    BadServiceAccount {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A plain setting has a value that cannot work.
    #[error("`{field}` {problem}")]
    Invalid {
        /// The field, e.g. `push.apns.key_id`.
        field: &'static str,
        /// What is wrong and what is expected.
        problem: String,
    },
    /// A URL setting is unusable.
    #[error("`{field}` = {value:?} is not usable: {problem}")]
    BadUrl {
        /// The field, e.g. `push.fcm.token_uri`.
        field: &'static str,
        /// The value as configured (URLs here hold no secrets).
        value: String,
        /// What is wrong.
        problem: String,
    },
    /// The CA file is unusable.
    #[error("the CA file {path} (`push.ca_file`) is not usable: {detail}")]
    BadCaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The HTTP client could not be created.
    #[error("could not create the push HTTP client: {0}")]
    Client(String),
}

/// How a setting's environment variable is read: the file's value already has its TOML type,
/// a variable is text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvKind {
    /// Taken as it is (names, paths, addresses, URLs).
    Text,
    /// Taken as it is, and never repeated in an error message.
    Secret,
    /// Taken as it is; empty unsets an optional setting.
    OptionalText,
    /// A number (whole or with a fraction, e.g. seconds).
    Number,
    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
    Switch,
    /// A comma-separated list.
    List,
}

/// A setting's environment variable: `var` sets the file's `key` (a dotted path such as
/// `push.apns.key_id`); `expected` says what a valid value looks like, for the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    /// The variable, `TAPPROVE_…`.
    pub var: &'static str,
    /// The setting's path in the configuration file.
    pub key: &'static str,
    /// How its text is read.
    pub kind: EnvKind,
    /// What a valid value looks like (`a whole number of milliseconds`).
    pub expected: &'static str,
}

const fn env(
    var: &'static str,
    key: &'static str,
    kind: EnvKind,
    expected: &'static str,
) -> EnvVar {
    EnvVar {
        var,
        key,
        kind,
        expected,
    }
}

impl PushConfig {
    /// The environment variables of the `[push.*]` settings: push owns its keys and their
    /// names; the service layers them over its file (`ServiceConfig::load`). A provider left
    /// half set up, file and environment together, is refused naming the missing variable.
    pub const ENV: &'static [EnvVar] = &[
        env(
            "TAPPROVE_APNS_KEY_PATH",
            "push.apns.key_path",
            EnvKind::Text,
            "a path",
        ),
        env(
            "TAPPROVE_APNS_KEY_ID",
            "push.apns.key_id",
            EnvKind::Text,
            "a key id",
        ),
        env(
            "TAPPROVE_APNS_TEAM_ID",
            "push.apns.team_id",
            EnvKind::Text,
            "a team id",
        ),
        env(
            "TAPPROVE_APNS_TOPIC",
            "push.apns.topic",
            EnvKind::Text,
            "a bundle id",
        ),
        env(
            "TAPPROVE_APNS_ENVIRONMENT",
            "push.apns.environment",
            EnvKind::Text,
            "production or sandbox",
        ),
        env(
            "TAPPROVE_APNS_HOST",
            "push.apns.host",
            EnvKind::Text,
            "a URL",
        ),
        env(
            "TAPPROVE_APNS_TOKEN_REFRESH_SECS",
            "push.apns.token_refresh_secs",
            EnvKind::Number,
            "a whole number of seconds",
        ),
        env(
            "TAPPROVE_FCM_SERVICE_ACCOUNT_PATH",
            "push.fcm.service_account_path",
            EnvKind::Text,
            "a path",
        ),
        env("TAPPROVE_FCM_HOST", "push.fcm.host", EnvKind::Text, "a URL"),
        env(
            "TAPPROVE_FCM_TOKEN_URI",
            "push.fcm.token_uri",
            EnvKind::Text,
            "a URL",
        ),
        env(
            "TAPPROVE_PUSH_CA_FILE",
            "push.ca_file",
            EnvKind::Text,
            "a path",
        ),
        env(
            "TAPPROVE_PUSH_MAX_ATTEMPTS",
            "push.retry.max_attempts",
            EnvKind::Number,
            "a whole number",
        ),
        env(
            "TAPPROVE_PUSH_INITIAL_BACKOFF_MS",
            "push.retry.initial_backoff_ms",
            EnvKind::Number,
            "a whole number of milliseconds",
        ),
        env(
            "TAPPROVE_PUSH_MAX_BACKOFF_MS",
            "push.retry.max_backoff_ms",
            EnvKind::Number,
            "a whole number of milliseconds",
        ),
        env(
            "TAPPROVE_PUSH_REQUEST_TIMEOUT_MS",
            "push.retry.request_timeout_ms",
            EnvKind::Number,
            "a whole number of milliseconds",
        ),
    ];

    /// Checks every setting and loads every key, exactly as [`PushConfig::build`] does, without
    /// keeping anything. Call at start so a bad setting stops the service with a clear message.
    pub fn validate(&self) -> Result<(), PushConfigError> {
        self.build_router().map(drop)
    }

    /// Builds the sender the service uses: a [`Router`] holding the configured providers
    /// (platforms without one answer [`crate::PushOutcome::NotConfigured`]).
    pub fn build(&self) -> Result<Arc<dyn PushSender>, PushConfigError> {
        Ok(Arc::new(self.build_router()?))
    }

    /// Like [`PushConfig::build`], keeping the concrete [`Router`] type.
    pub fn build_router(&self) -> Result<Router, PushConfigError> {
        self.retry.check()?;
        let roots = || http::roots(self.ca_file.as_deref());
        Router::default()
            .register::<ApnsSender>(self.apns.as_ref(), roots, self.retry)?
            .register::<FcmSender>(self.fcm.as_ref(), roots, self.retry)
    }

    /// The APNs sender alone, if configured.
    pub fn apns_sender(&self) -> Result<Option<ApnsSender>, PushConfigError> {
        let Some(apns) = &self.apns else {
            return Ok(None);
        };
        self.retry.check()?;
        let roots = http::roots(self.ca_file.as_deref())?;
        <ApnsSender as Provider>::from_config(apns, roots, self.retry).map(Some)
    }

    /// The FCM sender alone, if configured.
    pub fn fcm_sender(&self) -> Result<Option<FcmSender>, PushConfigError> {
        let Some(fcm) = &self.fcm else {
            return Ok(None);
        };
        self.retry.check()?;
        let roots = http::roots(self.ca_file.as_deref())?;
        <FcmSender as Provider>::from_config(fcm, roots, self.retry).map(Some)
    }
}

impl RetryConfig {
    fn check(&self) -> Result<(), PushConfigError> {
        let invalid = |field, problem: &str| {
            Err(PushConfigError::Invalid {
                field,
                problem: problem.into(),
            })
        };
        if !(1..=10).contains(&self.max_attempts) {
            return invalid("push.retry.max_attempts", "must be between 1 and 10");
        }
        if self.initial_backoff_ms == 0 || self.max_backoff_ms < self.initial_backoff_ms {
            return invalid(
                "push.retry.initial_backoff_ms",
                "must be at least 1 and not above push.retry.max_backoff_ms",
            );
        }
        if !(100..=60_000).contains(&self.request_timeout_ms) {
            return invalid(
                "push.retry.request_timeout_ms",
                "must be between 100 and 60000",
            );
        }
        Ok(())
    }
}

impl ApnsConfig {
    /// The environment for tokens registered without one.
    pub fn default_environment(&self) -> PushEnvironment {
        self.environment.unwrap_or(PushEnvironment::Production)
    }
}

/// Reads a file named by the configuration, with an error naming the field.
pub(crate) fn read_file(
    what: &'static str,
    field: &'static str,
    path: &Path,
) -> Result<secrecy::SecretSlice<u8>, PushConfigError> {
    std::fs::read(path)
        .map(secrecy::SecretSlice::from)
        .map_err(|source| PushConfigError::ReadFile {
            what,
            field,
            path: path.to_owned(),
            source,
        })
}

/// A 10-character Apple identifier (Key ID, Team ID): ASCII letters and digits.
pub(crate) fn check_apple_id(
    field: &'static str,
    value: &str,
    what: &str,
) -> Result<(), PushConfigError> {
    if value.len() != 10 || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(PushConfigError::Invalid {
            field,
            problem: format!(
                "must be the 10-character {what} (letters and digits) shown in Apple Developer; got {} characters{}",
                value.chars().count(),
                if value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    ""
                } else {
                    " including other symbols"
                }
            ),
        });
    }
    Ok(())
}

/// A provider URL: `https://`, or `http://` for loopback hosts only. `base` URLs take no path.
pub(crate) fn parse_url(
    field: &'static str,
    value: &str,
    base: bool,
) -> Result<Url, PushConfigError> {
    let bad = |problem: &str| PushConfigError::BadUrl {
        field,
        value: value.to_owned(),
        problem: problem.into(),
    };
    let url = Url::parse(value).map_err(|e| bad(&format!("{e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(bad("it has no host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(bad(
                "use https:// (plain http:// is accepted for loopback hosts only)",
            ));
        }
        _ => return Err(bad("use an https:// URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials do not belong in the URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("remove the query or fragment"));
    }
    if base && url.path() != "/" {
        return Err(bad(
            "give only scheme, host and port (e.g. https://127.0.0.1:8443)",
        ));
    }
    Ok(url)
}

/// A base URL as a string without the trailing slash, ready for `format!("{base}/path")`.
pub(crate) fn base_string(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_except_loopback() {
        assert!(parse_url("f", "https://api.push.apple.com", true).is_ok());
        assert!(parse_url("f", "http://127.0.0.1:9000", true).is_ok());
        assert!(parse_url("f", "http://[::1]:9000/", true).is_ok());
        assert!(parse_url("f", "http://localhost:9000", true).is_ok());
        let err = parse_url("push.apns.host", "http://example.com", true).expect_err("plain http");
        assert!(
            err.to_string().contains("push.apns.host") && err.to_string().contains("https"),
            "{err}"
        );
        assert!(parse_url("f", "https://h/x", true).is_err());
        assert!(parse_url("f", "https://h/token", false).is_ok());
        assert!(parse_url("f", "https://u:p@h/", true).is_err());
        assert!(parse_url("f", "ftp://h/", true).is_err());
        assert!(parse_url("f", "not a url", true).is_err());
        assert_eq!(
            base_string(&parse_url("f", "https://h:1/", true).expect("ok")),
            "https://h:1"
        );
    }

    #[test]
    fn apple_ids_are_ten_alphanumerics() {
        assert!(check_apple_id("push.apns.key_id", "ABCDE12345", "Key ID").is_ok());
        let err = check_apple_id("push.apns.key_id", "ABC", "Key ID").expect_err("short");
        assert!(err.to_string().contains("got 3 characters"), "{err}");
        assert!(check_apple_id("push.apns.team_id", "ABCDE-1234", "Team ID").is_err());
    }

    #[test]
    fn retry_policy_is_checked() {
        assert!(RetryConfig::default().check().is_ok());
        assert!(
            RetryConfig {
                max_attempts: 0,
                ..Default::default()
            }
            .check()
            .is_err()
        );
        assert!(
            RetryConfig {
                initial_backoff_ms: 5000,
                ..Default::default()
            }
            .check()
            .is_err()
        );
        assert!(
            RetryConfig {
                request_timeout_ms: 10,
                ..Default::default()
            }
            .check()
            .is_err()
        );
    }
}
