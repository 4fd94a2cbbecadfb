//! Python tools the test sets use (PyPI packages pinned by their callers), each in its own venv
//! under `.tools/`, installed on first use and checked on every use.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bindings::{path_str, repo_root, run};

/// The Python of the venv `.tools/<name>`, with `packages` installed: created when missing,
/// and installed into when `ready` (a Python snippet that fails until the packages are
/// importable at the wanted versions) fails.
pub(crate) fn python(name: &str, packages: &[&str], ready: &str) -> Result<PathBuf, String> {
    let venv = repo_root().join(".tools").join(name);
    let python = venv.join("bin").join("python");
    let is_ready = |py: &Path| {
        Command::new(py)
            .args(["-c", ready])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if is_ready(&python) {
        return Ok(python);
    }
    if !python.exists() {
        run("python3", &["-m", "venv", path_str(&venv)?])?;
    }
    let mut args = vec!["-m", "pip", "install", "--quiet"];
    args.extend_from_slice(packages);
    run(path_str(&python)?, &args)?;
    if is_ready(&python) {
        Ok(python)
    } else {
        Err(format!(
            "{} is still not importable after installing it into .tools/{name}",
            packages.join(", ")
        ))
    }
}
