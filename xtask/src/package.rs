//! `cargo xtask package`: the phone libraries of this version, as an app team depends on them,
//! written into `target/package/` (docs/BINDINGS.md "Packages"):
//!
//! - `tapprove-android-<version>.aar` + `.pom`, assembled without the Android Gradle plugin:
//!   `classes.jar` (the shell and the generated bindings, compiled by android/package/pom.xml
//!   against Android 14; no R class: the app's build makes it from `R.txt`), the library
//!   manifest, `proguard.txt`, `R.txt` and `res/`; `jni/<abi>/` only for the Android ABIs that
//!   could really be built (none without the Android NDK: the command says so);
//! - `tapprove-android-fcm-<version>.aar` + `.pom`: the FCM adapter on its own;
//! - `tapprove-android-unifiedpush-<version>.aar` + `.pom`: the UnifiedPush adapter on its own;
//! - `swift/Tapprove/`: a Swift package (Package.swift at its root, the generated Swift included,
//!   a `binaryTarget(url:checksum:)` that `ios/scripts/build-xcframework.sh --package` fills in on a
//!   Mac) and the sample's XcodeGen `project.yml`.
//!
//! One version for all: the workspace `version` in Cargo.toml.

use crate::android;
use crate::bindings::{self, path_str};
use std::path::{Path, PathBuf};

/// Maven group of the Android artifacts.
const GROUP: &str = "dev.tapprove";
/// Android ABIs an app ships, with their Rust targets.
const ABIS: &[(&str, &str)] = &[
    ("arm64-v8a", "aarch64-linux-android"),
    ("armeabi-v7a", "armv7-linux-androideabi"),
    ("x86_64", "x86_64-linux-android"),
];
/// The placeholder `build-xcframework.sh --package` replaces with the XCFramework's checksum.
pub const CHECKSUM_PLACEHOLDER: &str = "TAPPROVE_XCFRAMEWORK_CHECKSUM";

/// What [build] wrote.
pub struct Release {
    pub version: String,
    pub aar: PathBuf,
    pub fcm_aar: PathBuf,
    pub unifiedpush_aar: PathBuf,
    pub swift_package: PathBuf,
}

/// `cargo xtask package`.
pub fn command(args: &[String]) -> Result<(), String> {
    if let Some(other) = args.first() {
        return Err(format!(
            "`cargo xtask package` takes no arguments (got {other:?})"
        ));
    }
    let release = build()?;
    check(&release)?;
    eprintln!(
        "\nxtask: Tapprove {} packaged:\n  {}\n  {}\n  {}\n  {}",
        release.version,
        release.aar.display(),
        release.fcm_aar.display(),
        release.unifiedpush_aar.display(),
        release.swift_package.display()
    );
    Ok(())
}

/// The output directory, `target/package/`.
pub fn out_dir() -> PathBuf {
    bindings::repo_root().join("target").join("package")
}

/// The workspace version (`[workspace.package] version` in Cargo.toml).
pub fn version() -> Result<String, String> {
    let path = bindings::repo_root().join("Cargo.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("could not read {}: {e}", path.display()))?;
    let section = text
        .split("[workspace.package]")
        .nth(1)
        .ok_or("Cargo.toml has no [workspace.package]")?;
    section
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .find_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == "version").then(|| value.trim().trim_matches('"').to_string())
        })
        .ok_or_else(|| "no version in Cargo.toml's [workspace.package]".into())
}

/// Builds everything into [out_dir].
pub fn build() -> Result<Release, String> {
    let version = version()?;
    let root = bindings::repo_root();
    let out = out_dir();
    let _ = std::fs::remove_dir_all(&out);
    let work = out.join("work");
    mkdir(&work)?;

    // Resources first: the Kotlin compiles against their R class.
    let res = android::compile_resources(&android::resources_dir())?;
    // The UnifiedPush adapter compiles against the connector's classes.
    crate::webpush::connector_classes()?;
    // Generates the bindings, then compiles the classes (no tests in that pom).
    let pom = root.join("android").join("package").join("pom.xml");
    bindings::maven_test(
        &pom,
        "the Android library did not compile against Android 14 (see the Maven output above)",
    )?;
    let classes = root.join("target/android-classes/classes");

    // Split: the FCM adapter's package into its own jar; the compile-only R class and Firebase
    // stub into neither.
    let core_dir = work.join("core-classes");
    let fcm_dir = work.join("fcm-classes");
    let unifiedpush_dir = work.join("unifiedpush-classes");
    for file in files(&classes)? {
        let rel = file.strip_prefix(&classes).map_err(|e| e.to_string())?;
        let name = rel.to_string_lossy().replace('\\', "/");
        // The Kotlin module file (top-level functions are found through it) goes with the core;
        // the adapter declares none.
        if name.starts_with("META-INF/") && name.ends_with(".kotlin_module") {
            copy(&file, &core_dir.join(rel))?;
            continue;
        }
        if !name.ends_with(".class") || name.starts_with("com/google/") || is_r_class(&name) {
            continue;
        }
        let dest = if name.starts_with("dev/tapprove/android/fcm/") {
            &fcm_dir
        } else if name.starts_with("dev/tapprove/android/unifiedpush/") {
            &unifiedpush_dir
        } else {
            &core_dir
        };
        copy(&file, &dest.join(rel))?;
    }

    let aar = out.join(format!("tapprove-android-{version}.aar"));
    let stage = work.join("aar");
    jar(&core_dir, &stage.join("classes.jar"))?;
    copy(&res.manifest, &stage.join("AndroidManifest.xml"))?;
    copy(&res.r_txt, &stage.join("R.txt"))?;
    copy_dir(&root.join("android/src/main/res"), &stage.join("res"))?;
    copy(
        &root.join("android/consumer-rules.pro"),
        &stage.join("proguard.txt"),
    )?;
    native_libraries(&stage)?;
    jar(&stage, &aar)?;
    write(
        &out.join(format!("tapprove-android-{version}.pom")),
        &core_pom(&version),
    )?;

    let fcm_aar = out.join(format!("tapprove-android-fcm-{version}.aar"));
    let fcm_stage = work.join("fcm-aar");
    jar(&fcm_dir, &fcm_stage.join("classes.jar"))?;
    write(
        &fcm_stage.join("AndroidManifest.xml"),
        &format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- Declares nothing: the app declares TapproveMessagingService itself. -->\n<manifest xmlns:android=\"http://schemas.android.com/apk/res/android\" package=\"{}.fcm\" />\n",
            android::PACKAGE
        ),
    )?;
    write(&fcm_stage.join("R.txt"), "")?;
    jar(&fcm_stage, &fcm_aar)?;
    write(
        &out.join(format!("tapprove-android-fcm-{version}.pom")),
        &fcm_pom(&version),
    )?;

    let unifiedpush_aar = out.join(format!("tapprove-android-unifiedpush-{version}.aar"));
    let up_stage = work.join("unifiedpush-aar");
    jar(&unifiedpush_dir, &up_stage.join("classes.jar"))?;
    write(
        &up_stage.join("AndroidManifest.xml"),
        &format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- Declares nothing: the app declares TapproveUnifiedPushService itself. -->\n<manifest xmlns:android=\"http://schemas.android.com/apk/res/android\" package=\"{}.unifiedpush\" />\n",
            android::PACKAGE
        ),
    )?;
    write(&up_stage.join("R.txt"), "")?;
    jar(&up_stage, &unifiedpush_aar)?;
    write(
        &out.join(format!("tapprove-android-unifiedpush-{version}.pom")),
        &unifiedpush_pom(&version),
    )?;

    let swift_package = swift_package(&out.join("swift").join("Tapprove"), &version)?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(Release {
        version,
        aar,
        fcm_aar,
        unifiedpush_aar,
        swift_package,
    })
}

/// `R.class` and `R$string.class` of the library package: the app's build generates those.
fn is_r_class(name: &str) -> bool {
    let pkg = android::PACKAGE.replace('.', "/");
    name == format!("{pkg}/R.class") || name.starts_with(&format!("{pkg}/R$"))
}

/// `jni/<abi>/libtapprove_ffi.so` for every ABI built by cargo-ndk (`target/<triple>/release`,
/// an Android ELF); none here without the Android NDK, and a host (glibc) library never.
fn native_libraries(stage: &Path) -> Result<(), String> {
    let target = bindings::target_dir();
    let mut built = Vec::new();
    let mut missing = Vec::new();
    for (abi, triple) in ABIS {
        let lib = target
            .join(triple)
            .join("release")
            .join("libtapprove_ffi.so");
        if lib.is_file() && is_android_elf(&lib)? {
            copy(
                &lib,
                &stage.join("jni").join(abi).join("libtapprove_ffi.so"),
            )?;
            built.push(*abi);
        } else {
            missing.push(*abi);
        }
    }
    if !missing.is_empty() {
        eprintln!(
            "xtask: jni/ has no library for {}: no Android build of tapprove-bindings was found (target/<android triple>/release). \
             Building one needs the Android NDK (cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 build --release -p tapprove-bindings; android/README.md), \
             which this machine does not have; an app can add jniLibs itself.",
            missing.join(", ")
        );
    }
    if !built.is_empty() {
        eprintln!("xtask: jni/ holds {}", built.join(", "));
    }
    Ok(())
}

/// Whether an ELF file was linked for Android (bionic's `/system/bin/linker*` interpreter or an
/// `.note.android.ident` note), not for a glibc system.
fn is_android_elf(path: &Path) -> Result<bool, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("could not read {}: {e}", path.display()))?;
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    Ok(bytes.starts_with(b"\x7fELF")
        && (has(b"/system/bin/linker") || has(b"Android\0"))
        && !has(b"libc.so.6"))
}

fn core_pom(version: &str) -> String {
    pom(
        "tapprove-android",
        version,
        "Tapprove push authentication: the Android library (Kotlin API, notifications, Keystore).",
        &[
            ("net.java.dev.jna", "jna", "5.17.0", Some("aar")),
            (
                "org.jetbrains.kotlinx",
                "kotlinx-coroutines-android",
                "1.10.2",
                None,
            ),
        ],
    )
}

fn unifiedpush_pom(version: &str) -> String {
    pom(
        "tapprove-android-unifiedpush",
        version,
        "Tapprove's ready-made UnifiedPush (Web Push) service, for phones without Google Play services.",
        &[
            (GROUP, "tapprove-android", version, Some("aar")),
            ("org.unifiedpush.android", "connector", "3.1.2", Some("aar")),
        ],
    )
}

fn fcm_pom(version: &str) -> String {
    pom(
        "tapprove-android-fcm",
        version,
        "Tapprove's ready-made Firebase Cloud Messaging service, for apps without their own.",
        &[
            (GROUP, "tapprove-android", version, Some("aar")),
            ("com.google.firebase", "firebase-messaging", "24.1.0", None),
        ],
    )
}

fn pom(
    artifact: &str,
    version: &str,
    description: &str,
    deps: &[(&str, &str, &str, Option<&str>)],
) -> String {
    let deps: String = deps
        .iter()
        .map(|(g, a, v, ty)| {
            let ty = ty.map(|t| format!("\n      <type>{t}</type>")).unwrap_or_default();
            format!(
                "    <dependency>\n      <groupId>{g}</groupId>\n      <artifactId>{a}</artifactId>\n      <version>{v}</version>{ty}\n      <scope>compile</scope>\n    </dependency>\n"
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>{GROUP}</groupId>
  <artifactId>{artifact}</artifactId>
  <version>{version}</version>
  <packaging>aar</packaging>
  <name>{artifact}</name>
  <description>{description}</description>
  <url>https://github.com/tapprove/tapprove</url>
  <licenses>
    <license>
      <name>Apache-2.0</name>
      <url>https://www.apache.org/licenses/LICENSE-2.0.txt</url>
    </license>
  </licenses>
  <dependencies>
{deps}  </dependencies>
</project>
"#
    )
}

/// The Swift package folder: Package.swift at its root (remote binary target), the hand-written
/// Swift, the string catalog, the generated Swift, and the sample's project.yml beside it.
fn swift_package(dir: &Path, version: &str) -> Result<PathBuf, String> {
    let root = bindings::repo_root();
    let ios = root.join("ios");
    copy_dir(&ios.join("Sources/Tapprove"), &dir.join("Sources/Tapprove"))?;
    let _ = std::fs::remove_dir_all(dir.join("Sources/Tapprove/Generated"));
    let generated = bindings::generated_dir().join("swift");
    copy(
        &generated.join("Tapprove.swift"),
        &dir.join("Sources/Tapprove/Generated/Tapprove.swift"),
    )?;
    // build-xcframework.sh --package puts the XCFramework's header and module map from here.
    for f in ["TapproveFFI.h", "TapproveFFI.modulemap"] {
        copy(&generated.join(f), &dir.join("ffi").join(f))?;
    }
    copy(&root.join("LICENSE"), &dir.join("LICENSE"))?;
    copy(&root.join("CHANGELOG.md"), &dir.join("CHANGELOG.md"))?;
    copy_dir(&ios.join("Sample"), &dir.join("Sample"))?;
    write(&dir.join("Package.swift"), &package_swift(version))?;
    Ok(dir.to_path_buf())
}

fn package_swift(version: &str) -> String {
    format!(
        r#"// swift-tools-version:5.9
// Tapprove {version} for iOS, written by `cargo xtask package`. The Rust core is the binary target
// `TapproveFFI` (an XCFramework on the release page); `ios/scripts/build-xcframework.sh --package
// <this folder>` builds it on a Mac, zips it and fills in its checksum below.
import PackageDescription

let package = Package(
    name: "Tapprove",
    defaultLocalization: "en",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "Tapprove", targets: ["Tapprove"]),
    ],
    targets: [
        .binaryTarget(
            name: "TapproveFFI",
            url: "https://github.com/tapprove/tapprove/releases/download/v{version}/TapproveFFI.xcframework.zip",
            checksum: "{CHECKSUM_PLACEHOLDER}"
        ),
        .target(
            name: "Tapprove",
            dependencies: ["TapproveFFI"],
            path: "Sources/Tapprove",
            resources: [.process("Resources")],
            linkerSettings: [.linkedFramework("Security"), .linkedFramework("SystemConfiguration")]
        ),
    ]
)
"#
    )
}

/// The checks of `cargo xtask package` (also run by `cargo xtask test android`): each AAR holds
/// what an AAR must and nothing it must not, the POMs name the dependencies, the Swift package is
/// complete, and the core's classes.jar is unpacked for the Robolectric tests.
pub fn check(release: &Release) -> Result<(), String> {
    let listing = entries(&release.aar)?;
    for required in [
        "AndroidManifest.xml",
        "classes.jar",
        "R.txt",
        "proguard.txt",
        "res/values/strings.xml",
        "res/values-de/strings.xml",
        "res/xml/tapprove_backup_rules.xml",
        "res/xml/tapprove_data_extraction_rules.xml",
    ] {
        if !listing.iter().any(|e| e == required) {
            return Err(format!(
                "{} has no {required} (it has: {})",
                release.aar.display(),
                listing.join(", ")
            ));
        }
    }
    if let Some(bad) = listing.iter().find(|e| {
        e.starts_with("jni/")
            && !e.ends_with('/')
            && !ABIS
                .iter()
                .any(|(abi, _)| e.starts_with(&format!("jni/{abi}/")))
    }) {
        return Err(format!(
            "{}: {bad} is not an Android ABI directory",
            release.aar.display()
        ));
    }
    let unpacked = bindings::repo_root().join("target").join("android-aar");
    let _ = std::fs::remove_dir_all(&unpacked);
    mkdir(&unpacked)?;
    let classes = unpacked.join("classes.jar");
    extract(&release.aar, "classes.jar", &classes)?;
    let fcm_classes = unpacked.join("fcm-classes.jar");
    extract(&release.fcm_aar, "classes.jar", &fcm_classes)?;
    let unifiedpush_classes = unpacked.join("unifiedpush-classes.jar");
    extract(
        &release.unifiedpush_aar,
        "classes.jar",
        &unifiedpush_classes,
    )?;
    let up_names = entries(&unifiedpush_classes)?;
    if !up_names
        .iter()
        .any(|c| c == "dev/tapprove/android/unifiedpush/TapproveUnifiedPushService.class")
        || up_names.iter().any(|c| c.starts_with("org/unifiedpush/"))
    {
        return Err(format!(
            "the UnifiedPush AAR's classes.jar should hold the adapter and not the connector: {up_names:?}"
        ));
    }
    let class_names = entries(&classes)?;
    if class_names.iter().any(|c| is_r_class(c)) {
        return Err(
            "classes.jar holds the library's R class: the app's build generates it from R.txt"
                .into(),
        );
    }
    for wanted in [
        "dev/tapprove/android/Tapprove.class",
        "dev/tapprove/Authenticator.class",
        "dev/tapprove/common/FileBackend.class",
    ] {
        if !class_names.iter().any(|c| c == wanted) {
            return Err(format!("classes.jar has no {wanted}"));
        }
    }
    if class_names.iter().any(|c| {
        c.starts_with("com/google/")
            || c.starts_with("dev/tapprove/android/fcm/")
            || c.starts_with("dev/tapprove/android/unifiedpush/")
            || c.starts_with("org/unifiedpush/")
    }) {
        return Err(
            "the core AAR's classes.jar holds Firebase, an adapter's or the connector's classes"
                .into(),
        );
    }
    let fcm_names = entries(&fcm_classes)?;
    if !fcm_names
        .iter()
        .any(|c| c == "dev/tapprove/android/fcm/TapproveMessagingService.class")
        || fcm_names.iter().any(|c| c.starts_with("com/google/"))
    {
        return Err(format!(
            "the FCM AAR's classes.jar should hold the adapter and no Firebase stub: {fcm_names:?}"
        ));
    }
    let out = out_dir();
    let pom =
        std::fs::read_to_string(out.join(format!("tapprove-android-{}.pom", release.version)))
            .map_err(|e| e.to_string())?;
    for dep in [
        "<artifactId>jna</artifactId>",
        "<type>aar</type>",
        "kotlinx-coroutines-android",
    ] {
        if !pom.contains(dep) {
            return Err(format!("the POM lacks {dep}"));
        }
    }
    let package = std::fs::read_to_string(release.swift_package.join("Package.swift"))
        .map_err(|e| e.to_string())?;
    if !package.contains(".binaryTarget(")
        || !package.contains(CHECKSUM_PLACEHOLDER)
        || !package.contains(&format!("v{}/", release.version))
    {
        return Err(
            "Package.swift lacks the versioned binaryTarget(url:checksum:) template".into(),
        );
    }
    for f in [
        "Sources/Tapprove/Generated/Tapprove.swift",
        "Sources/Tapprove/Resources/Localizable.xcstrings",
        "Sample/project.yml",
        "LICENSE",
    ] {
        if !release.swift_package.join(f).is_file() {
            return Err(format!("the Swift package has no {f}"));
        }
    }
    let project = std::fs::read_to_string(release.swift_package.join("Sample/project.yml"))
        .map_err(|e| e.to_string())?;
    for wanted in [
        "type: application",
        "type: app-extension",
        "com.apple.usernotifications.service",
        "NSFaceIDUsageDescription",
        "aps-environment",
        "keychain-access-groups",
        "com.apple.security.application-groups",
    ] {
        if !project.contains(wanted) {
            return Err(format!("the sample's project.yml lacks {wanted}"));
        }
    }
    eprintln!(
        "xtask: package layout ok ({} classes in the core AAR, {} in the FCM adapter; classes unpacked into {})",
        class_names.iter().filter(|c| c.ends_with(".class")).count(),
        fcm_names.iter().filter(|c| c.ends_with(".class")).count(),
        unpacked.display()
    );
    Ok(())
}

fn entries(zip: &Path) -> Result<Vec<String>, String> {
    let out = std::process::Command::new("jar")
        .args(["tf", path_str(zip)?])
        .output()
        .map_err(|e| format!("could not run jar (a JDK is needed): {e}"))?;
    if !out.status.success() {
        return Err(format!("`jar tf {}` failed", zip.display()));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

pub(crate) fn extract(zip: &Path, entry: &str, to: &Path) -> Result<(), String> {
    let dir = to.parent().ok_or("no parent directory")?;
    let tmp = dir.join(format!(
        ".extract-{}",
        to.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    mkdir(&tmp)?;
    let status = std::process::Command::new("jar")
        .args(["xf", path_str(zip)?, entry])
        .current_dir(&tmp)
        .status()
        .map_err(|e| format!("could not run jar: {e}"))?;
    if !status.success() {
        return Err(format!("could not extract {entry} from {}", zip.display()));
    }
    std::fs::rename(tmp.join(entry), to).map_err(|e| format!("could not move {entry}: {e}"))?;
    std::fs::remove_dir_all(&tmp).map_err(|e| e.to_string())
}

/// A zip of `dir`'s contents without a jar manifest (an AAR and its classes.jar are plain zips).
fn jar(dir: &Path, to: &Path) -> Result<(), String> {
    mkdir(dir)?;
    if let Some(parent) = to.parent() {
        mkdir(parent)?;
    }
    bindings::run(
        "jar",
        &[
            "--create",
            "--no-manifest",
            "--file",
            path_str(to)?,
            "-C",
            path_str(dir)?,
            ".",
        ],
    )
}

fn files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).map_err(|e| format!("could not list {}: {e}", d.display()))?
        {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    for file in files(from)? {
        let rel = file.strip_prefix(from).map_err(|e| e.to_string())?;
        copy(&file, &to.join(rel))?;
    }
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        mkdir(parent)?;
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("could not copy {} to {}: {e}", from.display(), to.display()))
}

fn mkdir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("could not create {}: {e}", dir.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        mkdir(parent)?;
    }
    std::fs::write(path, text).map_err(|e| format!("could not write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_library_r_classes_are_left_out() {
        assert!(is_r_class("dev/tapprove/android/R.class"));
        assert!(is_r_class("dev/tapprove/android/R$string.class"));
        assert!(!is_r_class("dev/tapprove/android/Receiver.class"));
        assert!(!is_r_class("dev/tapprove/common/R.class"));
    }

    #[test]
    fn build_xcframework_fills_the_placeholder_package_swift_carries() {
        let script = bindings::repo_root().join("ios/scripts/build-xcframework.sh");
        let text = std::fs::read_to_string(script).expect("script");
        assert!(
            text.contains(CHECKSUM_PLACEHOLDER),
            "build-xcframework.sh no longer replaces {CHECKSUM_PLACEHOLDER}"
        );
        assert!(package_swift("9.8.7").contains(&format!("checksum: \"{CHECKSUM_PLACEHOLDER}\"")));
        assert!(package_swift("9.8.7").contains("/v9.8.7/TapproveFFI.xcframework.zip"));
    }

    #[test]
    fn the_version_is_the_workspace_one() {
        let v = version().expect("version");
        assert!(
            v.split('.').count() == 3 && v.split('.').all(|p| p.parse::<u32>().is_ok()),
            "{v}"
        );
    }

    #[test]
    fn a_glibc_library_is_never_taken_for_an_android_one() {
        let dir = std::env::temp_dir().join(format!("tapprove-elf-{}", std::process::id()));
        mkdir(&dir).expect("dir");
        let glibc = dir.join("glibc.so");
        std::fs::write(
            &glibc,
            b"\x7fELF....libc.so.6\0/lib64/ld-linux-x86-64.so.2\0",
        )
        .expect("write");
        let bionic = dir.join("bionic.so");
        std::fs::write(
            &bionic,
            b"\x7fELF..../system/bin/linker64\0libc.so\0Android\0",
        )
        .expect("write");
        assert!(!is_android_elf(&glibc).expect("read"));
        assert!(is_android_elf(&bionic).expect("read"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
