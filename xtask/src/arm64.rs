//! `cargo xtask test arm64`: the phone's CPU for real. Cross-builds protocol, core and bindings
//! for `aarch64-unknown-linux-gnu` (Debian's cross gcc and glibc) and runs their tests under
//! `qemu-aarch64` (user-mode emulation): ring's and the sealed-box code's aarch64 assembly
//! paths run, not the x86_64 ones. The tests' servers (the core's protocol stub, the bindings'
//! loopback servers) are part of the test binaries and run under qemu too, over loopback; no
//! test of these crates needs a `tapprove serve`. The phone build is tested (no built-in TLS:
//! core's `tls` test, which needs it, runs on the host only).
//!
//! Installs what it needs, idempotently: apt `gcc-aarch64-linux-gnu libc6-dev-arm64-cross
//! qemu-user` and `rustup target add aarch64-unknown-linux-gnu`.

use std::process::Command;

use crate::bindings::{self, repo_root};

/// The Linux arm64 target the tests run on.
pub(crate) const TARGET: &str = "aarch64-unknown-linux-gnu";

/// The crates of the phone library.
const CRATES: [&str; 3] = ["tapprove-protocol", "tapprove-core", "tapprove-bindings"];

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs the cross toolchain, qemu and the Rust target when missing.
pub(crate) fn ensure_toolchain() -> Result<(), String> {
    if !(have("aarch64-linux-gnu-gcc") && have("qemu-aarch64")) {
        let sudo = if have("sudo") && !is_root() {
            vec!["sudo"]
        } else {
            vec![]
        };
        let apt = |args: &[&str]| {
            let mut full: Vec<&str> = sudo.clone();
            full.push("apt-get");
            full.extend_from_slice(args);
            bindings::run(full[0], &full[1..])
        };
        apt(&["update", "-qq"])?;
        apt(&[
            "install",
            "-y",
            "-qq",
            "gcc-aarch64-linux-gnu",
            "libc6-dev-arm64-cross",
            "qemu-user",
        ])?;
    }
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("could not start rustup: {e} (the arm64 set needs rustup)"))?;
    if !String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == TARGET)
    {
        bindings::run("rustup", &["target", "add", TARGET])?;
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `cargo` with the cross linker, C compiler (ring's assembly) and qemu as the runner.
pub(crate) fn cargo(args: &[&str]) -> Result<(), String> {
    eprintln!("xtask: $ cargo {} (target {TARGET})", args.join(" "));
    let status = Command::new("cargo")
        .args(args)
        .current_dir(repo_root())
        // A build directory of its own: the cross build (and its host build scripts) does not
        // lock `target/debug`, so other sets can build meanwhile.
        .env("CARGO_TARGET_DIR", target_dir())
        .env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
            "aarch64-linux-gnu-gcc",
        )
        .env("CC_aarch64_unknown_linux_gnu", "aarch64-linux-gnu-gcc")
        .env("AR_aarch64_unknown_linux_gnu", "aarch64-linux-gnu-ar")
        .env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER",
            "qemu-aarch64 -L /usr/aarch64-linux-gnu",
        )
        // The URL parser's differential proptest (20 000 cases on the host) checks logic that
        // does not depend on the CPU; under emulation a sample keeps the set to minutes.
        .env("PROPTEST_CASES", "500")
        .status()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo {}` for {TARGET} failed ({status})",
            args.join(" ")
        ))
    }
}

/// Where the arm64 builds go: `target/arm64`.
pub(crate) fn target_dir() -> std::path::PathBuf {
    bindings::target_dir().join("arm64")
}

/// Cross-builds the phone crates' tests for arm64 and runs them under qemu, in the phone
/// library's build (no built-in TLS, `--no-default-features`).
pub fn test() -> Result<(), String> {
    ensure_toolchain()?;
    eprintln!(
        "xtask: arm64 runs the phone build (no built-in TLS): core's `tls` test is not run here \
         (the terminal authenticator's TLS is tested on the host; that test also re-executes \
         itself, which qemu-user cannot do without binfmt_misc)"
    );
    let mut args = vec![
        "test",
        "--locked",
        "--no-default-features",
        "--target",
        TARGET,
    ];
    for krate in CRATES {
        args.extend(["-p", krate]);
    }
    cargo(&args)
}
