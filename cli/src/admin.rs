//! `tapprove admin project create | list | set-trust-url | rotate-webhook` and
//! `tapprove admin device list | revoke`: operator actions on the service database (the same
//! `--database` and seal key as `tapprove serve`).

use std::path::PathBuf;

use tapprove_server::{SealKey, admin};

use crate::error::CliError;
use crate::serve::load_config;

/// `tapprove admin …`
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Manage relying-party projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// List and revoke users' paired devices (a lost or stolen phone).
    #[command(subcommand)]
    Device(DeviceCommand),
}

/// `tapprove admin device …`
#[derive(Debug, clap::Subcommand)]
pub enum DeviceCommand {
    /// List a project's paired devices (no secrets).
    List {
        /// The project id (prj_…).
        #[arg(long)]
        project: String,
        /// Only this user's devices.
        #[arg(long)]
        user: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke one device or every device of a user; takes effect at the device's next call.
    Revoke {
        /// The project id (prj_…).
        #[arg(long)]
        project: String,
        /// The device (account) id, acc_… (from `tapprove admin device list`).
        #[arg(long, conflicts_with = "user", required_unless_present = "user")]
        device: Option<String>,
        /// Revoke every device of this user (a lost phone).
        #[arg(long)]
        user: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// `tapprove admin project …`
#[derive(Debug, clap::Subcommand)]
pub enum ProjectCommand {
    /// Create a project; prints its API key, SDK key and webhook credentials (shown once).
    Create {
        /// Display name, shown on phones (e.g. "Demo Bank").
        #[arg(long)]
        name: String,
        /// The site's trust webhook, e.g. https://bank.example/users/trust (http only on loopback).
        #[arg(long)]
        trust_url: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List projects (no secrets).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Point a project at a new trust webhook URL (the site moved); takes effect at once.
    SetTrustUrl {
        /// The project id (prj_…).
        #[arg(long)]
        project: String,
        /// The site's new trust webhook (http only on loopback).
        #[arg(long)]
        trust_url: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Replace a project's webhook password and signing secret; prints the new ones.
    RotateWebhook {
        /// The project id (prj_…).
        #[arg(long)]
        project: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Which database, as for `tapprove serve`.
#[derive(Debug, clap::Args)]
pub struct DbArgs {
    /// Database URL [default: sqlite://tapprove.db?mode=rwc; env TAPPROVE_DATABASE_URL].
    #[arg(long)]
    pub database: Option<String>,
    /// TOML configuration file (for seal_key) [env TAPPROVE_SEAL_KEY].
    #[arg(long)]
    pub config: Option<PathBuf>,
}

impl DbArgs {
    fn resolve(&self, need_seal_key: bool) -> Result<(String, Option<SealKey>), CliError> {
        let cfg = load_config(self.config.as_deref(), self.database.as_deref())?;
        if need_seal_key && cfg.seal_key.is_none() {
            return Err(tapprove_server::ServiceError::MissingSealKey.into());
        }
        Ok((cfg.database_url, cfg.seal_key))
    }
}

fn json_line<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let s = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Other(format!("cannot print JSON: {e}")))?;
    println!("{s}");
    Ok(())
}

/// Runs an admin command.
pub async fn run(cmd: AdminCommand) -> Result<(), CliError> {
    match cmd {
        AdminCommand::Project(cmd) => run_project(cmd).await,
        AdminCommand::Device(cmd) => run_device(cmd).await,
    }
}

/// `YYYY-MM-DD HH:MM:SSZ` of Unix seconds (UTC).
fn utc_time(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

async fn run_device(cmd: DeviceCommand) -> Result<(), CliError> {
    match cmd {
        DeviceCommand::List {
            project,
            user,
            json,
            db,
        } => {
            let (url, _) = db.resolve(false)?;
            let devices = admin::list_devices(&url, &project, user.as_deref()).await?;
            if json {
                return json_line(&devices);
            }
            if devices.is_empty() {
                println!("No paired devices.");
                return Ok(());
            }
            println!(
                "{:<30} {:<20} {:<20} {:<5} {:<9} {:<21} LAST USED",
                "DEVICE", "USER", "NAME", "PUSH", "KEY", "PAIRED"
            );
            for d in devices {
                let v = &d.device;
                println!(
                    "{:<30} {:<20} {:<20} {:<5} {:<9} {:<21} {}",
                    v.id,
                    d.user,
                    v.name.as_deref().unwrap_or("-"),
                    serde_json::to_value(v.platform)
                        .ok()
                        .and_then(|p| p.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    v.key_protection.as_str(),
                    utc_time(v.created_at),
                    v.last_used_at.map_or_else(|| "never".to_owned(), utc_time)
                );
            }
            Ok(())
        }
        DeviceCommand::Revoke {
            project,
            device,
            user,
            json,
            db,
        } => {
            let target = match (device, user) {
                (Some(d), _) => admin::RevokeTarget::Device(d),
                (None, Some(u)) => admin::RevokeTarget::User(u),
                (None, None) => {
                    return Err(CliError::Other(
                        "say which devices to revoke: --device acc_… or --user NAME".into(),
                    ));
                }
            };
            let (url, _) = db.resolve(false)?;
            let summary = admin::revoke_devices(&url, &project, target).await?;
            if json {
                return json_line(&summary);
            }
            if summary.revoked.is_empty() {
                println!("Nothing to revoke: no such paired device is left.");
            } else {
                println!(
                    "Revoked {} device(s): {}. Their next call is refused as revoked; {} pending \
                     login request(s) ended.",
                    summary.revoked.len(),
                    summary.revoked.join(", "),
                    summary.sessions_ended
                );
            }
            Ok(())
        }
    }
}

async fn run_project(cmd: ProjectCommand) -> Result<(), CliError> {
    match cmd {
        ProjectCommand::Create {
            name,
            trust_url,
            json,
            db,
        } => {
            let (url, seal) = db.resolve(true)?;
            let seal = seal.ok_or(tapprove_server::ServiceError::MissingSealKey)?;
            let creds = admin::create_project(&url, &seal, &name, &trust_url).await?;
            if json {
                return json_line(&creds);
            }
            println!("Created project {name:?} ({}).", creds.project_id);
            println!(
                "The secrets below are shown only this once: put them into the site's configuration now."
            );
            println!(
                "  API key (site server, secret):      {}",
                creds.api_key.expose()
            );
            println!("  SDK key (apps, public):             {}", creds.sdk_key);
            println!(
                "  Webhook Basic user name:            {}",
                creds.webhook_username
            );
            println!(
                "  Webhook Basic password (secret):    {}",
                creds.webhook_password.expose()
            );
            println!(
                "  Webhook signing secret (secret):    {}",
                creds.webhook_secret.expose()
            );
            Ok(())
        }
        ProjectCommand::List { json, db } => {
            let (url, _) = db.resolve(false)?;
            let projects = admin::list_projects(&url).await?;
            if json {
                return json_line(&projects);
            }
            if projects.is_empty() {
                println!(
                    "No projects yet; create one with `tapprove admin project create --name NAME --trust-url URL`."
                );
                return Ok(());
            }
            println!(
                "{:<32} {:<20} {:<31} TRUST URL",
                "PROJECT", "NAME", "SDK KEY"
            );
            for p in projects {
                println!(
                    "{:<32} {:<20} {:<31} {}",
                    p.project_id, p.name, p.sdk_key, p.trust_url
                );
            }
            Ok(())
        }
        ProjectCommand::SetTrustUrl {
            project,
            trust_url,
            json,
            db,
        } => {
            let (url, _) = db.resolve(false)?;
            let summary = admin::set_trust_url(&url, &project, &trust_url).await?;
            if json {
                return json_line(&summary);
            }
            println!(
                "Project {} now asks {} to trust pairings.",
                summary.project_id, summary.trust_url
            );
            Ok(())
        }
        ProjectCommand::RotateWebhook { project, json, db } => {
            let (url, seal) = db.resolve(true)?;
            let seal = seal.ok_or(tapprove_server::ServiceError::MissingSealKey)?;
            let creds = admin::rotate_webhook_credentials(&url, &seal, &project).await?;
            if json {
                return json_line(&creds);
            }
            println!(
                "Rotated the webhook credentials of {}. Update the site now: pairing fails until it uses these.",
                creds.project_id
            );
            println!(
                "  Webhook Basic user name:            {}",
                creds.webhook_username
            );
            println!(
                "  Webhook Basic password (secret):    {}",
                creds.webhook_password.expose()
            );
            println!(
                "  Webhook signing secret (secret):    {}",
                creds.webhook_secret.expose()
            );
            Ok(())
        }
    }
}
