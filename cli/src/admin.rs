//! `tapprove admin project create | list | set-trust-url | set-policy | set-events-url |
//! rotate-webhook`: operator actions on the service
//! database (the same `--database` and seal key as `tapprove serve`).

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
}

impl PolicyArgs {
    fn resolve(&self) -> Result<admin::PresencePolicy, CliError> {
        admin::PresencePolicy::new(&self.policy, self.code_digits)
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
    let AdminCommand::Project(cmd) = cmd;
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
            println!("Created project {name:?} ({}).", creds.project_id);
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
                    "Project {} now sends its events to {u}.",
                    summary.project_id
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
