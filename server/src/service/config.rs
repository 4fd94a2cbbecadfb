//! Service configuration: defaults, an optional TOML file, then `TAPPROVE_*` environment
//! variables (the CLI applies its flags on top).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::Serialized;
use figment::value::{Dict, Empty, Tag, Value};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tapprove_push::EnvKind::{self, List, Number, OptionalText, Secret, Switch, Text};
use tapprove_push::EnvVar;

pub use crate::crypto::SealKey;
use crate::error::ServiceError;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default database: an SQLite file in the working directory, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tapprove.db?mode=rwc";

/// Push provider configuration (`[push.apns]`, `[push.fcm]` in TOML): the push crate's
/// [`tapprove_push::PushConfig`]. Empty by default: devices then poll or listen on the event
/// stream.
pub use tapprove_push::PushConfig;

/// Abuse limits. All counts are per window; defaults follow NIST SP 800-63B / OWASP ASVS advice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Push sessions per (project, user) per minute since the user's last approved login.
    pub sessions_per_minute: u32,
    /// Push sessions per (project, user) per hour since the user's last approved login.
    pub sessions_per_hour: u32,
    /// Pairing attempts per (project, client address) per minute; an IPv6 client is counted by
    /// its /64 (see `trusted_proxies` for the address behind a proxy).
    pub pairings_per_minute_per_ip: u32,
    /// Pairing attempts per (project, client address, user name) per hour: bounds one address's
    /// guesses at a user's pairing code without giving strangers a budget to spend for the
    /// user (a per-user bucket let anyone who knows the name block the owner's pairing for an
    /// hour). There is deliberately no per-user or project-wide bucket for the same reason.
    pub pairings_per_hour_per_user: u32,
    /// How long a "not me" answer locks pushes to that user, seconds (the site may lift it
    /// earlier with `DELETE /v1/users/{user}/lock`).
    pub fraud_lock_seconds: u32,
    /// Consecutive rejections or expiries that start a cooldown (0 = never).
    pub failures_before_cooldown: u32,
    /// The first cooldown, seconds; each further one before an approved login doubles.
    pub cooldown_seconds: u32,
    /// The longest cooldown, seconds.
    pub max_cooldown_seconds: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            sessions_per_minute: 3,
            sessions_per_hour: 10,
            pairings_per_minute_per_ip: 10,
            pairings_per_hour_per_user: 10,
            fraud_lock_seconds: 3600,
            failures_before_cooldown: 3,
            cooldown_seconds: 60,
            max_cooldown_seconds: 3600,
        }
    }
}

/// Everything the service needs to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// Address to listen on; port 0 picks a free port (see `RunningService::local_addr`).
    pub listen: SocketAddr,
    /// Proxies (addresses or CIDR blocks, e.g. `10.0.0.0/8`) whose `X-Forwarded-For` is
    /// believed: behind them the client is the nearest untrusted hop (`client_ip`). Empty by
    /// default: the TCP peer is the client. Env `TAPPROVE_TRUSTED_PROXIES` (comma-separated).
    #[serde(deserialize_with = "proxies")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where `GET /metrics` (Prometheus / OpenMetrics text) is served, on a listener of its
    /// own so it is never exposed with the public API; `None` serves no metrics. Env
    /// `TAPPROVE_METRICS_LISTEN`.
    pub metrics_listen: Option<SocketAddr>,
    /// sqlx database URL, e.g. `sqlite://tapprove.db?mode=rwc` (`mode=rwc` creates the file).
    pub database_url: String,
    /// Key sealing secrets at rest. Required to start; env `TAPPROVE_SEAL_KEY`. Never
    /// serialised.
    #[serde(skip_serializing)]
    pub seal_key: Option<SealKey>,
    /// Lowest SDK version accepted on the device API (`X-Tapprove-SDK: <platform>/<version>`);
    /// older ones get `426 update_required`. `None` accepts every version.
    pub min_sdk_version: Option<String>,
    /// How long to wait for the relying party's trust webhook, in seconds (fractions allowed).
    #[serde(with = "seconds")]
    pub webhook_timeout: Duration,
    /// Allow plain `http://` trust URLs when the host is loopback (for local demos and tests).
    pub allow_insecure_webhooks_on_loopback: bool,
    /// How often expired sessions are swept (status `expired`, event `decided`), in seconds.
    #[serde(with = "seconds")]
    pub sweep_interval: Duration,
    /// Interval of `: keep-alive` comments on the device event stream, in seconds.
    #[serde(with = "seconds")]
    pub event_keep_alive: Duration,
    /// Time a client has to send a request's headers (also the longest idle keep-alive), in
    /// seconds.
    #[serde(with = "seconds")]
    pub header_read_timeout: Duration,
    /// Longest time to answer a request, in seconds (above the 30 s long-poll).
    #[serde(with = "seconds")]
    pub request_timeout: Duration,
    /// Open connections at most (keep it below the process's descriptor limit).
    pub max_connections: usize,
    /// Open event streams per device, across all instances.
    pub max_event_streams_per_account: u32,
    /// Days a decided session (with its context: IP, user agent) is kept.
    pub retention_days: u32,
    /// Days an audit-log row is kept (env `TAPPROVE_AUDIT_RETENTION_DAYS`).
    pub audit_retention_days: u32,
    /// Abuse limits.
    pub limits: LimitsConfig,
    /// Push providers.
    pub push: PushConfig,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            trusted_proxies: Vec::new(),
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            seal_key: None,
            min_sdk_version: None,
            webhook_timeout: Duration::from_secs(10),
            allow_insecure_webhooks_on_loopback: true,
            sweep_interval: Duration::from_secs(1),
            event_keep_alive: Duration::from_secs(15),
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_event_streams_per_account: 4,
            retention_days: 30,
            audit_retention_days: 365,
            limits: LimitsConfig::default(),
            push: PushConfig::default(),
        }
    }
}

/// The service's own environment variables: `TAPPROVE_` + the setting's path in capitals.
/// Push's (`[push.*]`) are [`PushConfig::ENV`]; a new setting adds its row here or there.
const ENV: &[EnvVar] = &[
    env(
        "TAPPROVE_LISTEN",
        "listen",
        Text,
        "an address like 127.0.0.1:8080",
    ),
    env(
        "TAPPROVE_TRUSTED_PROXIES",
        "trusted_proxies",
        List,
        "a comma-separated list of addresses or CIDR blocks like 10.0.0.0/8",
    ),
    env(
        "TAPPROVE_METRICS_LISTEN",
        "metrics_listen",
        Text,
        "an address like 127.0.0.1:9090",
    ),
    env(
        "TAPPROVE_DATABASE_URL",
        "database_url",
        Text,
        "a database URL",
    ),
    env(
        "TAPPROVE_SEAL_KEY",
        "seal_key",
        Secret,
        "32 bytes in base64",
    ),
    env(
        "TAPPROVE_MIN_SDK_VERSION",
        "min_sdk_version",
        OptionalText,
        "a version like 0.2.0",
    ),
    env(
        "TAPPROVE_WEBHOOK_TIMEOUT",
        "webhook_timeout",
        Number,
        "a positive number of seconds",
    ),
    env(
        "TAPPROVE_ALLOW_INSECURE_WEBHOOKS_ON_LOOPBACK",
        "allow_insecure_webhooks_on_loopback",
        Switch,
        "true or false",
    ),
    env(
        "TAPPROVE_SWEEP_INTERVAL",
        "sweep_interval",
        Number,
        "a positive number of seconds",
    ),
    env(
        "TAPPROVE_EVENT_KEEP_ALIVE",
        "event_keep_alive",
        Number,
        "a positive number of seconds",
    ),
    env(
        "TAPPROVE_HEADER_READ_TIMEOUT",
        "header_read_timeout",
        Number,
        "a positive number of seconds",
    ),
    env(
        "TAPPROVE_REQUEST_TIMEOUT",
        "request_timeout",
        Number,
        "a positive number of seconds",
    ),
    env(
        "TAPPROVE_MAX_CONNECTIONS",
        "max_connections",
        Number,
        "a whole number",
    ),
    env(
        "TAPPROVE_MAX_EVENT_STREAMS_PER_ACCOUNT",
        "max_event_streams_per_account",
        Number,
        "a whole number",
    ),
    env(
        "TAPPROVE_RETENTION_DAYS",
        "retention_days",
        Number,
        "a whole number",
    ),
    env(
        "TAPPROVE_AUDIT_RETENTION_DAYS",
        "audit_retention_days",
        Number,
        "a whole number",
    ),
    env(
        "TAPPROVE_LIMITS_SESSIONS_PER_MINUTE",
        "limits.sessions_per_minute",
        Number,
        "a whole number",
    ),
    env(
        "TAPPROVE_LIMITS_SESSIONS_PER_HOUR",
        "limits.sessions_per_hour",
        Number,
        "a whole number",
    ),
    env(
        "TAPPROVE_LIMITS_PAIRINGS_PER_MINUTE_PER_IP",
        "limits.pairings_per_minute_per_ip",
        Number,
        "a whole number",
    ),
    env(
        "TAPPROVE_LIMITS_PAIRINGS_PER_HOUR_PER_USER",
        "limits.pairings_per_hour_per_user",
        Number,
        "a whole number",
    ),
    env(
        "TAPPROVE_LIMITS_FRAUD_LOCK_SECONDS",
        "limits.fraud_lock_seconds",
        Number,
        "a whole number",
    ),
    env(
        "TAPPROVE_LIMITS_FAILURES_BEFORE_COOLDOWN",
        "limits.failures_before_cooldown",
        Number,
        "a whole number",
    ),
    env(
        "TAPPROVE_LIMITS_COOLDOWN_SECONDS",
        "limits.cooldown_seconds",
        Number,
        "a whole number",
    ),
    env(
        "TAPPROVE_LIMITS_MAX_COOLDOWN_SECONDS",
        "limits.max_cooldown_seconds",
        Number,
        "a whole number",
    ),
];

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

/// Every environment variable the service reads for its settings, its own then push's.
fn env_vars() -> impl Iterator<Item = &'static EnvVar> {
    ENV.iter().chain(PushConfig::ENV)
}

/// What a layer set, by the setting's path: for errors that name where a value came from.
#[derive(Default)]
struct Sources {
    /// From the environment: the variable and its text.
    env: Vec<(&'static EnvVar, String)>,
    /// Where the file layer came from, for errors (`config file …`); `None`: no file.
    file: Option<String>,
}

impl ServiceConfig {
    /// Every environment variable of a setting, the service's own then push's.
    pub fn env_vars() -> impl Iterator<Item = &'static EnvVar> {
        env_vars()
    }

    /// Defaults, then the TOML `file` if given, then the environment: each setting has one
    /// variable, `TAPPROVE_` + its path in capitals (`TAPPROVE_LISTEN`,
    /// `TAPPROVE_LIMITS_SESSIONS_PER_MINUTE`, …; push's in [`PushConfig::ENV`], e.g.
    /// `TAPPROVE_APNS_KEY_ID`); the list is [`ServiceConfig::env_vars`] and docs/SERVICE.md's settings table.
    pub fn load(file: Option<&Path>) -> Result<Self, ServiceError> {
        Self::load_with(file, |name| std::env::var(name).ok())
    }

    /// [`ServiceConfig::load`] with the environment read through `get` (testable without
    /// touching the process environment).
    pub fn load_with(
        file: Option<&Path>,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ServiceError> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        let mut sources = Sources::default();
        if let Some(path) = file {
            figment = figment.merge(file_layer(path)?);
            sources.file = Some(format!("config file {}", path.display()));
        }
        let (layer, set) = env_layer(&get)?;
        sources.env = set;
        extract(figment.merge(layer), &sources)
    }

    /// Reads a TOML file (every key optional) over the defaults.
    pub fn from_toml_file(path: &Path) -> Result<Self, ServiceError> {
        let sources = Sources {
            file: Some(format!("config file {}", path.display())),
            ..Sources::default()
        };
        extract(
            Figment::from(Serialized::defaults(Self::default())).merge(file_layer(path)?),
            &sources,
        )
    }

    /// Parses TOML text (every key optional) over the defaults.
    pub fn from_toml_str(text: &str) -> Result<Self, ServiceError> {
        let sources = Sources {
            file: Some("TOML".into()),
            ..Sources::default()
        };
        extract(
            Figment::from(Serialized::defaults(Self::default())).merge(toml_layer(text)?),
            &sources,
        )
    }

    /// Applies `TAPPROVE_*` variables read through `get` over this configuration.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ServiceError> {
        let (layer, set) = env_layer(&get)?;
        let sources = Sources {
            env: set,
            file: None,
        };
        let mut applied: Self = extract(
            Figment::from(Serialized::defaults(&*self)).merge(layer),
            &sources,
        )?;
        // The seal key is never serialised, so it does not travel through the layers.
        if applied.seal_key.is_none() {
            applied.seal_key = self.seal_key.take();
        }
        *self = applied;
        Ok(())
    }

    /// Checks what can be checked before touching the network or the database.
    pub fn validate(&self) -> Result<(), ServiceError> {
        if self.seal_key.is_none() {
            return Err(ServiceError::MissingSealKey);
        }
        if let Some(v) = &self.min_sdk_version
            && crate::http::sdk::parse_version(v).is_none()
        {
            return Err(ServiceError::Config(format!(
                "min_sdk_version {v:?} is not a version like 0.2.0"
            )));
        }
        if self.webhook_timeout.is_zero() {
            return Err(ServiceError::Config(
                "webhook_timeout must be more than 0 s".into(),
            ));
        }
        if self.sweep_interval.is_zero() || self.event_keep_alive.is_zero() {
            return Err(ServiceError::Config(
                "sweep_interval and event_keep_alive must be more than 0 s".into(),
            ));
        }
        if self.header_read_timeout.is_zero() || self.request_timeout <= Duration::from_secs(30) {
            return Err(ServiceError::Config(
                "header_read_timeout must be more than 0 s and request_timeout more than 30 s \
                 (the longest long-poll)"
                    .into(),
            ));
        }
        if self.max_connections == 0 || self.max_event_streams_per_account == 0 {
            return Err(ServiceError::Config(
                "max_connections and max_event_streams_per_account must be at least 1".into(),
            ));
        }
        if self.retention_days == 0 {
            return Err(ServiceError::Config(
                "retention_days must be at least 1".into(),
            ));
        }
        if self.audit_retention_days == 0 {
            return Err(ServiceError::Config(
                "audit_retention_days must be at least 1 (TAPPROVE_AUDIT_RETENTION_DAYS)".into(),
            ));
        }
        Ok(())
    }
}

/// The TOML file as a layer; a missing or unreadable file is an error (not an empty layer).
fn file_layer(path: &Path) -> Result<Serialized<toml::Table>, ServiceError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ServiceError::Config(format!(
            "cannot read config file {}: {e}; check the path and its permissions",
            path.display()
        ))
    })?;
    toml_layer(&text).map_err(|e| match e {
        ServiceError::Config(msg) => {
            ServiceError::Config(format!("config file {}: {msg}", path.display()))
        }
        other => other,
    })
}

fn toml_layer(text: &str) -> Result<Serialized<toml::Table>, ServiceError> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| ServiceError::Config(format!("invalid TOML: {e}")))?;
    Ok(Serialized::defaults(table))
}

/// The variables that are set, as a layer keyed like the file, and what each set.
fn env_layer(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<(Serialized<Dict>, Vec<(&'static EnvVar, String)>), ServiceError> {
    let mut root = Dict::new();
    let mut set = Vec::new();
    for var in env_vars() {
        let Some(text) = get(var.var) else { continue };
        let value = env_value(var, &text)?;
        let mut path: Vec<&str> = var.key.split('.').collect();
        let leaf = path.pop().unwrap_or_default();
        let mut dict = &mut root;
        for part in path {
            let entry = dict
                .entry(part.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            dict = match entry {
                Value::Dict(_, d) => d,
                // Only this function builds the tree, and keys are settings, never values.
                _ => unreachable!("a setting's path runs through tables only"),
            };
        }
        dict.insert(leaf.to_owned(), value);
        set.push((var, text));
    }
    Ok((Serialized::defaults(root), set))
}

/// One variable's text as the value its setting takes in the file.
fn env_value(var: &EnvVar, text: &str) -> Result<Value, ServiceError> {
    let wrong = || ServiceError::Config(format!("{}={text:?} is not {}", var.var, var.expected));
    Ok(match var.kind {
        Text | Secret => Value::from(text.to_owned()),
        OptionalText if text.is_empty() => Value::Empty(Tag::Default, Empty::None),
        OptionalText => Value::from(text.to_owned()),
        Number => match text.parse::<u64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::from(text.parse::<f64>().map_err(|_| wrong())?),
        },
        Switch => Value::from(match text.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => return Err(wrong()),
        }),
        List => Value::from(
            text.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| Value::from(t.to_owned()))
                .collect::<Vec<_>>(),
        ),
    })
}

/// The layered settings as a [`ServiceConfig`]; an error names the variable or the file key
/// that holds the bad value, and for a missing one both ways to set it.
fn extract(figment: Figment, sources: &Sources) -> Result<ServiceConfig, ServiceError> {
    figment.extract().map_err(|errors| {
        let messages: Vec<String> = errors.into_iter().map(|e| explain(&e, sources)).collect();
        ServiceError::Config(messages.join("; "))
    })
}

fn explain(e: &figment::Error, sources: &Sources) -> String {
    use figment::error::Kind;
    let key = e.path.join(".");
    if let Kind::MissingField(field) = &e.kind {
        let key = if key.is_empty() {
            field.to_string()
        } else {
            format!("{key}.{field}")
        };
        let var = env_vars().find(|v| v.key == key);
        let section = key.rsplit_once('.').map_or("", |(s, _)| s);
        return match var {
            Some(var) => format!(
                "`{key}` is missing: set {} (or `{field}` in [{section}] of the config file)",
                var.var
            ),
            None => format!("`{key}` is missing"),
        };
    }
    if let Some((var, text)) = sources.env.iter().find(|(v, _)| v.key == key) {
        return match var.kind {
            Secret => format!("{} is not {} ({})", var.var, var.expected, e.kind),
            _ => format!("{}={text:?} is not {} ({})", var.var, var.expected, e.kind),
        };
    }
    match &sources.file {
        Some(file) if !key.is_empty() => format!("{file}: `{key}`: {}", e.kind),
        Some(file) => format!("{file}: {}", e.kind),
        None => e.kind.to_string(),
    }
}

/// Trusted proxies: CIDR blocks, or single addresses (a /32 or /128).
fn proxies<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|n| {
            n.parse::<ipnet::IpNet>()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{n:?} is not an address or CIDR block like 10.0.0.0/8"
                    ))
                })
        })
        .collect()
}

/// `Duration` as a number of seconds (integer or fractional) in TOML/JSON.
mod seconds {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if d.subsec_nanos() == 0 {
            s.serialize_u64(d.as_secs())
        } else {
            s.serialize_f64(d.as_secs_f64())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Num {
            Int(u64),
            Float(f64),
        }
        match Num::deserialize(d)? {
            Num::Int(s) => Ok(Duration::from_secs(s)),
            Num::Float(f) => Duration::try_from_secs_f64(f)
                .map_err(|_| serde::de::Error::custom("expected a non-negative number of seconds")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |n| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
    }

    #[test]
    fn push_providers_and_the_other_settings_from_the_environment() {
        let mut c = ServiceConfig::default();
        c.apply_env(env(&[
            ("TAPPROVE_APNS_KEY_PATH", "/keys/AuthKey_ABC.p8"),
            ("TAPPROVE_APNS_KEY_ID", "ABC1234567"),
            ("TAPPROVE_APNS_TEAM_ID", "TEAM123456"),
            ("TAPPROVE_APNS_TOPIC", "com.example.app"),
            ("TAPPROVE_APNS_ENVIRONMENT", "sandbox"),
            ("TAPPROVE_FCM_SERVICE_ACCOUNT_PATH", "/keys/fcm.json"),
            ("TAPPROVE_PUSH_MAX_ATTEMPTS", "2"),
            ("TAPPROVE_METRICS_LISTEN", "127.0.0.1:9090"),
            ("TAPPROVE_LIMITS_FRAUD_LOCK_SECONDS", "600"),
        ]))
        .expect("env");
        let apns = c.push.apns.as_ref().expect("apns");
        assert_eq!(
            apns.key_path,
            std::path::PathBuf::from("/keys/AuthKey_ABC.p8")
        );
        assert_eq!(
            (apns.key_id.as_str(), apns.topic.as_str()),
            ("ABC1234567", "com.example.app")
        );
        assert_eq!(
            apns.environment,
            Some(tapprove_protocol::api::PushEnvironment::Sandbox)
        );
        let fcm = c.push.fcm.as_ref().expect("fcm");
        assert_eq!(
            fcm.service_account_path,
            std::path::PathBuf::from("/keys/fcm.json")
        );
        assert_eq!(c.push.retry.max_attempts, 2);
        assert_eq!(
            c.metrics_listen,
            Some("127.0.0.1:9090".parse().expect("addr"))
        );
        assert_eq!(c.limits.fraud_lock_seconds, 600);

        // The file's [push.apns] with one value overridden from the environment.
        let mut c = ServiceConfig::from_toml_str(
            "[push.apns]\nkey_path = \"/k.p8\"\nkey_id = \"K\"\nteam_id = \"T\"\ntopic = \"a.b\"\n",
        )
        .expect("toml");
        c.apply_env(env(&[("TAPPROVE_APNS_TOPIC", "c.d")]))
            .expect("env");
        let apns = c.push.apns.as_ref().expect("apns");
        assert_eq!((apns.key_id.as_str(), apns.topic.as_str()), ("K", "c.d"));

        // Half a provider is refused, naming what is missing.
        let err = ServiceConfig::default()
            .apply_env(env(&[("TAPPROVE_APNS_KEY_ID", "ABC1234567")]))
            .expect_err("incomplete");
        assert!(err.to_string().contains("TAPPROVE_APNS_KEY_PATH"), "{err}");
        let err = ServiceConfig::default()
            .apply_env(env(&[("TAPPROVE_FCM_HOST", "https://proxy")]))
            .expect_err("incomplete");
        assert!(
            err.to_string()
                .contains("TAPPROVE_FCM_SERVICE_ACCOUNT_PATH"),
            "{err}"
        );
        let err = ServiceConfig::default()
            .apply_env(env(&[
                ("TAPPROVE_APNS_KEY_PATH", "/k"),
                ("TAPPROVE_APNS_KEY_ID", "K"),
                ("TAPPROVE_APNS_TEAM_ID", "T"),
                ("TAPPROVE_APNS_TOPIC", "a.b"),
                ("TAPPROVE_APNS_ENVIRONMENT", "staging"),
            ]))
            .expect_err("environment");
        assert!(err.to_string().contains("production or sandbox"), "{err}");
        let mut c = ServiceConfig::default();
        c.apply_env(env(&[(
            "TAPPROVE_TRUSTED_PROXIES",
            "10.0.0.0/8, 192.0.2.7 ,fd00::/8",
        )]))
        .expect("proxies");
        assert_eq!(c.trusted_proxies.len(), 3);
        assert!(
            c.trusted_proxies[1].contains(&"192.0.2.7".parse::<std::net::IpAddr>().expect("ip"))
        );
        let err = ServiceConfig::default()
            .apply_env(env(&[("TAPPROVE_TRUSTED_PROXIES", "10.0.0.0/33")]))
            .expect_err("cidr");
        assert!(err.to_string().contains("10.0.0.0/8"), "{err}");
        // A limit this build does not know (e.g. a removed one) is refused, not ignored.
        let err = ServiceConfig::from_toml_str("[limits]\npairings_per_minute_per_sdk_key = 120\n")
            .expect_err("unknown limit");
        assert!(
            err.to_string().contains("pairings_per_minute_per_sdk_key"),
            "{err}"
        );
        let c = ServiceConfig::from_toml_str("trusted_proxies = [\"10.0.0.0/8\"]\n").expect("toml");
        assert_eq!(c.trusted_proxies.len(), 1);
        let err = ServiceConfig::default()
            .apply_env(env(&[("TAPPROVE_METRICS_LISTEN", "9090")]))
            .expect_err("address");
        assert!(err.to_string().contains("127.0.0.1:9090"), "{err}");
    }

    #[test]
    fn toml_then_env_and_redacted_debug() {
        let mut c = ServiceConfig::from_toml_str(
            "listen = \"127.0.0.1:0\"\nwebhook_timeout = 0.5\n[limits]\nsessions_per_minute = 7\n",
        )
        .expect("toml");
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.webhook_timeout, Duration::from_millis(500));
        assert_eq!(c.limits.sessions_per_minute, 7);
        assert_eq!(c.limits.sessions_per_hour, 10);
        let key = STANDARD.encode([9u8; 32]);
        c.apply_env(|n| match n {
            "TAPPROVE_SEAL_KEY" => Some(key.clone()),
            "TAPPROVE_DATABASE_URL" => Some("sqlite://x.db".into()),
            _ => None,
        })
        .expect("env");
        assert_eq!(c.database_url, "sqlite://x.db");
        c.apply_env(|n| match n {
            "TAPPROVE_HEADER_READ_TIMEOUT" => Some("2.5".into()),
            "TAPPROVE_MAX_CONNECTIONS" => Some("100".into()),
            "TAPPROVE_RETENTION_DAYS" => Some("7".into()),
            "TAPPROVE_AUDIT_RETENTION_DAYS" => Some("90".into()),
            "TAPPROVE_LIMITS_SESSIONS_PER_HOUR" => Some("20".into()),
            _ => None,
        })
        .expect("env");
        assert_eq!(c.header_read_timeout, Duration::from_millis(2500));
        assert_eq!((c.max_connections, c.retention_days), (100, 7));
        assert_eq!(c.audit_retention_days, 90);
        assert_eq!(c.limits.sessions_per_hour, 20);
        let err = c
            .apply_env(|n| (n == "TAPPROVE_REQUEST_TIMEOUT").then(|| "soon".into()))
            .expect_err("not seconds");
        assert!(
            err.to_string().contains("TAPPROVE_REQUEST_TIMEOUT"),
            "{err}"
        );
        assert_eq!(
            c.seal_key.as_ref().map(|k| *k.secret_bytes()),
            Some([9u8; 32])
        );
        let dbg = format!("{c:?}");
        assert!(dbg.contains("redacted") && !dbg.contains(&key));
        let json = serde_json::to_string(&c).expect("serialise");
        assert!(!json.contains("seal_key"));
        c.validate().expect("valid");
    }

    #[test]
    fn bad_values_have_actionable_errors() {
        let err = SealKey::from_base64("c2hvcnQ=").expect_err("short");
        assert!(err.to_string().contains("32"), "{err}");
        let err = ServiceConfig::from_toml_str("nope = 1").expect_err("unknown key");
        assert!(err.to_string().contains("nope"), "{err}");
        let mut c = ServiceConfig::default();
        assert!(matches!(c.validate(), Err(ServiceError::MissingSealKey)));
        let err = c
            .apply_env(|n| (n == "TAPPROVE_LISTEN").then(|| "localhost".into()))
            .expect_err("listen");
        assert!(err.to_string().contains("TAPPROVE_LISTEN"), "{err}");
        assert_eq!(
            SealKey::from_base64(&URL_SAFE_NO_PAD.encode([1u8; 32])).expect("url-safe"),
            SealKey::from_bytes([1u8; 32])
        );
    }
}
