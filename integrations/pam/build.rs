//! Lets the module link where only the run-time libpam is installed.
//!
//! `pam-bindings` links `-lpam`, and the linker looks for `libpam.so`, which Debian ships only
//! in `libpam0g-dev`. Every system with PAM has `libpam.so.0` (what the module binds to at run
//! time anyway), so when the development link is missing we point the linker at that one.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let multiarch = format!("{arch}-linux-gnu");
    let dirs: Vec<PathBuf> = [
        format!("/usr/lib/{multiarch}"),
        format!("/lib/{multiarch}"),
        "/usr/lib64".into(),
        "/lib64".into(),
        "/usr/lib".into(),
        "/lib".into(),
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect();
    if dirs.iter().any(|d| d.join("libpam.so").exists()) {
        return;
    }
    let Some(runtime) = dirs
        .iter()
        .map(|d| d.join("libpam.so.0"))
        .find(|p| p.exists())
    else {
        // Let the linker say what is missing (install libpam0g-dev or your system's libpam).
        return;
    };
    let Some(out) = std::env::var_os("OUT_DIR") else {
        return;
    };
    let dir = Path::new(&out).join("libpam-link");
    let link = dir.join("libpam.so");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::remove_file(&link);
    if std::os::unix::fs::symlink(&runtime, &link).is_ok() {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
}
