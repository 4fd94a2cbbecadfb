//! One line per login to syslog (`authpriv`) and, with `log=FILE`, to that file too (systems
//! without a syslog daemon, such as CI containers). Lines never hold the API key nor a code.

use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// Syslog severities used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// A refused login, an unreachable service, a bad configuration.
    Error,
    /// A login let through.
    Info,
}

/// Where this call's lines go.
#[derive(Debug, Default)]
pub struct Log {
    file: Option<PathBuf>,
}

impl Log {
    /// Syslog, plus `file` if given.
    pub fn new(file: Option<PathBuf>) -> Self {
        Self { file }
    }

    /// Writes one line. Logging must never decide a login, so failures to log are ignored.
    pub fn line(&self, level: Level, text: &str) {
        let text = text.replace(['\n', '\r'], " ");
        // authpriv (10): the facility for security messages only root reads.
        let severity = match level {
            Level::Error => 3,
            Level::Info => 6,
        };
        let pid = std::process::id();
        let msg = format!("<{}>pam_tapprove[{pid}]: {text}", 10 * 8 + severity);
        if let Ok(sock) = UnixDatagram::unbound() {
            let _ = sock.send_to(msg.as_bytes(), "/dev/log");
        }
        if let Some(path) = &self.file {
            let tag = match level {
                Level::Error => "error",
                Level::Info => "info",
            };
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{} pam_tapprove[{pid}] {tag}: {text}", utc_now());
            }
        }
    }
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_601_599), "2026-12-06T23:59:59Z");
    }

    #[test]
    fn the_file_gets_one_line_per_call() {
        let p = std::env::temp_dir().join(format!("pam-tapprove-log-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let log = Log::new(Some(p.clone()));
        log.line(Level::Error, "first\nsecond");
        log.line(Level::Info, "third");
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].ends_with("error: first second"), "{text}");
        assert!(lines[1].ends_with("info: third"), "{text}");
        std::fs::remove_file(&p).unwrap();
    }
}
