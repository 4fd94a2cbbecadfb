//! `tapprove admin project create | list | set-trust-url | set-policy | set-events-url |
//! rotate-webhook | rotate-api-key | revoke-api-key`, `tapprove admin device list | revoke` and
//! `tapprove admin service-key rotate | list` and `tapprove admin audit` (in `admin/audit.rs`):
//! operator actions on the service database (the same `--database` and seal key as
//! `tapprove serve`).

mod audit;

use std::path::PathBuf;

use tapprove_server::{SealKey, admin};

use crate::error::CliError;
use crate::output::{printable, utc_time};
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
    /// Read the audit log: pairings, revocations, key rotations, logins, refusals.
    Audit(audit::AuditArgs),
    /// Rotate and list the service's challenge-signing key (devices move without re-pairing).
    #[command(subcommand)]
    ServiceKey(ServiceKeyCommand),
}

/// `tapprove admin service-key …`
#[derive(Debug, clap::Subcommand)]
pub enum ServiceKeyCommand {
    /// Make a new signing key; devices pinned to the current one get a key update signed by it
    /// until the grace period ends. Running `tapprove serve` instances pick it up by themselves.
    Rotate {
        /// How long the current key stays accepted while devices learn the new one: 7d, 24h,
        /// or 0s for a suspected leak (every device paired before must pair again; at most 30d).
        #[arg(long, default_value = "7d", value_parser = parse_duration)]
        grace: std::time::Duration,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the service keys and their state (signing, grace, retired).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
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
    #[command(group(clap::ArgGroup::new("target").required(true).args(["device", "user"])))]
    Revoke {
        /// The project id (prj_…).
        #[arg(long)]
        project: String,
        /// The device (account) id, acc_… (from `tapprove admin device list`).
        #[arg(long)]
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
        #[command(flatten)]
        policy: PolicyArgs,
        /// Where the service sends `user.fraud_reported` events (signed like the trust webhook).
        #[arg(long)]
        events_url: Option<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Set a project's presence policy; takes effect with the next login request.
    SetPolicy {
        /// The project id (prj_…).
        #[arg(long)]
        project: String,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Set (or with --none remove) the URL that receives the project's events.
    SetEventsUrl {
        /// The project id (prj_…).
        #[arg(long)]
        project: String,
        /// The site's events endpoint (http only on loopback).
        #[arg(long, required_unless_present = "none")]
        events_url: Option<String>,
        /// Send no events.
        #[arg(long, conflicts_with = "events_url")]
        none: bool,
        /// Print JSON instead of text.
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
    /// Make a new API key (printed once); the old one keeps working for --retire-old-after.
    RotateApiKey {
        /// The project id (prj_…).
        #[arg(long)]
        project: String,
        /// How long the old key keeps working so the site can redeploy: 24h, 30m, 7d, or 0s
        /// for a leak (at most 30d).
        #[arg(long, default_value = "24h", value_parser = parse_duration)]
        retire_old_after: std::time::Duration,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// A leaked API key: make a new one (printed once) and stop every old one now.
    RevokeApiKey {
        /// The project id (prj_…).
        #[arg(long)]
        project: String,
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

/// The presence policy options.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// Presence policy: choose (pick 1 of 3 numbers), entry (type the code), nist-aal2 (type
    /// a code of at least 6 digits, user verification on the phone). Recommended: nist-aal2.
    #[arg(long, default_value = "choose")]
    pub policy: String,
    /// Digits of a typed code (entry: 4 to 12, nist-aal2: 6 to 12) [default: 6].
    #[arg(long)]
    pub code_digits: Option<u8>,
    /// Let sessions ask for approve-only (`"presence": "none"`), for login sides that can show
    /// nothing; off by default, refused with nist-aal2. Prefer `display` (code to phone).
    #[arg(long)]
    pub allow_approve_only: bool,
}

impl PolicyArgs {
    fn resolve(&self) -> Result<admin::PresencePolicy, CliError> {
        admin::PresencePolicy::new(&self.policy, self.code_digits)
            .and_then(|p| p.with_approve_only(self.allow_approve_only))
            .map_err(|e| tapprove_server::ServiceError::InvalidInput(e.0).into())
    }
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
    /// Data directory of `tapprove serve`'s embedded defaults (database and seal key).
    #[arg(long, env = "TAPPROVE_DATA_DIR", default_value = "./tapprove-data")]
    pub data: PathBuf,
}

impl DbArgs {
    fn resolve(&self, need_seal_key: bool) -> Result<(String, Option<SealKey>), CliError> {
        let cfg = load_config(self.config.as_deref(), self.database.as_deref(), &self.data)?;
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
        AdminCommand::Audit(args) => audit::run(args).await,
        AdminCommand::ServiceKey(cmd) => run_service_key(cmd).await,
    }
}

async fn run_service_key(cmd: ServiceKeyCommand) -> Result<(), CliError> {
    match cmd {
        ServiceKeyCommand::Rotate { grace, json, db } => {
            let (url, seal) = db.resolve(true)?;
            let seal = seal.ok_or(tapprove_server::ServiceError::MissingSealKey)?;
            let r = admin::rotate_service_key(&url, &seal, grace).await?;
            if json {
                return json_line(&r);
            }
            println!(
                "New service signing key {} (signs challenges from now on).",
                r.kid
            );
            println!("  Public key:                         {}", r.public_key);
            if grace.is_zero() {
                println!(
                    "The previous key {} retired now: every device paired before must pair again.",
                    r.old_kid
                );
            } else {
                println!(
                    "Devices pinned to the previous key {} learn the new one until {}; a device \
                     that makes no call before then must pair again.",
                    r.old_kid,
                    utc_time(r.old_key_valid_until)
                );
            }
            Ok(())
        }
        ServiceKeyCommand::List { json, db } => {
            let (url, _) = db.resolve(false)?;
            let keys = admin::list_service_keys(&url).await?;
            if json {
                return json_line(&keys);
            }
            println!(
                "{:<24} {:<8} {:<21} {:<21}",
                "KID", "STATE", "CREATED", "RETIRES"
            );
            for k in &keys {
                println!(
                    "{:<24} {:<8} {:<21} {:<21}",
                    k.kid,
                    k.state,
                    utc_time(k.created_at),
                    k.retires_at.map(utc_time).unwrap_or_else(|| "-".into())
                );
            }
            Ok(())
        }
    }
}

async fn rotate_api_key(
    project: &str,
    retire_old_after: std::time::Duration,
    json: bool,
    db: &DbArgs,
) -> Result<(), CliError> {
    let (url, _) = db.resolve(false)?;
    let r = admin::rotate_api_key(&url, project, retire_old_after).await?;
    if json {
        return json_line(&r);
    }
    println!(
        "New API key of {} (shown only this once; put it into the site's configuration now):",
        r.project_id
    );
    println!(
        "  API key (site server, secret):      {}",
        r.api_key.expose()
    );
    match r.old_key_retires_at {
        Some(at) if retire_old_after.is_zero() => {
            println!("Every previous key stopped working at {}.", utc_time(at))
        }
        Some(at) => println!(
            "The previous key keeps working until {}; any older one stopped now.",
            utc_time(at)
        ),
        None => println!("There was no previous key."),
    }
    Ok(())
}

/// A duration like `24h`, `30m`, `90s`, `7d` (one number, one unit).
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit: write e.g. 24h, 30m, 90s or 7d"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number: write e.g. 24h"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}: use s, m, h or d"
            ));
        }
    };
    n.checked_mul(secs)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
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
                    printable(&v.id),
                    printable(&d.user),
                    v.name.as_deref().map_or_else(|| "-".to_owned(), printable),
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
                    printable(&summary.revoked.join(", ")),
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
            policy,
            events_url,
            json,
            db,
        } => {
            let policy = policy.resolve()?;
            let (url, seal) = db.resolve(true)?;
            let seal = seal.ok_or(tapprove_server::ServiceError::MissingSealKey)?;
            let new = admin::NewProject {
                name: &name,
                trust_url: &trust_url,
                policy,
                events_url: events_url.as_deref(),
            };
            let creds = admin::create_project_with(&url, &seal, &new).await?;
            if json {
                let mut v = serde_json::to_value(&creds)
                    .map_err(|e| CliError::Other(format!("cannot print JSON: {e}")))?;
                v["policy"] = serde_json::json!(policy);
                return json_line(&v);
            }
            println!(
                "Created project \"{}\" ({}).",
                printable(&name),
                creds.project_id
            );
            println!(
                "  Presence policy:                    {}",
                policy.describe()
            );
            if policy.kind != admin::PolicyKind::NistAal2 {
                println!(
                    "  (For NIST SP 800-63B-4 AAL2 use `tapprove admin project set-policy --project {} --policy nist-aal2`.)",
                    creds.project_id
                );
            }
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
                "{:<32} {:<20} {:<31} {:<24} TRUST URL",
                "PROJECT", "NAME", "SDK KEY", "POLICY"
            );
            for p in projects {
                let approve_only = if p.policy.allow_approve_only {
                    " +approve-only"
                } else {
                    ""
                };
                println!(
                    "{:<32} {:<20} {:<31} {:<24} {}",
                    p.project_id,
                    printable(&p.name),
                    p.sdk_key,
                    format!("{}{approve_only}", p.policy.kind.as_str()),
                    printable(&p.trust_url)
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
                summary.project_id,
                printable(&summary.trust_url)
            );
            Ok(())
        }
        ProjectCommand::RotateApiKey {
            project,
            retire_old_after,
            json,
            db,
        } => rotate_api_key(&project, retire_old_after, json, &db).await,
        ProjectCommand::RevokeApiKey { project, json, db } => {
            rotate_api_key(&project, std::time::Duration::ZERO, json, &db).await
        }
        ProjectCommand::SetPolicy {
            project,
            policy,
            json,
            db,
        } => {
            let policy = policy.resolve()?;
            let (url, _) = db.resolve(false)?;
            let summary = admin::set_policy(&url, &project, policy).await?;
            if json {
                return json_line(&summary);
            }
            println!(
                "Project {} now uses the presence policy {}.",
                summary.project_id,
                summary.policy.describe()
            );
            Ok(())
        }
        ProjectCommand::SetEventsUrl {
            project,
            events_url,
            none: _,
            json,
            db,
        } => {
            let (url, _) = db.resolve(false)?;
            let summary = admin::set_events_url(&url, &project, events_url.as_deref()).await?;
            if json {
                return json_line(&summary);
            }
            match &summary.events_url {
                Some(u) => println!(
                    "Project {} now sends its events to {}.",
                    summary.project_id,
                    printable(u)
                ),
                None => println!("Project {} sends no events.", summary.project_id),
            }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn durations_and_times() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert!(
            parse_duration("24")
                .expect_err("no unit")
                .contains("no unit")
        );
        assert!(
            parse_duration("h")
                .expect_err("no number")
                .contains("number")
        );
        assert!(parse_duration("3w").expect_err("unit").contains("unit"));
    }
}
