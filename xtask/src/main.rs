//! `cargo xtask <command>`: the project's chores in one place.
//!
//! - `arch`     — check the crate arrows of docs/ARCHITECTURE.md (also the first step of `test`).
//! - `test`     — every test: Rust workspace, the server on PostgreSQL, Kotlin on the JVM, the Android module under
//!   Robolectric, the Swift checks, browser, Keycloak, a smoke run of every benchmark and of
//!   every fuzz target. Installs what it needs (idempotently) on the way.
//! - `test SET…` — only those sets (`arch`, `rust`, `postgres`, `android`, `arm64`, `ios`, `browser`, `keycloak`,
//!   `radius`, `pam`, `bench`, `fuzz`, `apifuzz`; see [`TEST_SETS`]).
//! - `bindings` — generate Kotlin and Swift bindings into `bindings/generated/`.
//! - `package`  — the Android AARs and the Swift package of this version into `target/package/`.
//! - `bench`    — measure the performance targets and print the table (docs/PERFORMANCE.md).
//! - `fuzz`     — coverage-guided fuzzing: `--list`, `TARGET --time 60s` (docs/SECURITY.md).

mod android;
mod apifuzz;
mod arch;
mod arm64;
mod bench;
mod bindings;
mod fuzz;
mod ios;
mod keycloak;
mod package;
mod pam;
mod postgres;
mod pyvenv;
mod radius;
mod webpush;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("arch") => arch::command(&root()),
        Some("test") => test(&args[1..]),
        Some("bindings") => bindings::command(&args[1..]),
        Some("package") => package::command(&args[1..]),
        Some("bench") => bench::command(&args[1..]),
        Some("fuzz") => fuzz::command(&args[1..]),
        Some(other) => Err(format!("unknown command {other:?}; try `cargo xtask test`")),
        None => Err("usage: cargo xtask <arch|test|bindings|package|bench|fuzz>".into()),
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

/// The test sets of `cargo xtask test [SET]`, in the order the full run takes them: a name, what
/// the step prints, and the step.
type TestSet = (&'static str, &'static str, fn() -> Result<(), String>);
const TEST_SETS: &[TestSet] = &[
    ("arch", "arch: crate arrows and file sizes", || {
        arch::command(&root())
    }),
    ("rust", "rust: build and tests", rust_tests),
    (
        "postgres",
        "postgres: server tests and the PostgreSQL fault row on a throwaway cluster",
        postgres::test,
    ),
    (
        "android",
        "android: Kotlin on the JVM, the packaged AAR under Robolectric (Android 14 and 11)",
        test_android,
    ),
    (
        "arm64",
        "arm64: protocol, core and bindings tests on aarch64 under qemu",
        arm64::test,
    ),
    (
        "ios",
        "ios: Swift syntax, C header, the API ios/ uses",
        test_ios,
    ),
    (
        "browser",
        "browser: demo in headless chromium",
        browser_test,
    ),
    (
        "keycloak",
        "keycloak: extension in a real Keycloak, headless chromium",
        keycloak::test,
    ),
    (
        "pam",
        "pam: pam_tapprove.so with pamtester and a real sshd + ssh",
        pam::test,
    ),
    ("bench", "bench: smoke", || {
        bench::command(&["--smoke".to_string()])
    }),
    ("fuzz", "fuzz: every target briefly", fuzz::smoke),
    (
        "radius",
        "radius: tapprove-radius with radclient and FreeRADIUS",
        radius::test,
    ),
    (
        "apifuzz",
        "apifuzz: schemathesis through docs/openapi.json against a real service",
        apifuzz::test,
    ),
];

/// `cargo xtask test` runs every set; `cargo xtask test SET…` only those.
fn test(args: &[String]) -> Result<(), String> {
    for wanted in args {
        if !TEST_SETS.iter().any(|(name, _, _)| name == wanted) {
            let names: Vec<&str> = TEST_SETS.iter().map(|(name, _, _)| *name).collect();
            return Err(format!(
                "unknown test set {wanted:?}; the sets are: {}",
                names.join(", ")
            ));
        }
    }
    for (name, title, set) in TEST_SETS {
        if args.is_empty() || args.iter().any(|a| a == name) {
            step(title, set)?;
        }
    }
    eprintln!("\nall tests passed");
    Ok(())
}

/// The Android part: Kotlin on the JVM, then the module on Android 14 under Robolectric.
fn test_android() -> Result<(), String> {
    step("kotlin: JVM tests of the bindings", bindings::kotlin_test)?;
    step(
        "android: strings, package (AAR, Swift package), Robolectric tests on the AAR",
        android::robolectric_test,
    )
}

/// The iOS part: Swift syntax and C header, then the Swift shell's use of the generated API.
fn test_ios() -> Result<(), String> {
    step("swift: syntax and C header", bindings::swift_check)?;
    step("swift: API used by ios/ exists", ios::api_check)
}

fn rust_tests() -> Result<(), String> {
    // Formatting and lints first: they fail in seconds, the tests in minutes.
    for component in ["rustfmt", "clippy"] {
        let present = Command::new("cargo")
            .args([
                if component == "rustfmt" {
                    "fmt"
                } else {
                    "clippy"
                },
                "--version",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if !present {
            run("rustup", &["component", "add", component])?;
        }
    }
    run("cargo", &["fmt", "--all", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run(
        "cargo",
        &["build", "--workspace", "--all-targets", "--locked"],
    )?;
    run("cargo", &["test", "--workspace", "--locked"])?;
    // Web Push output against independent implementations (Python http_ece, py_vapid).
    webpush::python_peers()?;
    // The phone library's build for apps that bring their own HTTP stack (no built-in TLS).
    run(
        "cargo",
        &[
            "test",
            "-p",
            "tapprove-core",
            "--no-default-features",
            "--locked",
        ],
    )
}

fn browser_test() -> Result<(), String> {
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
}
