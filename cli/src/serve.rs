//! `tapprove serve`: runs the service until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use tapprove_server::{Service, ServiceConfig};

use crate::error::CliError;

/// Options of `tapprove serve` (flags override the config file and `TAPPROVE_*`).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080; env TAPPROVE_LISTEN].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Database URL, e.g. sqlite://tapprove.db?mode=rwc [env TAPPROVE_DATABASE_URL].
    #[arg(long)]
    pub database: Option<String>,
    /// TOML configuration file (seal_key, limits, webhook_timeout, …).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Loads the configuration: file, then environment, then flags.
pub fn load_config(
    config: Option<&std::path::Path>,
    database: Option<&str>,
) -> Result<ServiceConfig, CliError> {
    let mut cfg = ServiceConfig::load(config)?;
    if let Some(db) = database {
        cfg.database_url = db.to_owned();
    }
    Ok(cfg)
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
    let mut cfg = load_config(args.config.as_deref(), args.database.as_deref())?;
    if let Some(listen) = args.listen {
        cfg.listen = listen;
    }
    cfg.validate()?;
    let running = Service::start(cfg).await?;
    // The first stdout line is the URL (tests and scripts read it).
    println!("tapprove: listening on http://{}", running.local_addr());
    let _ = std::io::stdout().flush();
    shutdown_signal().await;
    eprintln!("tapprove: stopping");
    running.shutdown().await?;
    Ok(())
}
