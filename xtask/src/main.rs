//! `cargo xtask <command>`: the project's chores in one place.
//!
//! - `arch`     — check the crate arrows of docs/ARCHITECTURE.md (also the first step of `test`).
//! - `test`     — every test: Rust workspace, Kotlin on the JVM, Swift syntax, browser, and a
//!   smoke run of every benchmark. Installs what it needs (idempotently) on the way.
//! - `test postgres` — only the server's tests, against a throwaway PostgreSQL cluster.
//! - `bindings` — generate Kotlin and Swift bindings into `bindings/generated/`.
//! - `bench`    — measure the performance targets and print the table (docs/PERFORMANCE.md).

mod arch;
mod bench;
mod bindings;
mod postgres;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("arch") => arch::command(&root()),
        Some("test") => test(&args[1..]),
        Some("bindings") => bindings::command(&args[1..]),
        Some("bench") => bench::command(&args[1..]),
        Some(other) => Err(format!("unknown command {other:?}; try `cargo xtask test`")),
        None => Err("usage: cargo xtask <arch|test|bindings|bench>".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The repository root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Runs a command in the repository root, failing with its name if it fails.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("xtask: $ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .status()
        .map_err(|e| format!("could not start {program}: {e} (is it installed?)"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

/// Runs one named step and reports its duration, so a slow CI run shows where time went.
fn step(name: &str, f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let start = Instant::now();
    eprintln!("\n==> {name}");
    let result = f();
    eprintln!(
        "<== {name}: {} in {:.0?}",
        if result.is_ok() { "ok" } else { "FAILED" },
        start.elapsed()
    );
    result.map_err(|e| format!("{name}: {e}"))
}

fn test(args: &[String]) -> Result<(), String> {
    if args.first().is_some_and(|a| a == "postgres") {
        return step("postgres: server tests", postgres::test);
    }
    step("arch: crate arrows", || arch::command(&root()))?;
    step("rust: build", || {
        run(
            "cargo",
            &["build", "--workspace", "--all-targets", "--locked"],
        )
    })?;
    step("rust: tests", || {
        run("cargo", &["test", "--workspace", "--locked"])
    })?;
    step("postgres: server tests", postgres::test)?;
    step("kotlin: JVM tests of the bindings", bindings::kotlin_test)?;
    step("swift: syntax and C header", bindings::swift_check)?;
    step("browser: demo in headless chromium", || {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"));
        let bin = target.join("debug").join("tapprove");
        eprintln!("xtask: TAPPROVE_BIN={}", bin.display());
        let status = Command::new("bash")
            .arg("tests/browser/run.sh")
            .env("TAPPROVE_BIN", &bin)
            .current_dir(root())
            .status()
            .map_err(|e| format!("could not start bash: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("tests/browser/run.sh failed ({status})"))
        }
    })?;
    step("bench: smoke", || bench::command(&["--smoke".to_string()]))?;
    eprintln!("\nall tests passed");
    Ok(())
}
