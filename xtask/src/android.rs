//! `cargo xtask test android`, second half: the Android library packaged as an app gets it
//! (`cargo xtask package`: android/src/main + src/common + the FCM adapter + the generated Kotlin
//! compiled against the Android 14 framework into AARs) and its glue tested under Robolectric
//! against the AAR's classes.jar and a real `tapprove serve` (`android/robolectric/pom.xml`; no
//! Gradle, no Android SDK). The library's resources (its strings in English and German, the
//! backup rules) are compiled first with Debian's `aapt` into `target/android-res/`: the `R`
//! class the Kotlin compiles against, `R.txt`, and the resource APK Robolectric loads. The first
//! run fetches the frameworks and Robolectric from Maven Central into `~/.m2` and preloads
//! Android 14 and 11 for Robolectric into `.tools/robolectric`; later runs work offline.

use crate::bindings::{self, path_str};
use crate::package;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Android 14 framework jar the module compiles against (and `aapt` links against).
const ANDROID_ALL: &str = "org.robolectric:android-all:14-robolectric-10818077";
/// The library's package (its `R` class lives there).
pub const PACKAGE: &str = "dev.tapprove.android";
/// The library's minSdk (as in build.gradle.kts).
const MIN_SDK: u32 = 26;
/// The target SDK of the app the Robolectric tests stand for.
const TEST_TARGET_SDK: u32 = 34;

/// Checks the strings, packages the library (`cargo xtask package`: resources, classes compiled
/// against Android 14 with zero errors, the AARs and the Swift package) and checks the packages,
/// then runs the Robolectric suite against the AAR's classes.jar.
pub fn robolectric_test() -> Result<(), String> {
    strings_check()?;
    let release = package::build()?;
    package::check(&release)?;
    let pom = bindings::repo_root()
        .join("android")
        .join("robolectric")
        .join("pom.xml");
    bindings::maven_test(
        &pom,
        "the Android module did not compile against Android 14, or a Robolectric test failed (see the Maven output above)",
    )
}

/// Where the compiled resources go; android/robolectric/pom.xml reads them from there.
pub fn resources_dir() -> PathBuf {
    bindings::repo_root().join("target").join("android-res")
}

/// What [compile_resources] wrote.
pub struct Resources {
    /// `R.txt`: every resource and its id, for the AAR.
    pub r_txt: PathBuf,
    /// The manifest as compiled (the library's, with its package).
    pub manifest: PathBuf,
}

/// `aapt package` over android/src/main/res: `gen/…/R.java` (non-final ids, as a library's R
/// is), `R.txt`, and `resources.ap_` plus a
/// Robolectric `test_config.properties` that points at it (binary resources, as the Android
/// Gradle plugin's `includeAndroidResources` sets up).
pub fn compile_resources(out: &Path) -> Result<Resources, String> {
    ensure_aapt()?;
    let android_all = android_all_jar()?;
    let root = bindings::repo_root();
    let generated = out.join("gen");
    let _ = std::fs::remove_dir_all(out);
    for dir in [
        &generated,
        &out.join("assets"),
        &out.join("test-config/com/android/tools"),
        &out.join("test-manifest"),
    ] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    }
    // aapt needs the package in the manifest; the Gradle build takes it from `namespace`.
    let source = root.join("android/src/main/AndroidManifest.xml");
    let text = std::fs::read_to_string(&source)
        .map_err(|e| format!("could not read {}: {e}", source.display()))?;
    // The AAR's manifest also says the minSdk (as the Gradle build's `defaultConfig` would).
    let manifest = out.join("AndroidManifest.xml");
    let with_package = text.replacen(
        "<manifest ",
        &format!("<manifest package=\"{PACKAGE}\" "),
        1,
    );
    let library = with_package.replacen(
        "<uses-permission ",
        &format!("<uses-sdk android:minSdkVersion=\"{MIN_SDK}\" />\n\n    <uses-permission "),
        1,
    );
    if with_package == text || library == with_package {
        return Err(format!(
            "{} has no <manifest element or no <uses-permission to place <uses-sdk> before",
            source.display()
        ));
    }
    write(&manifest, &library)?;
    // Robolectric reads the app's target SDK from the manifest it is given: without one it
    // would run the tests as an app targeting API 1.
    let test_manifest = out.join("test-manifest").join("AndroidManifest.xml");
    write(
        &test_manifest,
        &library.replacen(
            &format!("android:minSdkVersion=\"{MIN_SDK}\""),
            &format!(
                "android:minSdkVersion=\"{MIN_SDK}\" android:targetSdkVersion=\"{TEST_TARGET_SDK}\""
            ),
            1,
        ),
    )?;
    let apk = out.join("resources.ap_");
    bindings::run(
        "aapt",
        &[
            "package",
            "-f",
            "-m",
            "--non-constant-id",
            "-J",
            path_str(&generated)?,
            "--output-text-symbols",
            path_str(out)?,
            "-M",
            path_str(&manifest)?,
            "-S",
            path_str(&root.join("android/src/main/res"))?,
            "-I",
            path_str(&android_all)?,
            "-F",
            path_str(&apk)?,
        ],
    )?;
    write(
        &out.join("test-config/com/android/tools/test_config.properties"),
        &format!(
            "android_resource_apk={}\nandroid_merged_manifest={}\nandroid_merged_assets={}\nandroid_custom_package={PACKAGE}\n",
            path_str(&apk)?,
            path_str(&test_manifest)?,
            path_str(&out.join("assets"))?,
        ),
    )?;
    Ok(Resources {
        r_txt: out.join("R.txt"),
        manifest,
    })
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("could not write {}: {e}", path.display()))
}

/// The `android-all` jar in the local Maven repository, fetched from Maven Central when missing.
pub fn android_all_jar() -> Result<PathBuf, String> {
    let mut parts = ANDROID_ALL.split(':');
    let (group, artifact, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or("HOME is not set (needed for ~/.m2)")?;
    let jar = home
        .join(".m2/repository")
        .join(group.replace('.', "/"))
        .join(artifact)
        .join(version)
        .join(format!("{artifact}-{version}.jar"));
    if !jar.is_file() {
        bindings::run(
            "mvn",
            &[
                "-B",
                "--no-transfer-progress",
                "dependency:get",
                &format!("-Dartifact={ANDROID_ALL}"),
            ],
        )?;
    }
    if jar.is_file() {
        Ok(jar)
    } else {
        Err(format!("Maven finished but {} is missing", jar.display()))
    }
}

/// Debian's `aapt` (as root, or through sudo), installed when missing.
fn ensure_aapt() -> Result<(), String> {
    if Command::new("aapt")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Ok(());
    }
    eprintln!("xtask: installing aapt (Debian package)");
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let apt = |args: &[&str]| -> Result<(), String> {
        if root_user {
            bindings::run("apt-get", args)
        } else {
            let mut all = vec!["apt-get"];
            all.extend(args);
            bindings::run("sudo", &all)
        }
    };
    apt(&["update"])?;
    apt(&["install", "-y", "--no-install-recommends", "aapt"])
        .map_err(|e| format!("{e}; install aapt (Debian: apt-get install aapt) and retry"))
}

/// The Android shell's languages (`android/scripts/strings_check.py`, after its self-test): the
/// string resources complete in English and German, no user-facing literal in the Kotlin.
pub fn strings_check() -> Result<(), String> {
    let root = bindings::repo_root();
    let android = root.join("android");
    let script = android.join("scripts").join("strings_check.py");
    bindings::run(
        "python3",
        &[path_str(&script)?, "--self-test", path_str(&android)?],
    )?;
    bindings::run("python3", &[path_str(&script)?, path_str(&android)?])
}
