//! `cargo xtask test pam`: pam_tapprove.so (integrations/pam) in real PAM stacks — Debian's
//! `pamtester` and a real `sshd` on a loopback port logged into by `ssh` — against a real
//! `tapprove serve` (integrations/pam/tests/system.rs).
//!
//! Installs `pamtester openssh-server openssh-client` with apt when missing (idempotent; CI runs
//! as root on a fresh Debian 12). The tests create a local user and an `/etc/pam.d/` file and
//! remove both when they end, also on failure, so they need root: as another user this step
//! runs them through `sudo`.

use std::path::Path;
use std::process::Command;

/// The Debian packages the tests drive, and a file each one installs.
const PACKAGES: &[(&str, &str)] = &[
    ("pamtester", "/usr/bin/pamtester"),
    ("openssh-server", "/usr/sbin/sshd"),
    ("openssh-client", "/usr/bin/ssh"),
];

/// Runs the set; see the module docs.
pub fn test() -> Result<(), String> {
    ensure_packages()?;
    crate::run(
        "cargo",
        &[
            "build",
            "-p",
            "tapprove-cli",
            "--bin",
            "tapprove",
            "-p",
            "tapprove-pam",
            // The module itself (the cdylib the tests load) and the test binaries.
            "--lib",
            "--tests",
            "--locked",
        ],
    )?;
    let test = [
        "test",
        "-p",
        "tapprove-pam",
        "--locked",
        "--test",
        "system",
        "--",
        "--ignored",
        "--test-threads=1",
    ];
    if is_root() {
        crate::run("cargo", &test)
    } else {
        // The user and /etc/pam.d file need root; the build above stays the caller's.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut args = vec!["--preserve-env", cargo.as_str()];
        args.extend(test);
        crate::run("sudo", &args)
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn ensure_packages() -> Result<(), String> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, file)| !Path::new(file).exists())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {} (Debian packages)", missing.join(" "));
    // `env` carries the setting through sudo: no debconf questions, CI has no terminal.
    let (program, prefix): (&str, &[&str]) = if is_root() {
        ("env", &["DEBIAN_FRONTEND=noninteractive", "apt-get"])
    } else {
        (
            "sudo",
            &["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"],
        )
    };
    let update: Vec<&str> = prefix.iter().copied().chain(["update"]).collect();
    crate::run(program, &update)?;
    let install: Vec<&str> = prefix
        .iter()
        .copied()
        .chain(["install", "-y", "--no-install-recommends"])
        .chain(missing.iter().copied())
        .collect();
    crate::run(program, &install)
}
