//! `cargo xtask test keycloak`: the Keycloak extension (integrations/keycloak) against a real
//! Keycloak and a real `tapprove serve`, driven in headless Chromium (tests/keycloak).
//!
//! 1. Keycloak's distribution from Maven Central, cached under `.tools/keycloak/` (download once,
//!    SHA-256 pinned below, extracted once; idempotent).
//! 2. The provider jar: `mvn -q -B package` (runs the JUnit tests too), copied into `providers/`.
//! 3. `tapprove serve` and `kc.sh start-dev` (in-memory H2, a file vault in the run's temporary
//!    directory) on free loopback ports, each in its
//!    own process group, stopped by a guard when this function returns — success, failure or
//!    panic.
//! 4. `node --test keycloak.test.mjs` configures the realm through the admin REST API and drives
//!    the browser; screenshots go to docs/screenshots/keycloak-*.png.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const KEYCLOAK_VERSION: &str = "26.7.3";
/// SHA-256 of `keycloak-quarkus-dist-26.7.3.zip` (Maven Central's `.sha1` agreed when pinned).
const KEYCLOAK_ZIP_SHA256: &str =
    "27a6535553c3cdcd083872ba40629efafb3475e3b758e0c6f691395561dd0f1f";
/// The seal key of the throwaway service database.
const SEAL_KEY: &str = "dGFwcHJvdmUta2V5Y2xvYWstdGVzdC1zZWFsLWtleS0=";
const ADMIN_USER: &str = "tapprove-admin";

fn root() -> PathBuf {
    crate::root()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Runs the whole test; see the module docs.
pub fn test() -> Result<(), String> {
    let started = Instant::now();
    let home = ensure_keycloak()?;
    let jar = build_provider()?;
    let providers = home.join("providers");
    std::fs::create_dir_all(&providers)
        .map_err(|e| format!("cannot create {}: {e}", providers.display()))?;
    std::fs::copy(&jar, providers.join("tapprove-keycloak.jar")).map_err(|e| {
        format!(
            "cannot copy the provider jar into {}: {e}",
            providers.display()
        )
    })?;
    crate::run(
        "cargo",
        &[
            "build",
            "-p",
            "tapprove-cli",
            "--bin",
            "tapprove",
            "--locked",
        ],
    )?;
    let bin = target_dir().join("debug").join("tapprove");
    ensure_chromium()?;
    npm_ci(&root().join("tests").join("keycloak"))?;

    let work = tempdir()?;
    let result = (|| {
        let service = start_service(&bin, &work.0)?;
        let [kc_port, management_port] = free_ports()?;
        let keycloak = start_keycloak(&home, kc_port, management_port, &work.0)?;
        let kc_url = format!("http://127.0.0.1:{kc_port}");
        eprintln!(
            "xtask: Keycloak starting at {kc_url} (log: {})",
            keycloak.log.display()
        );
        let status = Command::new("node")
            .args(["--test", "--test-concurrency=1", "keycloak.test.mjs"])
            .current_dir(root().join("tests").join("keycloak"))
            .env("KEYCLOAK_URL", &kc_url)
            .env("KEYCLOAK_ADMIN", ADMIN_USER)
            .env("KEYCLOAK_ADMIN_PASSWORD", &keycloak.admin_password)
            .env("KEYCLOAK_VAULT_DIR", &keycloak.vault)
            .env("TAPPROVE_URL", &service.url)
            .env("TAPPROVE_DATABASE", &service.database)
            .env("TAPPROVE_SEAL_KEY", SEAL_KEY)
            .env("TAPPROVE_BIN", &bin)
            .env("SCREENSHOT_DIR", screenshot_dir()?)
            .status()
            .map_err(|e| format!("could not start node: {e} (Node 20+ is required)"))?;
        if status.success() {
            Ok(())
        } else {
            keycloak.print_log_tail();
            Err(format!(
                "tests/keycloak/keycloak.test.mjs failed ({status})"
            ))
        }
        // `keycloak` and `service` drop here: both process groups are stopped.
    })();
    eprintln!("xtask: keycloak test took {:.0?}", started.elapsed());
    result
}

/// The extracted distribution under `.tools/keycloak/keycloak-<version>`, fetched if missing.
fn ensure_keycloak() -> Result<PathBuf, String> {
    let dir = root().join(".tools").join("keycloak");
    let home = dir.join(format!("keycloak-{KEYCLOAK_VERSION}"));
    if home.join("bin").join("kc.sh").is_file() && home.join("lib").is_dir() {
        return Ok(home);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let zip = dir.join(format!("keycloak-quarkus-dist-{KEYCLOAK_VERSION}.zip"));
    if !zip.is_file() || sha256(&zip)? != KEYCLOAK_ZIP_SHA256 {
        let url = format!(
            "https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist/{KEYCLOAK_VERSION}/keycloak-quarkus-dist-{KEYCLOAK_VERSION}.zip"
        );
        let part = dir.join("download.part");
        crate::run(
            "curl",
            &["-fSL", "--retry", "3", "-o", path_str(&part)?, &url],
        )?;
        let got = sha256(&part)?;
        if got != KEYCLOAK_ZIP_SHA256 {
            let _ = std::fs::remove_file(&part);
            return Err(format!(
                "the Keycloak download has SHA-256 {got}, expected {KEYCLOAK_ZIP_SHA256}: refusing it (a proxy or mirror changed it?)"
            ));
        }
        std::fs::rename(&part, &zip).map_err(|e| format!("cannot move the download: {e}"))?;
    }
    // Extract next to the final place, then rename, so a half-extracted tree is never used.
    let staging = dir.join("extract.part");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
    let unzip_ok = Command::new("unzip")
        .args(["-q", path_str(&zip)?, "-d", path_str(&staging)?])
        .status()
        .is_ok_and(|s| s.success());
    if !unzip_ok {
        // No unzip on this machine: Python's zipfile does the same (we run kc.sh through bash,
        // so lost exec bits do not matter).
        crate::run(
            "python3",
            &["-m", "zipfile", "-e", path_str(&zip)?, path_str(&staging)?],
        )?;
    }
    let _ = std::fs::remove_dir_all(&home);
    std::fs::rename(staging.join(format!("keycloak-{KEYCLOAK_VERSION}")), &home).map_err(|e| {
        format!("the Keycloak zip did not contain keycloak-{KEYCLOAK_VERSION}/: {e}")
    })?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(home)
}

fn sha256(file: &Path) -> Result<String, String> {
    let out = Command::new("sha256sum")
        .arg(file)
        .output()
        .map_err(|e| format!("could not run sha256sum: {e}"))?;
    if !out.status.success() {
        return Err(format!("sha256sum {} failed", file.display()));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// `mvn -q -B package` in integrations/keycloak (offline first, online if artifacts are missing).
fn build_provider() -> Result<PathBuf, String> {
    let module = root().join("integrations").join("keycloak");
    let pom = module.join("pom.xml");
    let pom = path_str(&pom)?;
    let offline = crate::run("mvn", &["-q", "-B", "-o", "-f", pom, "package"]);
    if offline.is_err() {
        eprintln!(
            "xtask: the offline Maven build failed (artifacts not downloaded yet, or a failing test); retrying online"
        );
        crate::run("mvn", &["-q", "-B", "-f", pom, "package"])?;
    }
    let jar = module.join("target").join("tapprove-keycloak.jar");
    if jar.is_file() {
        Ok(jar)
    } else {
        Err(format!("Maven finished but {} is missing", jar.display()))
    }
}

fn ensure_chromium() -> Result<(), String> {
    if Path::new("/usr/bin/chromium").exists() {
        return Ok(());
    }
    eprintln!("xtask: installing chromium (Debian package)");
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let (program, prefix): (&str, &[&str]) = if root_user {
        ("apt-get", &[])
    } else {
        ("sudo", &["apt-get"])
    };
    let update: Vec<&str> = prefix.iter().copied().chain(["update"]).collect();
    crate::run(program, &update)?;
    let install: Vec<&str> = prefix
        .iter()
        .copied()
        .chain(["install", "-y", "chromium"])
        .collect();
    crate::run(program, &install)
}

fn npm_ci(dir: &Path) -> Result<(), String> {
    eprintln!("xtask: $ npm ci (in {})", dir.display());
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .map_err(|e| format!("could not start npm: {e} (Node 20+ with npm is required)"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("npm ci in {} failed ({status})", dir.display()))
    }
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> Result<TempDir, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("tapprove-kc-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(TempDir(dir))
}

/// `N` different free loopback ports: all bound at once (one released before the next is
/// asked for can come back as the same port), read, then released. Another process could
/// take one in between, which shows as a clear "address in use" from Keycloak.
fn free_ports<const N: usize>() -> Result<[u16; N], String> {
    let listeners = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot find a free loopback port: {e}"))?;
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener
            .local_addr()
            .map_err(|e| format!("cannot find a free loopback port: {e}"))?
            .port();
    }
    Ok(ports)
}

fn path_str(p: &Path) -> Result<&str, String> {
    p.to_str()
        .ok_or_else(|| format!("path {} is not UTF-8", p.display()))
}

/// A child in its own process group; dropping it stops the whole group (kc.sh starts a JVM).
struct Group {
    child: Child,
    name: &'static str,
}

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &pgid]).status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                eprintln!("xtask: stopped {}", self.name);
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &pgid]).status();
        let _ = self.child.wait();
        eprintln!("xtask: killed {} (it did not stop within 10 s)", self.name);
    }
}

fn spawn_group(mut cmd: Command, name: &'static str) -> Result<Group, String> {
    use std::os::unix::process::CommandExt as _;
    cmd.process_group(0);
    let child = cmd
        .spawn()
        .map_err(|e| format!("could not start {name}: {e}"))?;
    Ok(Group { child, name })
}

struct Service {
    _group: Group,
    url: String,
    database: String,
}

fn start_service(bin: &Path, work: &Path) -> Result<Service, String> {
    let database = format!("sqlite://{}?mode=rwc", work.join("tapprove.db").display());
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", &database])
        .env("TAPPROVE_SEAL_KEY", SEAL_KEY)
        .env("TAPPROVE_LOG", "warn")
        .stdout(Stdio::piped());
    let mut group = spawn_group(cmd, "tapprove serve")?;
    let stdout = group
        .child
        .stdout
        .take()
        .ok_or("tapprove serve has no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read tapprove serve's output: {e}"))?;
    let url = line
        .trim()
        .strip_prefix("tapprove: listening on ")
        .ok_or_else(|| format!("tapprove serve did not start; it said: {line:?}"))?
        .to_owned();
    eprintln!("xtask: tapprove serve at {url}");
    Ok(Service {
        _group: group,
        url,
        database,
    })
}

struct Keycloak {
    _group: Group,
    log: PathBuf,
    admin_password: String,
    vault: PathBuf,
}

impl Keycloak {
    fn print_log_tail(&self) {
        if let Ok(text) = std::fs::read_to_string(&self.log) {
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(60);
            eprintln!(
                "xtask: last lines of the Keycloak log ({}):",
                self.log.display()
            );
            for l in &lines[from..] {
                eprintln!("  {l}");
            }
        }
    }
}

fn start_keycloak(
    home: &Path,
    port: u16,
    management: u16,
    work: &Path,
) -> Result<Keycloak, String> {
    let java_home = java_home()?;
    let log = work.join("keycloak.log");
    let out =
        std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot open the Keycloak log: {e}"))?;
    let admin_password = random_password()?;
    // Keycloak's file vault: the test puts secrets here and refers to them as ${vault.…}.
    let vault = work.join("vault");
    std::fs::create_dir_all(&vault)
        .map_err(|e| format!("cannot create {}: {e}", vault.display()))?;
    let mut cmd = Command::new("bash");
    cmd.arg(home.join("bin").join("kc.sh"))
        .args([
            "start-dev",
            "--http-host",
            "127.0.0.1",
            "--http-port",
            &port.to_string(),
            "--http-management-port",
            &management.to_string(),
            "--db",
            "dev-mem",
            "--vault",
            "file",
            "--vault-dir",
            path_str(&vault)?,
        ])
        .env("JAVA_HOME", &java_home)
        .env("KC_BOOTSTRAP_ADMIN_USERNAME", ADMIN_USER)
        .env("KC_BOOTSTRAP_ADMIN_PASSWORD", &admin_password)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let group = spawn_group(cmd, "Keycloak")?;
    Ok(Keycloak {
        _group: group,
        log,
        admin_password,
        vault,
    })
}

/// A throwaway admin password for this run (from the kernel's random source).
fn random_password() -> Result<String, String> {
    let bytes = std::fs::read("/proc/sys/kernel/random/uuid")
        .map_err(|e| format!("cannot read a random value: {e}"))?;
    Ok(String::from_utf8_lossy(&bytes).trim().replace('-', ""))
}

/// `$KEYCLOAK_JAVA_HOME`, else the newest JDK ≥ 21 under /usr/lib/jvm (Keycloak 26 needs 21+).
fn java_home() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("KEYCLOAK_JAVA_HOME") {
        return Ok(PathBuf::from(p));
    }
    let mut best: Option<(u32, PathBuf)> = None;
    let entries = std::fs::read_dir("/usr/lib/jvm").map_err(|e| {
        format!("cannot list /usr/lib/jvm ({e}); set KEYCLOAK_JAVA_HOME to a JDK 21+")
    })?;
    for entry in entries.flatten() {
        let dir = entry.path();
        let Ok(release) = std::fs::read_to_string(dir.join("release")) else {
            continue;
        };
        let major = release
            .lines()
            .find_map(|l| l.strip_prefix("JAVA_VERSION="))
            .map(|v| v.trim_matches('"'))
            .and_then(|v| v.split('.').next())
            .and_then(|m| m.parse::<u32>().ok());
        if let Some(major) = major
            && major >= 21
            && dir.join("bin").join("java").is_file()
            && best.as_ref().is_none_or(|(m, _)| major > *m)
        {
            best = Some((major, dir));
        }
    }
    best.map(|(_, d)| d).ok_or_else(|| {
        "no JDK 21+ under /usr/lib/jvm (Keycloak 26 needs one): install e.g. openjdk-21-jdk or set KEYCLOAK_JAVA_HOME".into()
    })
}

/// Where the browser tests write their screenshots: under target/, so a test run leaves the tree
/// as it found it; `TAPPROVE_REFRESH_DOCS=1` writes them into docs/screenshots instead.
fn screenshot_dir() -> Result<std::path::PathBuf, String> {
    let dir = if std::env::var("TAPPROVE_REFRESH_DOCS").as_deref() == Ok("1") {
        root().join("docs").join("screenshots")
    } else {
        root().join("target").join("screenshots")
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}
