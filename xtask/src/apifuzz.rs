//! `cargo xtask test apifuzz`: schemathesis (PyPI) against a real service, through the OpenAPI
//! document (docs/openapi.json). Installs schemathesis and `cryptography` (the proof-signing
//! hook's ES256) into `.tools/apifuzz-venv` on first use, then runs the ignored
//! `server/tests/apifuzz.rs` test, which starts the service, pairs a device and runs the fuzzer.

use std::path::PathBuf;
use std::process::Command;

use crate::bindings::repo_root;

/// Pinned, so a CI run on a clean machine fuzzes with what was tested here.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
const CRYPTOGRAPHY: &str = "cryptography>=44";

/// The venv's `schemathesis`, installed when missing.
fn schemathesis() -> Result<PathBuf, String> {
    let python = crate::pyvenv::python(
        "apifuzz-venv",
        &[SCHEMATHESIS, CRYPTOGRAPHY],
        "import cryptography, schemathesis, importlib.metadata as m; \
         assert m.version('schemathesis') == '4.32.5'",
    )?;
    Ok(python.with_file_name("schemathesis"))
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
