//! `cargo xtask test android`, second half: the Android module (android/src/main + src/common +
//! the generated Kotlin) compiled against the Android 14 framework and its glue tested under
//! Robolectric against a real `tapprove serve` (`android/robolectric/pom.xml`; no Gradle, no
//! Android SDK). The first run fetches the framework and Robolectric from Maven Central into
//! `~/.m2` and preloads Android 14 for Robolectric into `.tools/robolectric`; later runs work
//! offline.

use crate::bindings;

/// Compiles the Android module against Android 14 (zero errors or the step fails) and runs the
/// Robolectric suite.
pub fn robolectric_test() -> Result<(), String> {
    let pom = bindings::repo_root()
        .join("android")
        .join("robolectric")
        .join("pom.xml");
    bindings::maven_test(
        &pom,
        "the Android module did not compile against Android 14, or a Robolectric test failed (see the Maven output above)",
    )
}
