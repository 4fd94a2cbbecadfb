//! The rows of `cargo xtask bench` that read `tapprove-bench`'s login budget (statements,
//! transactions, CPU against the crypto floor) and P8 (idle event streams).

use std::path::Path;

use super::{Row, bin_cmd, field, judged, line_with};
use crate::step;

/// The budget of a login: statements and write transactions counted, the service's CPU time
/// against its crypto floor (sequential logins, so nothing else competes for the service).
pub(super) fn budget(bins: &Path, smoke: bool) -> Result<Row, String> {
    let mut row = None;
    step(
        "bench P5 budget: a login's statements, transactions and CPU",
        || {
            let logins = if smoke { "5" } else { "300" };
            let warmup = if smoke { "1" } else { "30" };
            let args = ["budget", "--logins", logins, "--warmup", warmup];
            let out = bin_cmd(bins, "tapprove-bench", &args)?;
            let line = line_with(&out, "RESULT BUDGET")?;
            let statements = field(line, "statements_per_login")?;
            let writes = field(line, "write_transactions_per_login")?;
            let cpu = field(line, "service_cpu_ms_per_login")?;
            let floor = field(line, "floor_service_ms")?;
            let ratio = field(line, "service_vs_floor")?;
            row = Some(Row {
                id: "P5",
                what: "budget of one login: SQL statements, write transactions, service CPU (its own \
                   threads) against its crypto floor (one ES256 signature + one verification)",
                figure: format!(
                    "{statements:.1} statements, {writes:.1} write transactions, service CPU \
                 {cpu:.2} ms = {ratio:.1}× its crypto floor ({floor:.3} ms)"
                ),
                target: "≤ 2 write transactions; service CPU ≤ 1.5× its crypto floor",
                within: judged(smoke, writes <= 2.0 && ratio <= 1.5),
                command: format!("tapprove-bench {}", args.join(" ")),
            });
            Ok(())
        },
    )?;
    row.ok_or_else(|| "the budget produced no figure".into())
}

/// P8: idle event streams held by one service process, memory per stream, login p99 while
/// they are held.
pub(super) fn p8(bins: &Path, smoke: bool) -> Result<Row, String> {
    let mut row = None;
    step("bench P8: idle event streams one instance holds", || {
        let args: &[&str] = if smoke {
            &[
                "streams",
                "--accounts",
                "10",
                "--streams",
                "20",
                "--sources",
                "2",
                "--logins",
                "3",
            ]
        } else {
            &[
                "streams",
                "--accounts",
                "5000",
                "--streams",
                "20000",
                "--sources",
                "4",
                "--logins",
                "200",
            ]
        };
        let out = bin_cmd(bins, "tapprove-bench", args)?;
        let line = line_with(&out, "RESULT P8")?;
        let streams = field(line, "streams")?;
        let bytes = field(line, "bytes_per_stream")?;
        let (before, held) = (field(line, "p99_ms_before")?, field(line, "p99_ms_held")?);
        row = Some(Row {
            id: "P8",
            what: "idle device event streams one service process holds (5,000 accounts, 4 \
                   loopback source addresses), memory per stream, login p99 while held",
            figure: format!(
                "{streams:.0} streams, {:.1} KB each (service RSS); login p99 {before:.2} ms \
                 before, {held:.2} ms while held",
                bytes / 1000.0
            ),
            target: "≥ 20,000 streams at ≤ 16 KB each, login p99 unchanged",
            within: judged(smoke, streams >= 20_000.0 && bytes <= 16_000.0),
            command: format!("tapprove-bench {}", args.join(" ")),
        });
        Ok(())
    })?;
    row.ok_or_else(|| "P8 produced no figure".into())
}
