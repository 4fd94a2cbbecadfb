//! `tapprove admin audit`: the operator's reader of the audit log.

use tapprove_server::admin::{self, AuditQuery};

use super::{DbArgs, json_line, parse_duration};
use crate::error::CliError;
use crate::output::{parse_rfc3339, printable, utc_time};

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
}
