//! The module's arguments (`config=FILE log=FILE`) and its TOML configuration.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tapprove_rp::ApiKey;

use crate::error::PamError;

/// Longest `timeout_seconds`: the longest a push session may live (PROTOCOL.md §9).
pub const MAX_TIMEOUT_SECONDS: u64 = 600;
/// The default wait for the phone.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 60;

/// The arguments on the module's line in `/etc/pam.d/<service>`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// `config=FILE`: required.
    pub config: Option<PathBuf>,
    /// `log=FILE`: also append each log line there (systems without syslog).
    pub log: Option<PathBuf>,
}

impl Args {
    /// Parses `key=value` words; an unknown word is an error, so a typo cannot silently
    /// change what the module does.
    pub fn parse<'a>(words: impl IntoIterator<Item = &'a str>) -> Result<Self, PamError> {
        let mut args = Self::default();
        for word in words {
            match word.split_once('=') {
                Some(("config", v)) if !v.is_empty() => args.config = Some(v.into()),
                Some(("log", v)) if !v.is_empty() => args.log = Some(v.into()),
                _ => {
                    return Err(PamError::Argument(format!(
                        "unknown module argument {word:?} (expected config=FILE or log=FILE)"
                    )));
                }
            }
        }
        Ok(args)
    }
}

/// How the user proves presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A push the user approves on the phone (with the project's number matching).
    Push,
    /// The phone shows a code (`display` sessions) that the user types at the prompt.
    Code,
}

/// The TOML file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    service_url: String,
    api_key_file: PathBuf,
    #[serde(default = "default_mode")]
    mode: Mode,
    #[serde(default = "default_timeout")]
    timeout_seconds: u64,
}

fn default_mode() -> Mode {
    Mode::Push
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECONDS
}

/// A checked configuration, with the API key read.
#[derive(Debug)]
pub struct Config {
    /// The service's base URL.
    pub service_url: String,
    /// The project's API key (redacted `Debug`).
    pub api_key: ApiKey,
    /// Push or code.
    pub mode: Mode,
    /// The longest the module waits, from its start to its answer.
    pub timeout: Duration,
}

impl Config {
    /// Reads and checks `path` and the key file it names.
    pub fn load(path: &Path) -> Result<Self, PamError> {
        let bad = |why: String| PamError::Config {
            path: path.to_owned(),
            why,
        };
        let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        // Whoever can rewrite it can point the module at a service that approves everything.
        if meta.mode() & 0o022 != 0 {
            return Err(bad(
                "group or others may write it: chmod go-w it (it decides who may log in)".into(),
            ));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let file: File = toml::from_str(&text).map_err(|e| bad(e.message().to_owned()))?;
        if file.timeout_seconds == 0 || file.timeout_seconds > MAX_TIMEOUT_SECONDS {
            return Err(bad(format!(
                "timeout_seconds must be between 1 and {MAX_TIMEOUT_SECONDS}, not {}",
                file.timeout_seconds
            )));
        }
        let api_key = read_api_key(&file.api_key_file)?;
        Ok(Self {
            service_url: file.service_url,
            api_key,
            mode: file.mode,
            timeout: Duration::from_secs(file.timeout_seconds),
        })
    }
}

/// The API key from its own file (first line, trimmed), which only its owner may read.
fn read_api_key(path: &Path) -> Result<ApiKey, PamError> {
    let bad = |why: String| PamError::KeyFile {
        path: path.to_owned(),
        why,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    if meta.mode() & 0o077 != 0 {
        return Err(bad(format!(
            "its mode is {:o}; only its owner may read it: chmod 600 it",
            meta.mode() & 0o777
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let key = text.lines().next().unwrap_or_default().trim();
    if key.is_empty() {
        return Err(bad("it is empty (put the project's API key in it)".into()));
    }
    Ok(ApiKey::new(key))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "pam-tapprove-unit-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn arguments_are_strict() {
        let a = Args::parse(["config=/etc/t.toml", "log=/tmp/l"]).unwrap();
        assert_eq!(a.config.as_deref(), Some(Path::new("/etc/t.toml")));
        assert_eq!(a.log.as_deref(), Some(Path::new("/tmp/l")));
        for bad in ["conf=/x", "config=", "debug"] {
            let e = Args::parse([bad]).unwrap_err();
            assert!(matches!(e, PamError::Argument(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn a_good_file_loads_and_the_key_is_never_printed() {
        let d = tempdir();
        let key = write(&d, "key", "tap_api_secret\n", 0o600);
        let cfg = write(
            &d,
            "c.toml",
            &format!(
                "service_url = \"http://127.0.0.1:9\"\napi_key_file = {:?}\nmode = \"code\"\ntimeout_seconds = 30\n",
                key
            ),
            0o644,
        );
        let c = Config::load(&cfg).unwrap();
        assert_eq!(c.mode, Mode::Code);
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.api_key.expose_secret(), "tap_api_secret");
        assert!(!format!("{c:?}").contains("tap_api_secret"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn unsafe_permissions_and_bad_values_are_refused() {
        let d = tempdir();
        let open_key = write(&d, "open", "tap_api_x", 0o644);
        let key = write(&d, "key", "tap_api_x", 0o600);
        let body = |k: &Path, extra: &str| {
            format!("service_url = \"http://127.0.0.1:9\"\napi_key_file = {k:?}\n{extra}")
        };
        let e = Config::load(&write(&d, "a.toml", &body(&open_key, ""), 0o644)).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        let e = Config::load(&write(&d, "b.toml", &body(&key, ""), 0o666)).unwrap_err();
        assert!(e.to_string().contains("chmod go-w"), "{e}");
        for extra in [
            "timeout_seconds = 0",
            "timeout_seconds = 601",
            "mode = \"sms\"",
            "colour = 1",
        ] {
            let e = Config::load(&write(&d, "c.toml", &body(&key, extra), 0o600)).unwrap_err();
            assert!(matches!(e, PamError::Config { .. }), "{extra}: {e}");
        }
        let e = Config::load(&d.join("missing.toml")).unwrap_err();
        assert!(e.to_string().contains("missing.toml"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
