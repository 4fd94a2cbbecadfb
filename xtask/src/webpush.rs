//! Web Push against independent implementations: Python's `http_ece` (RFC 8291 decryption)
//! and `py_vapid` (RFC 8292 verification), installed into `target/webpush-venv` on first use;
//! then the ignored `push/tests/webpush.rs` test that hands them the sender's real output.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bindings::{path_str, repo_root, run};

/// Pinned, so a CI run on a clean machine checks against what was tested here.
const HTTP_ECE: &str = "http-ece==1.2.1";
const PY_VAPID: &str = "py-vapid==1.9.6";

/// The venv Python with both, created when missing.
fn peers_python() -> Result<PathBuf, String> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let venv = target.join("webpush-venv");
    let python = venv.join("bin").join("python");
    let ready = |py: &Path| {
        Command::new(py)
            .args([
                "-c",
                "import http_ece, py_vapid, importlib.metadata as m; \
                 assert m.version('http_ece') == '1.2.1' and m.version('py_vapid') == '1.9.6'",
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ready(&python) {
        return Ok(python);
    }
    if !python.exists() {
        run("python3", &["-m", "venv", path_str(&venv)?])?;
    }
    run(
        path_str(&python)?,
        &["-m", "pip", "install", "--quiet", HTTP_ECE, PY_VAPID],
    )?;
    if ready(&python) {
        Ok(python)
    } else {
        Err("http_ece / py_vapid are still not importable after installing them".into())
    }
}

/// Runs the peers test.
pub fn python_peers() -> Result<(), String> {
    let python = peers_python()?;
    let status = Command::new("cargo")
        .args([
            "test",
            "-p",
            "tapprove-push",
            "--test",
            "webpush",
            "--locked",
            "--",
            "--ignored",
            "python_http_ece_decrypts_and_py_vapid_verifies",
        ])
        .env("TAPPROVE_WEBPUSH_PYTHON", &python)
        .current_dir(repo_root())
        .status()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the Web Push peers test failed ({status})"))
    }
}

/// The UnifiedPush connector the Android adapter compiles against (Maven Central's AAR).
const CONNECTOR: &str = "org.unifiedpush.android:connector:3.1.2:aar";

/// `target/unifiedpush/connector-classes.jar`: the connector AAR's classes.jar (fetched into
/// `~/.m2` when missing), where android/package/pom.xml and android/robolectric/pom.xml read it.
pub fn connector_classes() -> Result<PathBuf, String> {
    let out = repo_root()
        .join("target")
        .join("unifiedpush")
        .join("connector-classes.jar");
    if out.is_file() {
        return Ok(out);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or("HOME is not set (needed for ~/.m2)")?;
    let aar =
        home.join(".m2/repository/org/unifiedpush/android/connector/3.1.2/connector-3.1.2.aar");
    if !aar.is_file() {
        run(
            "mvn",
            &[
                "-B",
                "--no-transfer-progress",
                "dependency:get",
                &format!("-Dartifact={CONNECTOR}"),
            ],
        )?;
    }
    let dir = out.parent().ok_or("no parent directory")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    crate::package::extract(&aar, "classes.jar", &out)?;
    Ok(out)
}
