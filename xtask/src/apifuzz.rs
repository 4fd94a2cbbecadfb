//! `cargo xtask test apifuzz`: schemathesis (PyPI) against a real service, through the OpenAPI
//! document (docs/openapi.json). Installs schemathesis and `cryptography` (the proof-signing
//! hook's ES256) into `.tools/apifuzz-venv` on first use, then runs the ignored
//! `server/tests/apifuzz.rs` test, which starts the service, pairs a device and runs the fuzzer.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bindings::{path_str, repo_root, run};

/// Pinned, so a CI run on a clean machine fuzzes with what was tested here.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
const CRYPTOGRAPHY: &str = "cryptography>=44";

/// The venv's `schemathesis`, installed when missing.
fn schemathesis() -> Result<PathBuf, String> {
    let venv = repo_root().join(".tools").join("apifuzz-venv");
    let python = venv.join("bin").join("python");
    let exe = venv.join("bin").join("schemathesis");
    let ready = |py: &Path| {
        Command::new(py)
            .args([
                "-c",
                "import cryptography, schemathesis, importlib.metadata as m; \
                 assert m.version('schemathesis') == '4.32.5'",
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ready(&python) {
        return Ok(exe);
    }
    if !python.exists() {
        run("python3", &["-m", "venv", path_str(&venv)?])?;
    }
    run(
        path_str(&python)?,
        &[
            "-m",
            "pip",
            "install",
            "--quiet",
            SCHEMATHESIS,
            CRYPTOGRAPHY,
        ],
    )?;
    if ready(&python) {
        Ok(exe)
    } else {
        Err("schemathesis is still not importable after installing it".into())
    }
}

/// The API-fuzz set.
pub fn test() -> Result<(), String> {
    let exe = schemathesis()?;
    let status = Command::new("cargo")
        .args([
            "test",
            "-p",
            "tapprove-server",
            "--test",
            "apifuzz",
            "--locked",
            "--",
            "--ignored",
            "--nocapture",
        ])
        .env("TAPPROVE_SCHEMATHESIS", &exe)
        .current_dir(repo_root())
        .status()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "the API fuzz test failed ({status}); its output above names each finding"
        ))
    }
}
