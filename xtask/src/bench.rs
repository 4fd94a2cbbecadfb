//! `cargo xtask bench [--smoke]`: measures the performance targets side by side,
//! prints a markdown table and (full run only) writes it to docs/PERFORMANCE.md.
//!
//! Measurements print figures; nothing here fails because a figure misses its target. A run
//! fails only when a benchmark cannot run (build error, protocol failure, unparsable output).
//! `--smoke` uses debug builds and tiny counts, skips P2 (a fat-LTO release build), and only
//! checks that every benchmark still runs; it never writes the document. P5 runs on SQLite,
//! then on a throwaway PostgreSQL cluster (xtask/src/postgres.rs) with 1 and 2 instances; when
//! PostgreSQL cannot be installed or started those two rows are skipped with a message.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{root, run, step};

mod rows;
use rows::{budget, p8};

/// Full-run counts.
const LATENCY_LOGINS: usize = 1000;
const THROUGHPUT_USERS: usize = 200;
const THROUGHPUT_LOGINS_PER_USER: usize = 25;

/// One row of the table.
struct Row {
    id: &'static str,
    what: &'static str,
    figure: String,
    target: &'static str,
    /// `Some(true)` within target, `Some(false)` not, `None` not judged (smoke run).
    within: Option<bool>,
    command: String,
}

/// `cargo xtask bench [--smoke]`.
pub fn command(args: &[String]) -> Result<(), String> {
    let mut smoke = false;
    for arg in args {
        match arg.as_str() {
            "--smoke" => smoke = true,
            other => {
                return Err(format!(
                    "unknown bench option {other:?}; use `cargo xtask bench` or `cargo xtask bench --smoke`"
                ));
            }
        }
    }
    let mut rows = Vec::new();
    let mut size_breakdown = None;

    rows.push(p1(smoke)?);
    if smoke {
        eprintln!("xtask: P2 skipped in the smoke run (needs a fat-LTO release build)");
    } else {
        let (row, breakdown) = p2()?;
        rows.push(row);
        size_breakdown = Some(breakdown);
    }
    let bins = build_bench_bins(smoke)?;
    rows.push(p3(&bins, smoke)?);
    rows.push(p4(&bins, smoke)?);
    rows.push(p5(&bins, smoke, &P5Db::Sqlite)?);
    rows.push(budget(&bins, smoke)?);
    rows.extend(p5_postgres(&bins, smoke)?);
    rows.push(p6(smoke)?);
    rows.push(p6_webpush(smoke)?);
    rows.push(p8(&bins, smoke)?);

    let table = table(&rows);
    println!("\n{table}");
    if let Some(breakdown) = size_breakdown {
        let path = root().join("docs").join("PERFORMANCE.md");
        let mut text = document(&table, &breakdown)?;
        // Analysis written by hand (e.g. "Where P5's time goes") survives regeneration.
        let previous = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(at) = previous.find(HAND_WRITTEN) {
            text.push('\n');
            text.push_str(&previous[at..]);
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("xtask: wrote {}", path.display());
    }
    Ok(())
}

/// Marks where docs/PERFORMANCE.md's hand-written sections start; `cargo xtask bench` keeps
/// everything from this line on when it rewrites the generated part above it.
const HAND_WRITTEN: &str = "<!-- Written by hand below this line; cargo xtask bench keeps it. -->";

/// Runs a command in the repository root with stderr shown, returning its stdout (also shown).
fn capture(program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
    eprintln!("xtask: $ {program} {}", args.join(" "));
    let output = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start {program}: {e} (is it installed?)"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    eprint!("{stdout}");
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "`{program} {}` failed ({})",
            args.join(" "),
            output.status
        ))
    }
}

/// The first line of `output` starting with `prefix`.
fn line_with<'a>(output: &'a str, prefix: &str) -> Result<&'a str, String> {
    output
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(prefix))
        .ok_or_else(|| {
            format!("no line starting with {prefix:?} in the output; did the benchmark change?")
        })
}

/// The value of `key=` in a `RESULT` line.
fn field(line: &str, key: &str) -> Result<f64, String> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no number for {key} in {line:?}"))
}

/// The number right after `prefix` in `line` (e.g. `ratio: 1.07x`).
fn number_after(line: &str, prefix: &str) -> Result<f64, String> {
    let rest = line
        .split_once(prefix)
        .map(|(_, r)| r.trim_start())
        .ok_or_else(|| format!("no {prefix:?} in {line:?}"))?;
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end]
        .parse()
        .map_err(|_| format!("no number after {prefix:?} in {line:?}"))
}

fn judged(smoke: bool, ok: bool) -> Option<bool> {
    (!smoke).then_some(ok)
}

fn p1(smoke: bool) -> Result<Row, String> {
    let mut row = None;
    step("bench P1: handle_push vs raw P-256 verify", || {
        let args: &[&str] = if smoke {
            &["test", "-p", "tapprove-core", "--bench", "handle_push"]
        } else {
            &["bench", "-p", "tapprove-core", "--bench", "handle_push"]
        };
        let out = capture("cargo", args, &[])?;
        let line = line_with(&out, "handle_push / raw verify ratio:")?;
        let ratio = number_after(line, "ratio:")?;
        let times = line_with(&out, "handle_push:").unwrap_or_default();
        row = Some(Row {
            id: "P1",
            what: "`handle_push` / raw ring P-256 verify, same run",
            figure: format!(
                "{ratio:.2}× ({})",
                times.split(" (").next().unwrap_or_default()
            ),
            target: "≤ 1.25×",
            within: judged(smoke, ratio <= 1.25),
            command: format!("cargo {}", args.join(" ")),
        });
        Ok(())
    })?;
    row.ok_or_else(|| "P1 produced no figure".into())
}

fn p2() -> Result<(Row, String), String> {
    let mut out = None;
    step("bench P2: stripped release cdylib size", || {
        // Unstripped first (for the breakdown), then the stripped build that is measured and
        // left in target/release.
        let breakdown = size_breakdown()?;
        let size = crate::bindings::cdylib_size()?;
        let breakdown = format!("{breakdown}\n{}", sections()?);
        let target = crate::bindings::CDYLIB_SIZE_TARGET;
        out = Some((
            Row {
                id: "P2",
                what: "stripped release cdylib `libtapprove_ffi.so`, x86_64 Linux",
                figure: format!("{:.2} MB ({size} bytes)", size as f64 / 1e6),
                target: "≤ 2.5 MB",
                within: Some(size <= target),
                command: "cargo xtask bindings --size".into(),
            },
            breakdown,
        ));
        Ok(())
    })?;
    out.ok_or_else(|| "P2 produced no figure".into())
}

/// The largest sections of the stripped cdylib (`size -A`): `.text` is only part of the file.
fn sections() -> Result<String, String> {
    let lib = target_dir().join("release").join("libtapprove_ffi.so");
    let out = capture("size", &["-A", "-d", &lib.to_string_lossy()], &[])?;
    let mut rows: Vec<(String, u64)> = out
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let name = parts.next()?;
            let size = parts.next()?.parse().ok()?;
            name.starts_with('.').then(|| (name.to_owned(), size))
        })
        .collect();
    let total: u64 = rows.iter().map(|r| r.1).sum();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    let mut text = String::from(
        "Largest sections of the stripped file (`size -A -d target/release/libtapprove_ffi.so`). \
         `.eh_frame`, `.eh_frame_hdr` and `.gcc_except_table` are unwind tables, kept because \
         the release profile has `panic = \"unwind\"`; `.rela.dyn` holds dynamic relocations:\n\n\
         ```text\n",
    );
    for (name, size) in rows.into_iter().take(8) {
        text.push_str(&format!(
            "{name:<20} {:>9.1} KiB {:>5.1}%\n",
            size as f64 / 1024.0,
            size as f64 * 100.0 / total.max(1) as f64
        ));
    }
    text.push_str("```\n");
    Ok(text)
}

fn tools_bin() -> PathBuf {
    root().join(".tools").join("bin")
}

/// What dominates the cdylib: `cargo bloat --crates` on an unstripped release build (installed
/// into .tools/ if missing), else a per-crate sum of `nm --size-sort` text symbols.
fn size_breakdown() -> Result<String, String> {
    let bloat = tools_bin().join("cargo-bloat");
    if !bloat.exists() {
        let tools = root().join(".tools");
        let tools = tools.to_string_lossy();
        if let Err(e) = run(
            "cargo",
            &["install", "cargo-bloat", "--locked", "--root", &tools],
        ) {
            eprintln!("xtask: cargo-bloat unavailable ({e}); using nm instead");
        }
    }
    let path = format!(
        "{}:{}",
        tools_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    if bloat.exists() {
        let out = capture(
            "cargo",
            &[
                "bloat",
                "--release",
                "-p",
                "tapprove-bindings",
                "--lib",
                "--crates",
                "-n",
                "12",
            ],
            &[("PATH", &path), ("CARGO_PROFILE_RELEASE_STRIP", "false")],
        )?;
        return Ok(format!(
            "From `CARGO_PROFILE_RELEASE_STRIP=false cargo bloat --release -p tapprove-bindings --lib \
             --crates -n 12` (same profile as the measured build, symbols kept; cargo-bloat's \
             own caveat: crate attribution is approximate, and generic code is counted where \
             it was instantiated or under `std`):\n\n```text\n{}```\n",
            out
        ));
    }
    capture(
        "cargo",
        &["build", "--release", "-p", "tapprove-bindings", "--lib"],
        &[("CARGO_PROFILE_RELEASE_STRIP", "false")],
    )?;
    let lib = target_dir().join("release").join("libtapprove_ffi.so");
    nm_breakdown(&lib)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Sums `nm -C --size-sort` text symbol sizes by their first path segment.
fn nm_breakdown(lib: &Path) -> Result<String, String> {
    let lib_str = lib.to_string_lossy();
    let out = capture(
        "nm",
        &["-C", "--size-sort", "--print-size", "--radix=d", &lib_str],
        &[],
    )?;
    let mut by_crate: std::collections::BTreeMap<String, u64> = Default::default();
    let mut total = 0u64;
    for line in out.lines() {
        let mut parts = line.splitn(4, ' ');
        let (_addr, size, kind, name) = (parts.next(), parts.next(), parts.next(), parts.next());
        let (Some(size), Some(kind), Some(name)) = (size, kind, name) else {
            continue;
        };
        if !kind.eq_ignore_ascii_case("t") {
            continue;
        }
        let Ok(size) = size.parse::<u64>() else {
            continue;
        };
        let name = name.trim_start_matches('<').trim_start_matches('&');
        let krate = name.split("::").next().unwrap_or(name);
        let krate = if krate.contains(' ') || krate.len() > 40 {
            "(other)"
        } else {
            krate
        };
        *by_crate.entry(krate.to_owned()).or_default() += size;
        total += size;
    }
    let mut list: Vec<_> = by_crate.into_iter().collect();
    list.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    let mut text = format!(
        "From `nm -C --size-sort` of the unstripped release build (text symbols summed by \
         their first path segment; {total} bytes of text in all):\n\n```text\n"
    );
    for (krate, size) in list.into_iter().take(12) {
        text.push_str(&format!(
            "{:>5.1}%  {:>8.1} KiB  {krate}\n",
            size as f64 * 100.0 / total.max(1) as f64,
            size as f64 / 1024.0
        ));
    }
    text.push_str("```\n");
    Ok(text)
}

/// Builds `tapprove-bench` and `nse-probe` (bench profile, or debug for smoke) and returns
/// their directory.
fn build_bench_bins(smoke: bool) -> Result<PathBuf, String> {
    step("bench: build tapprove-bench and nse-probe", || {
        if smoke {
            run("cargo", &["build", "-p", "tapprove-bench", "--bins"])
        } else {
            run(
                "cargo",
                &[
                    "build",
                    "--profile",
                    "bench",
                    "-p",
                    "tapprove-bench",
                    "--bins",
                ],
            )
        }
    })?;
    // The built-in bench profile writes to target/release.
    Ok(target_dir().join(if smoke { "debug" } else { "release" }))
}

fn bin_cmd(bins: &Path, name: &str, args: &[&str]) -> Result<String, String> {
    let path = bins.join(name);
    capture(&path.to_string_lossy(), args, &[])
}

fn p3(bins: &Path, smoke: bool) -> Result<Row, String> {
    let mut row = None;
    step("bench P3: NSE-like process peak RSS", || {
        let dir = std::env::temp_dir().join(format!("tapprove-nse-probe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let dir_str = dir.to_string_lossy().into_owned();
        bin_cmd(bins, "nse-probe", &["setup", &dir_str])?;
        let out = bin_cmd(bins, "nse-probe", &["verify", &dir_str]);
        let _ = std::fs::remove_dir_all(&dir);
        let out = out?;
        let kib = field(line_with(&out, "RESULT P3")?, "peak_rss_kib")?;
        let mb = kib * 1024.0 / 1e6;
        row = Some(Row {
            id: "P3",
            what: "peak RSS: load stored account (FileStore) + verify one push, no network",
            figure: format!("{mb:.1} MB ({kib:.0} KiB VmHWM)"),
            target: "≤ 8 MB",
            within: judged(smoke, mb <= 8.0),
            command: "nse-probe setup DIR && nse-probe verify DIR".into(),
        });
        Ok(())
    })?;
    row.ok_or_else(|| "P3 produced no figure".into())
}

fn p4(bins: &Path, smoke: bool) -> Result<Row, String> {
    let mut row = None;
    step("bench P4: loopback login latency", || {
        let logins = if smoke { 20 } else { LATENCY_LOGINS }.to_string();
        let warmup = if smoke { "2" } else { "50" };
        let args = ["latency", "--logins", &logins, "--warmup", warmup];
        let out = bin_cmd(bins, "tapprove-bench", &args)?;
        let line = line_with(&out, "RESULT P4")?;
        let (p50, p99) = (field(line, "p50_ms")?, field(line, "p99_ms")?);
        row = Some(Row {
            id: "P4",
            what: "login latency over loopback: create → event stream → answer → `accepted`",
            figure: format!("p50 {p50:.2} ms, p99 {p99:.2} ms ({logins} logins)"),
            // The targets are ratios to another build measured in the same run: judged in
            // "Targets as ratios" below, not from one run.
            target: "p50 and p99 ≤ 0.4× main's, same run (see \"Targets as ratios\")",
            within: None,
            command: format!("tapprove-bench {}", args.join(" ")),
        });
        Ok(())
    })?;
    row.ok_or_else(|| "P4 produced no figure".into())
}

/// P5's targets are ratios to another build in the same run (SQLite ≥ 4× main; PostgreSQL
/// ≥ 0.8× SQLite, 2 instances ≥ 1): one run cannot judge them.
const RATIO_TARGET: &str = "ratios to main and to SQLite, same run (see \"Targets as ratios\")";

/// The database of one P5 row.
enum P5Db {
    /// The default: a temporary SQLite file, one instance.
    Sqlite,
    /// A server's admin URL (the bench makes a fresh database on it) and the instances.
    Postgres { url: String, instances: usize },
}

fn p5(bins: &Path, smoke: bool, db: &P5Db) -> Result<Row, String> {
    let (title, what) = match db {
        P5Db::Sqlite => (
            "bench P5: concurrent login throughput (SQLite)",
            "complete logins/s, one device per user, SQLite",
        ),
        P5Db::Postgres { instances: 1, .. } => (
            "bench P5: concurrent login throughput (PostgreSQL, 1 instance)",
            "complete logins/s, one device per user, PostgreSQL, 1 instance",
        ),
        P5Db::Postgres { .. } => (
            "bench P5: concurrent login throughput (PostgreSQL, 2 instances)",
            "complete logins/s, one device per user, PostgreSQL, 2 instances on the same 2 cores, round robin",
        ),
    };
    let mut row = None;
    step(title, || {
        let users = if smoke { 10 } else { THROUGHPUT_USERS }.to_string();
        let each = if smoke { 2 } else { THROUGHPUT_LOGINS_PER_USER }.to_string();
        let instances;
        let mut args = vec!["throughput", "--users", &users, "--logins-per-user", &each];
        // The table shows the cluster's URL with its port left out: it changes every run.
        let mut shown = args.join(" ");
        if let P5Db::Postgres { url, instances: n } = db {
            instances = n.to_string();
            args.extend(["--database", url, "--instances", &instances]);
            shown.push_str(&format!(
                " --database postgres://postgres@127.0.0.1:PORT/postgres --instances {n}"
            ));
        }
        let out = bin_cmd(bins, "tapprove-bench", &args)?;
        let line = line_with(&out, "RESULT P5")?;
        let rate = field(line, "logins_per_s")?;
        let total = field(line, "logins")?;
        let (p50, p99) = (field(line, "p50_ms")?, field(line, "p99_ms")?);
        row = Some(Row {
            id: "P5",
            what,
            figure: format!(
                "{rate:.0} logins/s ({total:.0} logins, {users} users; latency p50 {p50:.0} ms, p99 {p99:.0} ms)"
            ),
            target: RATIO_TARGET,
            within: None,
            command: format!("tapprove-bench {shown}"),
        });
        Ok(())
    })?;
    row.ok_or_else(|| "P5 produced no figure".into())
}

/// P5 on PostgreSQL with 1 and 2 instances, on a throwaway cluster (the one of `cargo xtask
/// test postgres`). No rows, and no failure, when PostgreSQL cannot be installed or started:
/// the other figures still count.
fn p5_postgres(bins: &Path, smoke: bool) -> Result<Vec<Row>, String> {
    let cluster = match crate::postgres::Cluster::start() {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!(
                "xtask: P5 on PostgreSQL skipped: no PostgreSQL cluster ({e}); the SQLite row \
                 still counts. `cargo xtask test postgres` shows the same setup."
            );
            return Ok(Vec::new());
        }
    };
    let mut rows = Vec::new();
    for instances in [1, 2] {
        let db = P5Db::Postgres {
            url: cluster.url(),
            instances,
        };
        rows.push(p5(bins, smoke, &db)?);
    }
    drop(cluster);
    Ok(rows)
}

fn p6(smoke: bool) -> Result<Row, String> {
    let mut row = None;
    step(
        "bench P6: APNs sends per second to the loopback endpoint",
        || {
            let args: &[&str] = if smoke {
                &["test", "-p", "tapprove-push", "--bench", "apns_throughput"]
            } else {
                &["bench", "-p", "tapprove-push", "--bench", "apns_throughput"]
            };
            let out = capture("cargo", args, &[])?;
            let line = line_with(&out, "APNs loopback")?;
            let rate = number_after(line, ":")?;
            row = Some(Row {
                id: "P6",
                what: "APNs sends/s to the loopback endpoint, one HTTP/2 connection pool",
                figure: format!("{rate:.0} sends/s"),
                target: "≥ 10,000/s",
                within: judged(smoke, rate >= 10_000.0),
                command: format!("cargo {}", args.join(" ")),
            });
            Ok(())
        },
    )?;
    row.ok_or_else(|| "P6 produced no figure".into())
}

/// P6 for Web Push, beside APNs: one `WebPushSender` to the loopback push service.
fn p6_webpush(smoke: bool) -> Result<Row, String> {
    let mut row = None;
    step(
        "bench P6: Web Push sends per second to the loopback push service",
        || {
            let args: &[&str] = if smoke {
                &[
                    "test",
                    "-p",
                    "tapprove-push",
                    "--bench",
                    "webpush_throughput",
                ]
            } else {
                &[
                    "bench",
                    "-p",
                    "tapprove-push",
                    "--bench",
                    "webpush_throughput",
                ]
            };
            let out = capture("cargo", args, &[])?;
            let line = line_with(&out, "Web Push loopback")?;
            let rate = number_after(line, ":")?;
            row = Some(Row {
                id: "P6",
                what: "Web Push sends/s to the loopback push service (each encrypted, RFC 8291)",
                figure: format!("{rate:.0} sends/s"),
                // No target was set for Web Push: the figure is reported beside APNs'.
                target: "none set",
                within: None,
                command: format!("cargo {}", args.join(" ")),
            });
            Ok(())
        },
    )?;
    row.ok_or_else(|| "P6 (Web Push) produced no figure".into())
}

fn table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| id | measurement | figure | target | within target | command |\n\
         |----|-------------|--------|--------|---------------|---------|\n",
    );
    for r in rows {
        let within = match r.within {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        t.push_str(&format!(
            "| {} | {} | {} | {} | {within} | `{}` |\n",
            r.id, r.what, r.figure, r.target, r.command
        ));
    }
    t
}

/// Output of a shell command, trimmed, or `fallback`.
fn shell(cmd: &str, fallback: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| fallback.to_owned())
}

fn document(table: &str, breakdown: &str) -> Result<String, String> {
    let date = shell("date -u +%Y-%m-%d", "unknown date");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = shell(
        "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2",
        "unknown CPU",
    );
    let rustc = shell("rustc --version", "unknown rustc");
    Ok(format!(
        "# Performance\n\
\n\
The latest figures for the performance targets. Regenerate with\n\
`cargo xtask bench` (optimised builds; writes this file): about 2 minutes on 2 cores with warm\n\
builds, 10–15 minutes from cold.\n\
`cargo xtask bench --smoke` (debug builds, tiny counts; part of `cargo xtask test`) only\n\
checks that every benchmark still runs. Benchmarks print figures: nothing fails because a\n\
figure misses its target.\n\
\n\
Measured {date} on {cores} cores ({cpu}), Linux x86_64, {rustc}. The machine is shared with\n\
other builds, so treat single runs as ±20 %.\n\
\n\
{table}\n\
## How each figure is measured\n\
\n\
- **P1** — `core/benches/handle_push.rs`: criterion runs both, then medians of 41 interleaved\n\
  batches of 100 calls each give the ratio (same process, same signing input and key).\n\
- **P2** — `cargo xtask bindings --size`: `cargo build --release -p tapprove-bindings --lib`\n\
  (profile `release`: `opt-level = \"z\"`, fat LTO, one codegen unit, stripped; linked with\n\
  packed relative relocations and identical-code folding, bindings/build.rs), file size of\n\
  `target/release/libtapprove_ffi.so`.\n\
- **P3** — `bench/src/bin/nse_probe.rs`, built with the `bench` profile (opt-level 3, thin\n\
  LTO). `setup` writes a `FileStore` directory (device key, an account imported with\n\
  `Authenticator::import_account`, pinned to a service key made on the spot) and an APNs\n\
  payload with a challenge signed by that key; `verify` is the measured process: it opens\n\
  the store, builds an `Authenticator`, calls `handle_push` once and reads its own peak RSS\n\
  (`VmHWM` in `/proc/self/status`, the figure `getrusage` reports as `ru_maxrss`).\n\
- **P4** — `tapprove-bench latency` (`bench/src/main.rs`): one process runs the service\n\
  in-process (`Service::start` on port 0, temporary SQLite file, no push provider), a fake trust\n\
  webhook, one device paired through `tapprove_core::Authenticator::pair` and listening on\n\
  `Authenticator::events`, and the site. Per login the site `POST`s `/v1/push/sessions`, hands\n\
  the presence code to the device (what the user reads off the page), and long-polls\n\
  `GET /v1/push/sessions/{{id}}?wait=25` until `accepted`; the device receives the request on\n\
  the event stream and answers with `Authenticator::respond`. The figure is the site's time\n\
  from sending the create request to reading `accepted`, sequential logins, after 50 warm-up\n\
  logins. Everything shares the same 2 cores.\n\
- **P5** — `tapprove-bench throughput`: as P4 with {THROUGHPUT_USERS} users, each with its own\n\
  paired device and its own event stream, and one site worker per user logging in\n\
  {THROUGHPUT_LOGINS_PER_USER} times in sequence, all users concurrently (one warm-up login\n\
  per user first). Logins per second = completed logins / wall time. Service, devices and\n\
  site share the 2 cores, so the service gets well under 2 cores here. Profile and what is\n\
  left: \"Where P5's time goes\" below.\n\
  On PostgreSQL (`--database postgres://…`; the rows run on the throwaway cluster of\n\
  `cargo xtask test postgres`, xtask/src/postgres.rs: initdb in a temporary directory, a\n\
  loopback port, `fsync`, `synchronous_commit` and `full_page_writes` off) each run gets a\n\
  fresh database. `--instances 2` starts two `Service::start` instances in the process on\n\
  it; the site sends each call to the next instance (create on one, long-poll on the other),\n\
  each device pairs through one and listens and answers on the other, so every login\n\
  crosses instances through NOTIFY. PostgreSQL's processes, both instances, the devices and\n\
  the site all share the same 2 cores.\n\
  The service runs on its own tokio runtime (threads `tapprove-svc`), so the run also\n\
  prints (`RESULT P5BUDGET`) the CPU time per login of the service's threads (with SQLite's\n\
  connection threads), of the rest of the process and, on PostgreSQL, of the run's backends\n\
  (kernel per-thread and per-process accounting, `/proc`), the store's write transactions\n\
  per login, and the crypto floor measured in the same run.\n\
- **P5 budget** — `tapprove-bench budget`: sequential logins of one device (as P4); SQL\n\
  statements counted from sqlx's per-statement events (without `BEGIN`/`COMMIT`), write\n\
  transactions by the store's own counter (`Store::counts`), the service's CPU time per\n\
  login from its threads, and the crypto floor: the thread CPU time of the ES256 signature\n\
  and verification a login needs on the service (median of 21 batches, ring, same run).\n\
- **P6** — `push/benches/apns_throughput.rs`: one `ApnsSender` against the in-process loopback\n\
  APNs endpoint (HTTP/2, checks every request). Web Push: `push/benches/webpush_throughput.rs`,\n\
  one `WebPushSender` against the in-process loopback push service (checks VAPID and headers,\n\
  decrypts every message); each send does its own ECDH, HKDF and AES-GCM.\n\
- **P8** — `tapprove-bench streams` (`bench/src/streams.rs`): the service alone in a child\n\
  process (default limits but `max_connections` and the per-device stream cap raised), 5,000\n\
  accounts paired through the device core, then idle event streams opened as plain HTTP/1.1\n\
  requests with each account's request proof from 127.0.0.2–5 and held. Memory per stream =\n\
  growth of the child's resident memory (`VmRSS`) over the streams; login p50/p99 (as P4) before\n\
  and while they are held. Each process may open at most its descriptor limit\n\
  (`RLIMIT_NOFILE`): fewer streams are opened, and said so, when it is lower.\n\
\n\
**Rate limits raised for P4/P5.** The default push budget (`[limits]` in the service config,\n\
`LimitsConfig` in `server/src/service/config.rs`: 3 sessions per minute and 10 per hour per user,\n\
counted since the user's last approved login; 10 pairings per minute per IP, 120 per SDK key)\n\
would throttle a benchmark. The benchmark service sets `sessions_per_minute`,\n\
`sessions_per_hour`, `pairings_per_minute_per_ip` and `pairings_per_hour_per_user` to\n\
1,000,000 (`tapprove_bench::bench_limits`); everything else is the default configuration.\n\
For `tapprove serve` the same is `[limits]` in its TOML config.\n\
\n\
## What dominates the cdylib (P2)\n\
\n\
{breakdown}"
    ))
}
