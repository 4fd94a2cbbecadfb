//! `tapprove serve`: runs the service until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use tapprove_server::{DEFAULT_DATABASE_URL, SealKey, Service, ServiceConfig};

use crate::error::CliError;

/// Options of `tapprove serve` (flags override the config file and `TAPPROVE_*`).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080; env TAPPROVE_LISTEN].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Serve Prometheus metrics on GET /metrics at this address, e.g. 127.0.0.1:9090 (keep it
    /// off the public network) [env TAPPROVE_METRICS_LISTEN].
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Database URL, e.g. sqlite://tapprove.db?mode=rwc [env TAPPROVE_DATABASE_URL].
    #[arg(long)]
    pub database: Option<String>,
    /// TOML configuration file (seal_key, limits, webhook_timeout, …; docs/SERVICE.md,
    /// "Settings").
    #[arg(long, env = "TAPPROVE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory of the embedded defaults: with no database and no seal key
    /// configured, the SQLite database and a generated seal key (0600) live here.
    #[arg(long, env = "TAPPROVE_DATA_DIR", default_value = "./tapprove-data")]
    pub data: PathBuf,
}

/// Loads the configuration: file, then environment, then flags. With neither a database nor
/// a seal key configured, the embedded defaults: SQLite and a seal key in `data` (generated
/// on first use, with a note to back it up). An explicit seal key or database always wins.
pub fn load_config(
    config: Option<&std::path::Path>,
    database: Option<&str>,
    data: &std::path::Path,
) -> Result<ServiceConfig, CliError> {
    let mut cfg = ServiceConfig::load(config)?;
    if let Some(db) = database {
        cfg.database_url = db.to_owned();
    }
    if cfg.seal_key.is_none() && cfg.database_url == DEFAULT_DATABASE_URL {
        let dir = private_dir(data)?;
        cfg.database_url = format!("sqlite://{}?mode=rwc", dir.join("tapprove.db").display());
        cfg.seal_key = Some(embedded_seal_key(&dir)?);
    }
    Ok(cfg)
}

/// Creates the data directory (0700) if missing; its absolute path.
pub(crate) fn private_dir(dir: &std::path::Path) -> Result<PathBuf, CliError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| CliError::io("create", dir, e, "choose another --data directory"))?;
    std::fs::canonicalize(dir)
        .map_err(|e| CliError::io("resolve", dir, e, "choose another --data directory"))
}

/// `DIR/seal.key`, generated (0600) on first use.
pub(crate) fn embedded_seal_key(dir: &std::path::Path) -> Result<SealKey, CliError> {
    let path = dir.join("seal.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(SealKey::from_base64(&zeroize::Zeroizing::new(text))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SealKey::generate()?;
            crate::demo::store::write_private(&path, key.secret_base64().as_bytes()).map_err(
                |e| CliError::io("write", &path, e, "check the data directory's permissions"),
            )?;
            eprintln!(
                "tapprove: generated the seal key {}; back it up with the database: without it \
                 the stored secrets cannot be read",
                path.display()
            );
            Ok(key)
        }
        Err(e) => Err(CliError::io(
            "read",
            &path,
            e,
            "check the data directory's permissions",
        )),
    }
}

/// Resolves when the process gets Ctrl-C or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! { () = ctrl_c => {}, () = term => {} }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

/// Runs `tapprove serve`.
pub async fn run(args: ServeArgs) -> Result<(), CliError> {
    let mut cfg = load_config(args.config.as_deref(), args.database.as_deref(), &args.data)?;
    if let Some(listen) = args.listen {
        cfg.listen = listen;
    }
    if let Some(metrics) = args.metrics_listen {
        cfg.metrics_listen = Some(metrics);
    }
    cfg.validate()?;
    let running = Service::start(cfg).await?;
    // The first stdout line is the URL (tests and scripts read it).
    println!("tapprove: listening on http://{}", running.local_addr());
    if let Some(metrics) = running.metrics_addr() {
        println!("tapprove: metrics on http://{metrics}/metrics");
    }
    let _ = std::io::stdout().flush();
    shutdown_signal().await;
    eprintln!("tapprove: stopping");
    running.shutdown().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_flags_means_sqlite_and_a_generated_private_seal_key_in_the_data_dir() {
        if std::env::var_os("TAPPROVE_DATABASE_URL").is_some()
            || std::env::var_os("TAPPROVE_SEAL_KEY").is_some()
        {
            eprintln!("skipped: TAPPROVE_DATABASE_URL / TAPPROVE_SEAL_KEY are set");
            return;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let first = load_config(None, None, &data).expect("defaults");
        let dir = std::fs::canonicalize(&data).expect("created");
        assert_eq!(
            first.database_url,
            format!("sqlite://{}?mode=rwc", dir.join("tapprove.db").display())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("seal.key"))
                .expect("seal.key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = load_config(None, None, &data).expect("defaults again");
        assert_eq!(
            again.seal_key, first.seal_key,
            "the key is kept, not regenerated"
        );
        // An explicit database gets no generated key (several instances need one shared key).
        let explicit = load_config(None, Some("sqlite://x.db?mode=rwc"), &data).expect("cfg");
        assert!(explicit.seal_key.is_none());
    }
}
