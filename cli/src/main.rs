//! `tapprove`: the Tapprove service, its admin commands, a terminal authenticator and the
//! one-command demo.
//!
//! ```text
//! tapprove serve [--listen 127.0.0.1:8080] [--database sqlite://PATH] [--config FILE]
//! tapprove admin project create --name NAME --trust-url URL [--json]
//! tapprove admin project list [--json]
//! tapprove admin project rotate-webhook --project ID [--json]
//! tapprove device pair --server URL --sdk-key KEY --user NAME --code CODE [--store DIR] | --uri tapprove://…
//! tapprove device accounts|requests [--json]
//! tapprove device respond ID --choose OPTION | --approve | --deny [--not-me]
//! tapprove device unpair ACCOUNT
//! tapprove device listen
//! tapprove demo [--data DIR] [--port-service 8080] [--port-site 3000]
//! ```
//!
//! Every command exits 0 on success; on failure it prints one line (what went wrong and what to
//! do) and exits non-zero.

mod admin;
mod demo;
mod device;
mod error;
mod output;
mod progress;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use error::CliError;

/// Push authentication with number matching: service, admin, terminal authenticator and demo.
#[derive(Debug, Parser)]
#[command(name = "tapprove", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Tapprove service.
    Serve(serve::ServeArgs),
    /// Operator commands on the service database.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// The terminal authenticator: pair, list and answer login requests.
    Device(device::DeviceArgs),
    /// Run the service and the Demo Bank website on this machine.
    Demo(demo::DemoArgs),
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TAPPROVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(args) => {
            init_logging("info");
            serve::run(args).await
        }
        Command::Admin(cmd) => {
            init_logging("warn");
            admin::run(cmd).await
        }
        Command::Device(args) => {
            init_logging("error");
            device::run(args).await
        }
        Command::Demo(args) => {
            init_logging("info,sqlx=warn");
            demo::run(args).await
        }
    }
}

/// Parses the arguments. Help and version print as usual; a usage error becomes one line
/// (clap's first paragraph) plus where to get help, and exit code 2.
fn parse_args() -> Result<Cli, ExitCode> {
    use clap::error::ErrorKind;
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            let _ = e.print();
            Err(if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let first: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let line = first.join(" ");
            let line = line.strip_prefix("error: ").unwrap_or(&line);
            eprintln!("tapprove: {line} (see `tapprove help` and `tapprove <command> --help`)");
            Err(ExitCode::from(2))
        }
    }
}

fn main() -> ExitCode {
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    // One crypto library (ring) for every TLS connection; "already installed" is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!(
                "tapprove: cannot start the async runtime: {e}; check the system's thread and file limits"
            );
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Do not wait for blocked stdin readers (device listen).
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let line = e.to_string().replace('\n', " ");
            eprintln!("tapprove: {line}");
            ExitCode::from(e.exit_code())
        }
    }
}
