//! `tapprove admin audit`: the operator's reader of the audit log.

use tapprove_server::admin::{self, AuditQuery};

use super::{DbArgs, json_line, parse_duration, utc_time};
use crate::error::CliError;

/// `tapprove admin audit …`
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only this project's rows (prj_…).
    #[arg(long)]
    project: Option<String>,
    /// Only this user's rows.
    #[arg(long)]
    user: Option<String>,
    /// Only rows since then: RFC 3339 (2026-12-01T09:00:00Z) or a duration back from now
    /// (24h, 30m, 7d).
    #[arg(long, value_parser = parse_since)]
    since: Option<Since>,
    /// The newest this many rows (printed oldest first).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Print JSON (an array of rows) instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArgs,
}

/// A `--since` value: an absolute time or an age.
#[derive(Debug, Clone, Copy)]
enum Since {
    At(i64),
    Ago(std::time::Duration),
}

fn parse_since(text: &str) -> Result<Since, String> {
    if text.contains('-') {
        return parse_rfc3339(text).map(Since::At);
    }
    parse_duration(text)
        .map(Since::Ago)
        .map_err(|e| format!("{e}, or an RFC 3339 time like 2026-12-01T09:00:00Z"))
}

/// Unix seconds of an RFC 3339 time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`; `T` may be a
/// space or `t`); fractions are dropped.
fn parse_rfc3339(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not an RFC 3339 time like 2026-12-01T09:00:00Z");
    let t = text.trim();
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let s = t.get(range).ok_or_else(bad)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || !matches!(rb[0], b'+' | b'-') || rb[3] != b':' {
                return Err(bad());
            }
            let part = |r: std::ops::Range<usize>| -> Result<i64, String> {
                let s = rest.get(r).ok_or_else(bad)?;
                if !s.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(bad());
                }
                s.parse().map_err(|_| bad())
            };
            let sign = if rb[0] == b'-' { -1 } else { 1 };
            sign * (part(1..3)? * 3600 + part(4..6)? * 60)
        }
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    // Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + h * 3600 + mi * 60 + s.min(59) - offset)
}

/// `text` safe for a terminal: a refused pairing's row holds the user name a device typed,
/// so control characters (escape sequences, newlines) are shown escaped, not sent.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Runs `tapprove admin audit`.
pub async fn run(args: AuditArgs) -> Result<(), CliError> {
    let (url, _) = args.db.resolve(false)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let since = args.since.map(|s| match s {
        Since::At(t) => t,
        Since::Ago(d) => now.saturating_sub(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    });
    let query = AuditQuery {
        project_id: args.project,
        user: args.user,
        since,
        limit: args.limit,
    };
    let rows = admin::read_audit(&url, &query).await?;
    if args.json {
        return json_line(&rows);
    }
    if rows.is_empty() {
        println!("No audit-log rows match.");
        return Ok(());
    }
    println!(
        "{:<21} {:<30} {:<32} {:<18} {:<30} {:<16} {:<9} {:<26} {:<15} REQUEST",
        "TIME", "PROJECT", "ACTOR", "ACTION", "SUBJECT", "USER", "OUTCOME", "REASON", "SOURCE IP"
    );
    let dash = |v: &Option<String>| v.as_deref().map_or_else(|| "-".to_owned(), printable);
    for r in rows {
        println!(
            "{:<21} {:<30} {:<32} {:<18} {:<30} {:<16} {:<9} {:<26} {:<15} {}",
            utc_time(r.at),
            dash(&r.project_id),
            printable(&r.actor),
            printable(&r.action),
            printable(&r.subject),
            dash(&r.user),
            printable(&r.outcome),
            dash(&r.reason),
            dash(&r.source_ip),
            dash(&r.request_id),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_rfc3339_or_an_age() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2027-01-15T08:00:00Z"), Ok(1_800_000_000));
        assert_eq!(
            parse_rfc3339("2027-01-15T10:00:00.25+02:00"),
            Ok(1_800_000_000)
        );
        assert_eq!(parse_rfc3339("2000-02-29 00:00:00z"), Ok(951_782_400));
        assert!(parse_rfc3339("2027-01-15T08:00:00").is_err(), "no offset");
        assert!(parse_rfc3339("2027-13-15T08:00:00Z").is_err());
        assert!(matches!(parse_since("24h"), Ok(Since::Ago(d)) if d.as_secs() == 86_400));
        assert!(matches!(
            parse_since("2027-01-15T08:00:00Z"),
            Ok(Since::At(1_800_000_000))
        ));
        assert!(
            parse_since("yesterday")
                .expect_err("bad")
                .contains("RFC 3339")
        );
    }

    #[test]
    fn a_typed_user_name_cannot_drive_the_terminal() {
        assert_eq!(printable("alice"), "alice");
        assert_eq!(printable("Zoë"), "Zoë");
        assert_eq!(printable("\u{1b}[2Jx\nroot"), "\\u{1b}[2Jx\\nroot");
    }
}
