//! `cargo xtask test ios`, second half: every type, function, method, property, enum case and
//! argument label that ios/Sources and ios/Sample use from the generated bindings must be
//! declared in the generated Swift (`ios/scripts/swift_api_check.py`, tree-sitter-swift), so an
//! FFI rename fails here instead of in an app developer's Xcode build. The checker's self-test
//! (a fixture app against fixture bindings before and after a rename) runs first, so a checker
//! that stopped catching renames fails too. The same check holds the notification categories to
//! the user-verification rule, and `ios/scripts/strings_check.py` the shell's languages.

use crate::bindings::{self, path_str};

/// Self-test of the checker, then the check of ios/ against `bindings/generated/swift`.
pub fn api_check() -> Result<(), String> {
    let generated = bindings::generated_dir();
    bindings::generate(&generated)?;
    let python = bindings::swift_parser_python()?;
    let scripts = bindings::repo_root().join("ios").join("scripts");
    let checker = scripts.join("swift_api_check.py");
    let fixtures = scripts.join("fixtures").join("api_check");
    bindings::run(
        path_str(&python)?,
        &[path_str(&checker)?, "--self-test", path_str(&fixtures)?],
    )?;
    let swift = generated.join("swift").join("Tapprove.swift");
    let ios = bindings::repo_root().join("ios");
    bindings::run(
        path_str(&python)?,
        &[path_str(&checker)?, path_str(&swift)?, path_str(&ios)?],
    )?;
    // The languages: the string catalog complete in English and German, no user-facing literal.
    let strings = scripts.join("strings_check.py");
    bindings::run(
        path_str(&python)?,
        &[path_str(&strings)?, "--self-test", path_str(&ios)?],
    )?;
    bindings::run(path_str(&python)?, &[path_str(&strings)?, path_str(&ios)?])
}
