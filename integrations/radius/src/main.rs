//! `tapprove-radius --config FILE`: runs the RADIUS server until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tapprove_radius::{Config, RadiusServer};

/// A RADIUS server whose second factor is a Tapprove push or code (docs/RADIUS.md).
#[derive(Parser)]
#[command(name = "tapprove-radius", version)]
struct Args {
    /// The TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TAPPROVE_RADIUS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tapprove-radius: {e}");
            return ExitCode::from(2);
        }
    };
    let mode = config.mode;
    let server = match RadiusServer::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tapprove-radius: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(mode = ?mode, "listening on {}", server.local_addr());
    wait_for_signal().await;
    tracing::info!(stats = ?server.stats(), "stopping");
    server.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
