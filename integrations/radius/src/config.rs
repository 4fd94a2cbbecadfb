//! `tapprove-radius --config FILE`: the TOML file, checked once at start-up into [`Config`].
//!
//! Relative paths (`api_key_file`, `secret_file`) are read relative to the config file's folder,
//! so a config and its secrets can move together.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use tapprove_rp::{ApiKey, RpClient};
use zeroize::Zeroizing;

/// Default `listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:1812";
/// Default `timeout_seconds`.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 60;
/// Longest `timeout_seconds`: a push session lives at most 10 minutes.
pub const MAX_TIMEOUT_SECONDS: u64 = 600;
/// Default port of `[upstream] address` when none is given.
pub const RADIUS_PORT: u16 = 1812;

/// A RADIUS shared secret. `Debug` is redacted and the bytes are zeroized on drop.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(bytes.into()))
    }

    /// The bytes, for HMAC and password hiding only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// What the server asks the phone for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Approve or deny on the phone; the RADIUS client waits for the answer.
    Push,
    /// The phone shows a code; the user types it at an Access-Challenge.
    Code,
}

/// A RADIUS client allowed to ask (a NAS, VPN concentrator).
#[derive(Debug, Clone)]
pub struct Client {
    /// Its address or network.
    pub network: IpNet,
    /// Its shared secret.
    pub secret: Secret,
}

/// The RADIUS server that checks passwords first.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Where it listens.
    pub address: SocketAddr,
    /// The secret shared with it.
    pub secret: Secret,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Base URL of the Tapprove service.
    pub service_url: String,
    /// The project's API key (read from `api_key_file`).
    pub api_key: ApiKey,
    /// Push or code.
    pub mode: Mode,
    /// How long a login may wait for the phone.
    pub timeout: Duration,
    /// Who may ask.
    pub clients: Vec<Client>,
    /// Password check before any push; `None` = second factor only.
    pub upstream: Option<Upstream>,
}

/// A configuration problem, naming the file or key to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("cannot read the config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, an unknown key, or a value of the wrong type.
    #[error("{path} is not a valid tapprove-radius config: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message (line and key).
        message: String,
    },
    /// A value that parses but cannot be used.
    #[error("{key}: {why}")]
    Invalid {
        /// The key, e.g. `clients[1].address`.
        key: String,
        /// What is wrong and what is expected.
        why: String,
    },
    /// A file named by a key cannot be read.
    #[error("{key}: cannot read {path}: {source}")]
    File {
        /// The key naming it.
        key: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `service_url` is not usable by the relying-party client.
    #[error("service_url: {0}")]
    ServiceUrl(tapprove_rp::RpError),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    service_url: String,
    api_key_file: PathBuf,
    mode: Option<String>,
    timeout_seconds: Option<u64>,
    #[serde(default)]
    clients: Vec<RawClient>,
    upstream: Option<RawUpstream>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    address: String,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    address: String,
    secret: String,
}

fn invalid(key: impl Into<String>, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        why: why.into(),
    }
}

impl Config {
    /// Reads and checks the config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, base)
    }

    /// Checks config text; `base` is the folder relative paths start from.
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let listen_text = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen_text.parse().map_err(|_| {
            invalid(
                "listen",
                format!("{listen_text:?} is not an IP address and port, e.g. \"127.0.0.1:1812\""),
            )
        })?;
        let mode = match raw.mode.as_deref().unwrap_or("push") {
            "push" => Mode::Push,
            "code" => Mode::Code,
            other => {
                return Err(invalid(
                    "mode",
                    format!("{other:?}: use \"push\" or \"code\""),
                ));
            }
        };
        let secs = raw.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
        if !(1..=MAX_TIMEOUT_SECONDS).contains(&secs) {
            return Err(invalid(
                "timeout_seconds",
                format!("{secs} is outside 1-{MAX_TIMEOUT_SECONDS}"),
            ));
        }
        let key_path = base.join(&raw.api_key_file);
        let key = read_secret_file("api_key_file", &key_path)?;
        let key = String::from_utf8(key.to_vec()).map_err(|_| {
            invalid(
                "api_key_file",
                format!("{} is not text", key_path.display()),
            )
        })?;
        let api_key = ApiKey::new(key);
        // Checked here, so a bad URL stops the start rather than every login.
        RpClient::new(&raw.service_url, api_key.clone()).map_err(ConfigError::ServiceUrl)?;
        if raw.clients.is_empty() {
            return Err(invalid(
                "clients",
                "no [[clients]]: add one per RADIUS client (address and secret or secret_file)",
            ));
        }
        let clients = raw
            .clients
            .into_iter()
            .enumerate()
            .map(|(i, c)| client(i, c, base))
            .collect::<Result<Vec<_>, _>>()?;
        let upstream = raw.upstream.map(upstream).transpose()?;
        Ok(Self {
            listen,
            service_url: raw.service_url,
            api_key,
            mode,
            timeout: Duration::from_secs(secs),
            clients,
            upstream,
        })
    }

    /// The client `ip` belongs to: the most specific matching network.
    pub fn client_for(&self, ip: IpAddr) -> Option<&Client> {
        // An IPv4 client reaching a dual-stack socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.clients
            .iter()
            .filter(|c| c.network.contains(&ip))
            .max_by_key(|c| c.network.prefix_len())
    }

    /// The relying-party client of this configuration.
    pub fn rp_client(&self) -> Result<RpClient, ConfigError> {
        RpClient::new(&self.service_url, self.api_key.clone()).map_err(ConfigError::ServiceUrl)
    }
}

fn client(i: usize, raw: RawClient, base: &Path) -> Result<Client, ConfigError> {
    let key = format!("clients[{i}]");
    let network = parse_network(&raw.address).ok_or_else(|| {
        invalid(
            format!("{key}.address"),
            format!(
                "{:?} is not an IP address or CIDR network (e.g. \"192.0.2.7\" or \"10.0.0.0/8\")",
                raw.address
            ),
        )
    })?;
    let secret = match (raw.secret, raw.secret_file) {
        (Some(s), None) => Secret::new(s.into_bytes()),
        (None, Some(file)) => {
            Secret::new(read_secret_file(&format!("{key}.secret_file"), &base.join(file))?.to_vec())
        }
        _ => {
            return Err(invalid(
                key,
                "give exactly one of `secret` and `secret_file`",
            ));
        }
    };
    check_secret(&format!("{key}.secret"), &secret)?;
    Ok(Client { network, secret })
}

fn upstream(raw: RawUpstream) -> Result<Upstream, ConfigError> {
    let address = raw
        .address
        .parse::<SocketAddr>()
        .or_else(|_| {
            raw.address
                .parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, RADIUS_PORT))
        })
        .map_err(|_| {
            invalid(
                "upstream.address",
                format!(
                    "{:?} is not an IP address with an optional port, e.g. \"192.0.2.10:1812\"",
                    raw.address
                ),
            )
        })?;
    let secret = Secret::new(raw.secret.into_bytes());
    check_secret("upstream.secret", &secret)?;
    Ok(Upstream { address, secret })
}

fn check_secret(key: &str, secret: &Secret) -> Result<(), ConfigError> {
    if secret.expose().is_empty() {
        return Err(invalid(key, "the shared secret is empty"));
    }
    Ok(())
}

/// `10.0.0.0/8`, or a single address as a /32 (/128).
fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .map(|n| n.trunc())
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// A secret file's content without its trailing newline; empty is an error.
fn read_secret_file(key: &str, path: &Path) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    let mut bytes = Zeroizing::new(std::fs::read(path).map_err(|source| ConfigError::File {
        key: key.to_owned(),
        path: path.to_owned(),
        source,
    })?);
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(invalid(key, format!("{} is empty", path.display())));
    }
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn dir_with_key() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("api-key"), "tap_api_x\n").unwrap();
        std::fs::write(dir.path().join("nas.secret"), "from-file\n").unwrap();
        dir
    }

    fn parse(dir: &tempfile::TempDir, text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, &dir.path().join("radius.toml"), dir.path())
    }

    const GOOD: &str = r#"
listen = "127.0.0.1:18120"
service_url = "http://127.0.0.1:8080"
api_key_file = "api-key"
mode = "code"
timeout_seconds = 30
[[clients]]
address = "10.0.0.0/8"
secret = "s1"
[[clients]]
address = "10.1.2.3"
secret_file = "nas.secret"
[upstream]
address = "127.0.0.1:11812"
secret = "up"
"#;

    #[test]
    fn a_full_config_reads_and_the_most_specific_client_wins() {
        let dir = dir_with_key();
        let c = parse(&dir, GOOD).unwrap();
        assert_eq!(c.mode, Mode::Code);
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.api_key.expose_secret(), "tap_api_x");
        let pick = |ip: &str| {
            c.client_for(ip.parse().unwrap())
                .map(|c| c.secret.expose().to_vec())
        };
        assert_eq!(pick("10.1.2.3"), Some(b"from-file".to_vec()));
        assert_eq!(pick("10.9.9.9"), Some(b"s1".to_vec()));
        assert_eq!(pick("::ffff:10.9.9.9"), Some(b"s1".to_vec()));
        assert_eq!(pick("192.0.2.1"), None);
        assert_eq!(c.upstream.as_ref().unwrap().address.port(), 11812);
        assert!(!format!("{c:?}").contains("s1\""));
        assert!(!format!("{c:?}").contains("from-file"));
    }

    #[test]
    fn each_problem_names_its_key() {
        let dir = dir_with_key();
        let cases = [
            (
                GOOD.replace("10.0.0.0/8", "10.0.0.0/33"),
                "clients[0].address",
            ),
            (GOOD.replace("10.0.0.0/8", "ten"), "clients[0].address"),
            (
                GOOD.replace("nas.secret", "missing.secret"),
                "clients[1].secret_file",
            ),
            (
                GOOD.replace(
                    "secret = \"s1\"",
                    "secret = \"s1\"\nsecret_file = \"nas.secret\"",
                ),
                "clients[0]",
            ),
            (
                GOOD.replace("secret = \"s1\"", "secret = \"\""),
                "clients[0].secret",
            ),
            (GOOD.replace("\"code\"", "\"sms\""), "mode"),
            (GOOD.replace("= 30", "= 0"), "timeout_seconds"),
            (GOOD.replace("127.0.0.1:18120", "localhost"), "listen"),
            (
                GOOD.replace("127.0.0.1:11812", "up.example"),
                "upstream.address",
            ),
            (GOOD.replace("\"api-key\"", "\"nope\""), "api_key_file"),
            (
                GOOD.replace("http://127.0.0.1:8080", "http://example.com"),
                "service_url",
            ),
            (GOOD.replace("mode =", "modes ="), "modes"),
        ];
        for (text, key) in cases {
            let e = parse(&dir, &text).unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
        let e = Config::load(&dir.path().join("absent.toml")).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }), "{e}");
        let no_clients = GOOD.split("[[clients]]").next().unwrap().to_owned();
        assert!(
            parse(&dir, &no_clients)
                .unwrap_err()
                .to_string()
                .contains("clients")
        );
    }
}
