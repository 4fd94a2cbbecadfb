//! `cargo xtask test radius`: tapprove-radius with the real programs a VPN deployment has.
//!
//! Installs Debian's `freeradius` (the upstream password server) and `freeradius-utils`
//! (`radclient`, the NAS) when `freeradius` or `radclient` is missing (`apt-get update` first;
//! as root, or through sudo), then runs every test of `tapprove-radius`, including the ignored
//! ones that need those programs (`integrations/radius/tests/freeradius.rs`: each starts its own
//! FreeRADIUS from a config in a temp dir, on a free loopback port, never the system service),
//! after building the `tapprove` binary, whose terminal authenticator answers the pushes of
//! the end-to-end test.

use std::process::Command;

use crate::run;

/// `cargo xtask test radius`.
pub fn test() -> Result<(), String> {
    ensure_installed()?;
    // The terminal authenticator is the phone of the end-to-end VPN test.
    run("cargo", &["build", "-p", "tapprove-cli", "--locked"])?;
    run(
        "cargo",
        &[
            "test",
            "-p",
            "tapprove-radius",
            "--locked",
            "--",
            "--include-ignored",
        ],
    )
}

fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ensure_installed() -> Result<(), String> {
    if installed("radclient") && (installed("freeradius") || installed("/usr/sbin/freeradius")) {
        return Ok(());
    }
    eprintln!("xtask: installing freeradius freeradius-utils (Debian packages)");
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let apt = |args: &[&str]| -> Result<(), String> {
        if root_user {
            run("apt-get", args)
        } else {
            let mut all = vec!["apt-get"];
            all.extend(args);
            run("sudo", &all)
        }
    };
    apt(&["update"])?;
    apt(&[
        "install",
        "-y",
        "--no-install-recommends",
        "freeradius",
        "freeradius-utils",
    ])
    .map_err(|e| {
        format!("{e}; install them (Debian: apt-get install freeradius freeradius-utils) and retry")
    })
}
