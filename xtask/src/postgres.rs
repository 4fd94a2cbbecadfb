//! `cargo xtask test postgres`: the server's test suite against a real PostgreSQL.
//!
//! Installs Debian's `postgresql` package if no `initdb` is found (`apt-get update` first),
//! creates a throwaway cluster with `initdb` in a temporary directory, starts it on a free
//! loopback port (its socket in the same directory), runs `cargo test -p tapprove-server`
//! with `TAPPROVE_TEST_POSTGRES_URL` pointing at it, then the PostgreSQL row of the fault table
//! (`e2e_faults_postgres`, which also gets `TAPPROVE_TEST_POSTGRES_CTL`, a script running the
//! cluster's `pg_ctl`, to stop and start it), and stops and deletes the cluster however the
//! tests end. As root, the PostgreSQL programs run as the `postgres` user (they refuse to run
//! as root). The cluster trusts local connections and skips fsync: it exists for one run. Its
//! settings live in its `postgresql.conf`, so a plain `pg_ctl start` brings it back as it was.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{root, run};

/// The environment variable the server's tests read (see server/tests/common).
const URL_ENV: &str = "TAPPROVE_TEST_POSTGRES_URL";
/// The script the PostgreSQL fault test stops and starts the cluster with.
const CTL_ENV: &str = "TAPPROVE_TEST_POSTGRES_CTL";

/// `cargo xtask test postgres`.
pub fn test() -> Result<(), String> {
    let cluster = Cluster::start()?;
    eprintln!("xtask: {URL_ENV}={}", cluster.url());
    let cargo_test = |args: &[&str]| -> Result<(), String> {
        let status = Command::new("cargo")
            .arg("test")
            .args(args)
            .arg("--locked")
            .env(URL_ENV, cluster.url())
            .env(CTL_ENV, cluster.ctl_script())
            .current_dir(root())
            .status()
            .map_err(|e| format!("could not start cargo: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "`cargo test {}` against PostgreSQL failed ({status})",
                args.join(" ")
            ))
        }
    };
    // The fault test stops the cluster, so it runs alone, after the others.
    cargo_test(&["-p", "tapprove-server"])?;
    cargo_test(&["-p", "tapprove-cli", "--test", "e2e_faults_postgres"])
}

/// A running throwaway cluster; dropping it stops it and deletes its directory.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    /// Installs PostgreSQL if needed, then creates and starts a cluster.
    pub fn start() -> Result<Self, String> {
        let bin = match find_bin() {
            Some(bin) => bin,
            None => {
                install()?;
                find_bin()
                    .ok_or("installed postgresql but found no initdb under /usr/lib/postgresql")?
            }
        };
        let dir = std::env::temp_dir().join(format!("tapprove-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        if is_root() {
            run("chown", &["postgres:postgres", &path_str(&dir)?])?;
        }
        let port = free_port()?;
        let mut cluster = Self { bin, dir, port };
        let data = path_str(&cluster.dir.join("data"))?;
        cluster.pg(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        )?;
        let settings = format!(
            "\n# tapprove xtask: a throwaway cluster for one test run\n\
             port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 400\n",
            path_str(&cluster.dir)?
        );
        let conf = cluster.dir.join("data").join("postgresql.conf");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .and_then(|mut f| std::io::Write::write_all(&mut f, settings.as_bytes()))
            .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
        cluster.write_ctl_script()?;
        let log = path_str(&cluster.dir.join("log"))?;
        if let Err(e) = cluster.pg("pg_ctl", &["-D", &data, "-l", &log, "-w", "start"]) {
            let log = std::fs::read_to_string(cluster.dir.join("log")).unwrap_or_default();
            // Nothing started: skip the stop in Drop.
            cluster.port = 0;
            return Err(format!("{e}; PostgreSQL's log:\n{log}"));
        }
        Ok(cluster)
    }

    /// The admin URL (superuser `postgres`, database `postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The script that runs this cluster's `pg_ctl ARGS` (data directory and log file given,
    /// as the `postgres` user when root), for tests that stop and start it.
    pub fn ctl_script(&self) -> PathBuf {
        self.dir.join("pg_ctl.sh")
    }

    fn write_ctl_script(&self) -> Result<(), String> {
        let pg_ctl = path_str(&self.bin.join("pg_ctl"))?;
        let user = if is_root() {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let script = format!(
            "#!/bin/sh\nexec {user}'{pg_ctl}' -D '{}' -l '{}' \"$@\"\n",
            path_str(&self.dir.join("data"))?,
            path_str(&self.dir.join("log"))?
        );
        let path = self.ctl_script();
        std::fs::write(&path, script)
            .and_then(|()| {
                let mut p = std::fs::metadata(&path)?.permissions();
                std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o755);
                std::fs::set_permissions(&path, p)
            })
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Runs one of PostgreSQL's programs (as the `postgres` user when root).
    fn pg(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let program = path_str(&self.bin.join(program))?;
        if is_root() {
            let mut all = vec!["-u", "postgres", "--", program.as_str()];
            all.extend_from_slice(args);
            run("runuser", &all)
        } else {
            run(&program, args)
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.port != 0
            && let Ok(data) = path_str(&self.dir.join("data"))
            && let Err(e) = self.pg("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"])
        {
            eprintln!("xtask: could not stop the PostgreSQL cluster: {e}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `/usr/lib/postgresql/<newest version>/bin` if it has `initdb`.
fn find_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// `apt-get update && apt-get install -y postgresql` (as root, or through sudo).
fn install() -> Result<(), String> {
    eprintln!("xtask: PostgreSQL not found; installing Debian's postgresql package");
    let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
    let apt = |args: &[&str]| -> Result<(), String> {
        let mut all: Vec<&str> = sudo.to_vec();
        all.push("apt-get");
        all.extend_from_slice(args);
        let (program, rest) = all.split_first().ok_or("empty command")?;
        let status = Command::new(program)
            .args(rest)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| format!("could not start {program}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "`{}` failed ({status}); install PostgreSQL (Debian: apt-get install postgresql) and retry",
                all.join(" ")
            ))
        }
    };
    apt(&["update"])?;
    apt(&["install", "-y", "--no-install-recommends", "postgresql"])
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot find a free loopback port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free loopback port: {e}"))
}

fn path_str(path: &Path) -> Result<String, String> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))
}
