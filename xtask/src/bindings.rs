//! Bindings chores: generate Kotlin/Swift from the built library, run the Kotlin tests on the
//! JVM (Maven), parse the Swift, and measure the release cdylib.
//!
//! - [`generate`]: `cargo xtask bindings` → `bindings/generated/{kotlin,swift}` (gitignored).
//! - [`kotlin_test`]: generated Kotlin + `android/src/common` + JUnit tests in
//!   `android/jvm-tests` against the host-built `libtapprove_ffi` and a real `tapprove serve`.
//! - [`swift_check`]: every `.swift` (generated and `ios/`) parsed with tree-sitter-swift, the C
//!   header through `gcc -fsyntax-only`, and the header's symbols checked against `nm -D`.
//! - [`cdylib_size`]: stripped size of the release `libtapprove_ffi`, phone default build
//!   (target ≤ 2.5 MB); `--size` also builds it for aarch64 (goal ≤ 1.2 MB) and prints the
//!   host size with the built-in TLS.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Versions of the Python Swift parser, installed into `.tools/venv` on first use.
const TREE_SITTER: &str = "tree-sitter==0.26.*";
const TREE_SITTER_SWIFT: &str = "tree-sitter-swift==0.7.4";

/// Target size of the stripped release cdylib (x86_64 Linux, as a proxy for the mobile ones).
pub const CDYLIB_SIZE_TARGET: u64 = 2_500_000;
/// Goal for the phone library on aarch64 (printed beside the figure, not enforced).
const ARM64_SIZE_GOAL: u64 = 1_200_000;

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// File name of the host cdylib.
fn cdylib_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "libtapprove_ffi.dylib"
    } else {
        "libtapprove_ffi.so"
    }
}

pub(crate) fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// Runs `program args…` in the repository root; an error names the command.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<(), String> {
    run_in(&repo_root(), program, args)
}

fn run_in(dir: &Path, program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("xtask: $ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .map_err(|e| format!("could not start {program}: {e} (is it installed?)"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

pub(crate) fn path_str(p: &Path) -> Result<&str, String> {
    p.to_str()
        .ok_or_else(|| format!("path {} is not UTF-8", p.display()))
}

/// Builds `tapprove-bindings` (debug) and the workspace bindgen in one cargo invocation (so uniffi's
/// features are unified once), then generates Kotlin into `out/kotlin` and Swift (plus the C
/// header and modulemap) into `out/swift`. Generation reads the uniffi metadata from the
/// unstripped debug library; the code works unchanged against release/stripped builds.
pub fn generate(out: &Path) -> Result<(), String> {
    run(
        "cargo",
        &["build", "-p", "tapprove-bindings", "-p", "uniffi-bindgen"],
    )?;
    let target = target_dir().join("debug");
    let lib = target.join(cdylib_name());
    let bindgen = target.join(exe("uniffi-bindgen"));
    for language in ["kotlin", "swift"] {
        let dir = out.join(language);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
        }
        run(
            path_str(&bindgen)?,
            &[
                "generate",
                "--library",
                path_str(&lib)?,
                "--language",
                language,
                "--out-dir",
                path_str(&dir)?,
                "--no-format",
            ],
        )?;
    }
    eprintln!("xtask: bindings written to {}", out.display());
    Ok(())
}

/// Where the generated bindings live in the repository.
pub(crate) fn generated_dir() -> PathBuf {
    repo_root().join("bindings").join("generated")
}

/// Compiles the generated Kotlin, the Android-free sources (`android/src/common/kotlin`) and the
/// JUnit tests (`android/jvm-tests`) with Maven and runs them against the host-built cdylib and
/// a real `tapprove serve` (`target/debug/tapprove`).
pub fn kotlin_test() -> Result<(), String> {
    let pom = repo_root()
        .join("android")
        .join("jvm-tests")
        .join("pom.xml");
    maven_test(&pom, "the Kotlin tests failed (see the Maven output above)")
}

/// Generates the bindings, builds `tapprove`, then runs `mvn clean test` on `pom` with the
/// library directory, the binary and the repository root as properties. Maven runs offline
/// once its local repository has everything (after the first successful run), online
/// otherwise.
pub(crate) fn maven_test(pom: &Path, failed: &str) -> Result<(), String> {
    generate(&generated_dir())?;
    run(
        "cargo",
        &["build", "-p", "tapprove-cli", "--bin", "tapprove"],
    )?;
    let root = repo_root();
    let lib_dir = target_dir().join("debug");
    let tapprove = lib_dir.join(exe("tapprove"));
    let props = [
        format!("-Dtapprove.libdir={}", path_str(&lib_dir)?),
        format!("-Dtapprove.bin={}", path_str(&tapprove)?),
        format!("-Dtapprove.root={}", path_str(&root)?),
    ];
    let mut args: Vec<&str> = vec!["-B", "--no-transfer-progress", "-f", path_str(pom)?];
    args.extend(props.iter().map(String::as_str));
    args.extend(["clean", "test"]);
    // Offline first (fast, and works without a network once the local repository is filled);
    // only if Maven says an artifact is missing in offline mode, the same run goes online.
    let mut offline = vec!["-o"];
    offline.extend(&args);
    match run_scanning("mvn", &offline, "offline mode")? {
        (true, _) => Ok(()),
        (false, true) => {
            eprintln!(
                "xtask: Maven needs artifacts it has not downloaded yet; running online (the first run fetches them into ~/.m2)"
            );
            run("mvn", &args)
        }
        (false, false) => Err(failed.into()),
    }
}

/// Runs a command in the repository root, echoing its output, and reports (success, whether
/// `needle` appeared in its output).
fn run_scanning(program: &str, args: &[&str], needle: &str) -> Result<(bool, bool), String> {
    use std::io::{BufRead as _, BufReader};
    use std::process::Stdio;
    eprintln!("xtask: $ {program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {program}: {e} (is it installed?)"))?;
    let mut seen = false;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            seen |= line.contains(needle);
            println!("{line}");
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("{program} did not finish: {e}"))?;
    Ok((status.success(), seen))
}

/// The venv Python with tree-sitter-swift, created under `.tools/venv` when missing.
pub(crate) fn swift_parser_python() -> Result<PathBuf, String> {
    crate::pyvenv::python(
        "venv",
        &[TREE_SITTER, TREE_SITTER_SWIFT],
        "import tree_sitter, tree_sitter_swift",
    )
}

/// Parses every Swift file (generated and `ios/`) and fails on any syntax error; checks the
/// generated C header with `gcc -fsyntax-only`, and that every `uniffi_*`/`ffi_*` function it
/// declares is exported by the host cdylib (`nm -D`).
pub fn swift_check() -> Result<(), String> {
    let generated = generated_dir();
    generate(&generated)?;
    let root = repo_root();
    let python = swift_parser_python()?;
    let swift = generated.join("swift");
    let ios = root.join("ios");
    let script = ios.join("scripts").join("swift_syntax_check.py");
    run(
        path_str(&python)?,
        &[path_str(&script)?, path_str(&swift)?, path_str(&ios)?],
    )?;

    // Through an #include, as a C/Objective-C user sees it (and `#pragma once` stays quiet).
    let header = swift.join("TapproveFFI.h");
    let include = target_dir().join("tapprove_ffi_header_check.c");
    std::fs::write(&include, "#include \"TapproveFFI.h\"\n")
        .map_err(|e| format!("cannot write {}: {e}", include.display()))?;
    let include_dir = format!("-I{}", path_str(&swift)?);
    run(
        "gcc",
        &[
            "-fsyntax-only",
            "-Wall",
            "-Werror",
            "-D_Nonnull=",
            "-D_Nullable=",
            &include_dir,
            path_str(&include)?,
        ],
    )?;

    let text = std::fs::read_to_string(&header)
        .map_err(|e| format!("cannot read {}: {e}", header.display()))?;
    let declared = declared_functions(&text);
    if declared.is_empty() {
        return Err(format!("no uniffi functions found in {}", header.display()));
    }
    let lib = target_dir().join("debug").join(cdylib_name());
    let nm = Command::new("nm")
        .args(["-D", "--defined-only", path_str(&lib)?])
        .output()
        .map_err(|e| format!("could not run nm: {e} (install binutils)"))?;
    if !nm.status.success() {
        return Err(format!("nm -D {} failed", lib.display()));
    }
    let exported: BTreeSet<String> = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .collect();
    let missing: Vec<_> = declared.iter().filter(|f| !exported.contains(*f)).collect();
    if !missing.is_empty() {
        return Err(format!(
            "the header declares functions the library does not export: {missing:?}"
        ));
    }
    eprintln!(
        "xtask: header OK; all {} declared functions are exported",
        declared.len()
    );
    Ok(())
}

/// Names of the C functions the generated header declares (`uniffi_…(` / `ffi_…(`).
fn declared_functions(header: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in header.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with("//") || line.starts_with("typedef") {
            continue;
        }
        for (i, _) in line.match_indices(['u', 'f']) {
            let rest = &line[i..];
            if !(rest.starts_with("uniffi_") || rest.starts_with("ffi_")) {
                continue;
            }
            if i > 0
                && line[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if rest[name.len()..].trim_start().starts_with('(') {
                out.insert(name);
            }
        }
    }
    out
}

/// Builds `tapprove-bindings` in release (the root profile: opt-level z, fat LTO, one codegen
/// unit, strip) with `extra` arguments (features, a target) and returns the size of the
/// stripped cdylib in bytes.
fn cdylib_size_with(what: &str, extra: &[&str], arm64: bool) -> Result<u64, String> {
    let mut args = vec!["build", "--release", "-p", "tapprove-bindings", "--lib"];
    args.extend_from_slice(extra);
    let lib = if arm64 {
        args.extend(["--target", crate::arm64::TARGET]);
        crate::arm64::cargo(&args)?;
        crate::arm64::target_dir()
            .join(crate::arm64::TARGET)
            .join("release")
            .join("libtapprove_ffi.so")
    } else {
        run("cargo", &args)?;
        target_dir().join("release").join(cdylib_name())
    };
    let size = std::fs::metadata(&lib)
        .map_err(|e| format!("cannot read {}: {e}", lib.display()))?
        .len();
    eprintln!(
        "xtask: {what}: {} is {size} bytes ({:.2} MB) stripped",
        lib.display(),
        size as f64 / 1e6,
    );
    Ok(size)
}

/// The phone library's stripped size (default features: platform networking, no built-in
/// TLS), on this host.
pub fn cdylib_size() -> Result<u64, String> {
    cdylib_size_with("phone default build (host)", &[], false)
}

/// `cargo xtask bindings [--size | --kotlin-test | --swift-check]`: generate the bindings, or
/// check the release cdylib size, or run one of the foreign-language checks alone.
pub fn command(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        None => generate(&generated_dir()),
        Some("--kotlin-test") => kotlin_test(),
        Some("--swift-check") => swift_check(),
        Some("--size") => {
            let with_tls = cdylib_size_with(
                "with the built-in TLS (--features builtin-tls, host)",
                &["--features", "builtin-tls"],
                false,
            )?;
            // The default last on the host, so that target/release holds it afterwards.
            let default = cdylib_size()?;
            crate::arm64::ensure_toolchain()?;
            let arm64 = cdylib_size_with("phone default build (aarch64)", &[], true)?;
            println!(
                "P2 phone default: x86_64 {default} bytes ({:.2} MB), aarch64 {arm64} bytes ({:.2} MB, goal <= {:.1} MB); x86_64 with the built-in TLS {with_tls} bytes ({:.2} MB)",
                default as f64 / 1e6,
                arm64 as f64 / 1e6,
                ARM64_SIZE_GOAL as f64 / 1e6,
                with_tls as f64 / 1e6,
            );
            if default <= CDYLIB_SIZE_TARGET && arm64 <= CDYLIB_SIZE_TARGET {
                Ok(())
            } else {
                Err(format!(
                    "the phone library is {default} bytes (x86_64) / {arm64} bytes (aarch64), over the {CDYLIB_SIZE_TARGET}-byte target"
                ))
            }
        }
        Some(other) => Err(format!(
            "unknown option {other:?}; try `cargo xtask bindings [--size | --kotlin-test | --swift-check]`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_declared_functions_only() {
        let header = "#ifndef UNIFFI_FFIDEF_X\n#define UNIFFI_FFIDEF_X\n\
            typedef void (*UniffiCallback)(uint64_t handle);\n\
            uint64_t uniffi_tapprove_ffi_fn_clone_authenticator(uint64_t handle, RustCallStatus *_Nonnull out_status\n);\n\
            RustBuffer ffi_tapprove_ffi_rustbuffer_alloc(uint64_t size, RustCallStatus *_Nonnull out_status);\n\
            void my_uniffi_thing(void);\n";
        let found: Vec<_> = declared_functions(header).into_iter().collect();
        assert_eq!(
            found,
            [
                "ffi_tapprove_ffi_rustbuffer_alloc",
                "uniffi_tapprove_ffi_fn_clone_authenticator"
            ]
        );
    }
}
