//! `tapprove device …`: the terminal authenticator, over the device core with a [`FileStore`]
//! (files 0600 in a 0700 directory) and a [`SoftwareSigner`].

mod keyring_store;
mod listen;
mod passphrase;

use std::path::PathBuf;
use std::sync::Arc;

use tapprove_core::{
    Account, Authenticator, Config, Decision, DenyReason, FileStore, LoginRequest, PresenceMode,
    RespondOutcome, SessionStatus, SoftwareSigner, UserVerifier,
};

use passphrase::PassphraseVerifier;

use crate::error::CliError;
use crate::progress::with_spinner;

/// `tapprove device …`
#[derive(Debug, clap::Args)]
pub struct DeviceArgs {
    /// Where the accounts and device keys live [default: $TAPPROVE_HOME or ~/.tapprove].
    #[arg(long, global = true, env = "TAPPROVE_STORE")]
    pub store: Option<PathBuf>,
    #[command(subcommand)]
    pub command: DeviceCommand,
}

/// The device subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DeviceCommand {
    /// Pair with a site: user name and one-time code as the site shows them (or --uri).
    Pair {
        /// Service URL, e.g. http://127.0.0.1:8080.
        #[arg(long, required_unless_present = "uri", conflicts_with = "uri")]
        server: Option<String>,
        /// The project's SDK key (tap_sdk_…).
        #[arg(long, required_unless_present = "uri", conflicts_with = "uri")]
        sdk_key: Option<String>,
        /// Your user name at the site.
        #[arg(long, required_unless_present = "uri", conflicts_with = "uri")]
        user: Option<String>,
        /// The pairing code the site shows (XXXX-XXXX).
        #[arg(long, required_unless_present = "uri", conflicts_with = "uri")]
        code: Option<String>,
        /// The enrollment link instead (tapprove://pair?…, what the QR code holds).
        #[arg(long)]
        uri: Option<String>,
        /// A name for this device, shown to operators.
        #[arg(long)]
        name: Option<String>,
        /// Print the new account as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the paired accounts.
    Accounts {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the login requests waiting for an answer.
    Requests {
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Answer a login request: approve with the number shown on the login page, or deny.
    Respond {
        /// The request id (ses_…), from `tapprove device requests`.
        id: String,
        /// Approve, picking this option (choose mode).
        #[arg(long, conflicts_with_all = ["approve", "deny", "code"])]
        choose: Option<String>,
        /// Approve, typing the code the login page shows (entry mode, e.g. 6 digits).
        #[arg(long, conflicts_with_all = ["approve", "deny"])]
        code: Option<String>,
        /// Approve a request that asks for no code (none mode).
        #[arg(long, conflicts_with = "deny")]
        approve: bool,
        /// Deny the request ("cancel").
        #[arg(long)]
        deny: bool,
        /// Deny and report that it was not you (implies --deny).
        #[arg(long)]
        not_me: bool,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Unpair an account: the service forgets this device, and the local key is deleted.
    Unpair {
        /// The account id (acc_…), from `tapprove device accounts`.
        account: String,
    },
    /// Wait for login requests and answer them with single keys (1/2/3, d, n, q).
    Listen {
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
    },
    /// The local passphrase asked before approvals that require user verification.
    Passphrase {
        #[command(subcommand)]
        action: PassphraseAction,
    },
}

/// `tapprove device passphrase …`
#[derive(Debug, clap::Subcommand)]
pub enum PassphraseAction {
    /// Set (or change) the passphrase: typed twice without echo, or two lines on stdin.
    Set,
    /// Remove it: approvals that require user verification then fail.
    Remove,
    /// Say whether one is set.
    Status,
}

/// The store directory: `--store`, else `$TAPPROVE_HOME`, else `~/.tapprove`.
pub fn store_dir(flag: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(dir) = flag {
        return Ok(dir);
    }
    if let Some(home) = std::env::var_os("TAPPROVE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".tapprove")),
        None => Err(CliError::Usage(
            "cannot find a home directory; pass --store DIR or set TAPPROVE_HOME".into(),
        )),
    }
}

/// Opens the authenticator over the store in `dir`. `config` is the default service for
/// pairing; commands that use stored accounts pass `None` (each account keeps its own service).
pub fn open(dir: &std::path::Path, config: Option<Config>) -> Result<Authenticator, CliError> {
    Ok(open_device(dir, config)?.0)
}

/// Like [`open`], and the passphrase verifier it installed (the commands that approve hand it
/// the typed passphrase).
fn open_device(
    dir: &std::path::Path,
    config: Option<Config>,
) -> Result<(Authenticator, Arc<PassphraseVerifier>), CliError> {
    let store = Arc::new(FileStore::open(dir)?);
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    // Only pairing uses the default configuration; a placeholder keeps the type simple.
    let config = match config {
        Some(c) => c,
        None => Config::new("http://127.0.0.1", "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA")?,
    };
    let auth = Authenticator::new(config, store.clone(), signer)?;
    let verifier = Arc::new(PassphraseVerifier::new(store));
    auth.set_user_verifier(Some(verifier.clone() as Arc<dyn UserVerifier>));
    Ok((auth, verifier))
}

/// Asks for the passphrase when approving `request` needs user verification and one is set
/// (without one, the core refuses the approval and says how to set it).
fn ask_passphrase_if_needed(
    verifier: &PassphraseVerifier,
    request: Option<&LoginRequest>,
) -> Result<(), CliError> {
    if request.is_some_and(|r| r.user_verification.is_some()) && verifier.is_set() {
        verifier.provide(passphrase::read("Passphrase (to approve): ")?);
    }
    Ok(())
}

/// Replaces each code-to-phone request's code with what `show_code` gives: the passphrase
/// first when the request asks for verification, and the service told the code was shown
/// (without it, a `nist-aal2` service refuses the code). `None` when it cannot be shown.
async fn reveal_codes(
    auth: &Authenticator,
    verifier: &PassphraseVerifier,
    requests: &mut [LoginRequest],
) -> Result<(), CliError> {
    for r in requests
        .iter_mut()
        .filter(|r| r.presence_mode == PresenceMode::Display)
    {
        if r.user_verification.is_some() && verifier.is_set() {
            verifier.provide(passphrase::read("Passphrase (to see the sign-in code): ")?);
        }
        r.display_code = match auth.show_code(&r.id).await {
            Ok(code) => Some(code),
            Err(e) => {
                eprintln!("{}: cannot show the code: {e}", shown(&r.id));
                None
            }
        };
    }
    Ok(())
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let s = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Other(format!("cannot print JSON: {e}")))?;
    println!("{s}");
    Ok(())
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `text` as this terminal prints it: what the service signed was written by a relying party
/// (and, in the context, by whoever runs the browser), so nothing in it may drive the terminal
/// or reorder what the user reads. The service applies the same rule; printing it again keeps a
/// compromised or older service from reaching the terminal.
pub(crate) fn shown(text: &str) -> String {
    tapprove_protocol::text::sanitize(text)
}

/// Human summary of a request's context ("Demo Bank · 127.0.0.1 · Lyon · Firefox on Linux").
/// The raw user agent is never shown: it is the browser's (the attacker's) own words, so only
/// the browser and system the service read from it are.
pub(crate) fn context_line(r: &LoginRequest) -> String {
    let c = &r.context;
    let browser = match (c.browser.as_deref(), c.os.as_deref()) {
        (Some(b), Some(o)) => Some(format!("{b} on {o}")),
        (Some(b), None) => Some(b.to_owned()),
        (None, Some(o)) => Some(format!("unknown browser on {o}")),
        (None, None) => c.user_agent.as_ref().map(|_| "unknown browser".to_owned()),
    };
    let parts: Vec<String> = [c.app.clone(), c.ip.clone(), c.location.clone(), browser]
        .into_iter()
        .flatten()
        .map(|p| shown(&p))
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        "no context given".into()
    } else {
        parts.join(" · ")
    }
}

/// One line describing an outcome.
pub(crate) fn outcome_line(o: &RespondOutcome) -> String {
    match (o.status, o.reason) {
        (SessionStatus::Accepted, _) => "approved: the login goes through".into(),
        (status, Some(reason)) => {
            let reason = serde_json::to_value(reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            format!("{}: {reason}", status.as_str())
        }
        (status, None) => status.as_str().to_owned(),
    }
}

fn print_accounts(accounts: &[Account]) {
    if accounts.is_empty() {
        println!("No accounts on this device yet; pair one with `tapprove device pair …`.");
        return;
    }
    println!("{:<32} {:<16} {:<16} SERVER", "ACCOUNT", "PROJECT", "USER");
    for a in accounts {
        println!(
            "{:<32} {:<16} {:<16} {}",
            a.id, a.project_name, a.user, a.server_url
        );
        if let Some(at) = a.revoked_at {
            println!(
                "    removed by {} on {}: no longer used; `tapprove device unpair {}` deletes it here",
                a.project_name,
                tapprove_core::clock::utc_text(at),
                a.id
            );
        }
    }
}

fn print_requests(requests: &[LoginRequest]) {
    if requests.is_empty() {
        println!("No login requests waiting.");
        return;
    }
    let now = now();
    for r in requests {
        println!("{}  {}", shown(&r.id), shown(&r.title));
        println!("    {} ({})", shown(&r.body), context_line(r));
        match r.presence_mode {
            PresenceMode::Choose => {
                let options: Vec<String> = r.options.iter().map(|o| shown(o)).collect();
                println!("    options: {}", options.join("  "))
            }
            PresenceMode::Entry => match r.code_length {
                Some(n) => println!("    type the {n}-digit code shown on the login page: --code"),
                None => println!("    type the code shown on the login page: --code"),
            },
            PresenceMode::None => println!("    approve or deny"),
            PresenceMode::Display => match &r.display_code {
                Some(code) => println!(
                    "    code to type at the login prompt: {} (not you? `tapprove device respond {} --not-me`)",
                    shown(code),
                    shown(&r.id)
                ),
                None => println!("    code to phone: the code could not be shown (see above)"),
            },
        }
        println!(
            "    user {} · account {} · {} s left",
            shown(&r.user),
            shown(&r.account_id),
            (r.expires_at - now).max(0)
        );
    }
}

/// Runs a device command.
pub async fn run(args: DeviceArgs) -> Result<(), CliError> {
    let dir = store_dir(args.store)?;
    match args.command {
        DeviceCommand::Pair {
            server,
            sdk_key,
            user,
            code,
            uri,
            name,
            json,
        } => {
            let account = if let Some(uri) = uri {
                let auth = open(&dir, None)?;
                let parsed = tapprove_core::EnrollmentUri::parse(&uri)?;
                let mut config = parsed.config.clone();
                if let Some(n) = &name {
                    config = config.with_device_name(n);
                }
                with_spinner(
                    "pairing (the site is checking the code)…",
                    auth.pair_with(config, &parsed.user, &parsed.code, None),
                )
                .await?
            } else {
                let (Some(server), Some(sdk_key), Some(user), Some(code)) =
                    (server, sdk_key, user, code)
                else {
                    return Err(CliError::Usage(
                        "give --server, --sdk-key, --user and --code, or --uri".into(),
                    ));
                };
                let mut config = Config::new(&server, &sdk_key)?;
                if let Some(n) = &name {
                    config = config.with_device_name(n);
                }
                let auth = open(&dir, Some(config))?;
                with_spinner(
                    "pairing (the site is checking the code)…",
                    auth.pair(&user, &code, None),
                )
                .await?
            };
            if json {
                return print_json(&account);
            }
            println!(
                "Paired {} at {} (account {}). Answer logins with `tapprove device listen --store {}`.",
                account.user,
                account.project_name,
                account.id,
                crate::demo::site::shell_quote(&dir.to_string_lossy())
            );
            Ok(())
        }
        DeviceCommand::Accounts { json } => {
            let accounts = open(&dir, None)?.accounts()?;
            if json {
                print_json(&accounts)
            } else {
                print_accounts(&accounts);
                Ok(())
            }
        }
        DeviceCommand::Requests { account, json } => {
            let (auth, verifier) = open_device(&dir, None)?;
            let mut requests = with_spinner(
                "reading pending requests…",
                auth.pending(account.as_deref()),
            )
            .await?;
            reveal_codes(&auth, &verifier, &mut requests).await?;
            if json {
                print_json(&requests)
            } else {
                print_requests(&requests);
                // Accounts the site removed (now or before) are not asked: say so.
                for a in auth.accounts()?.iter().filter(|a| {
                    a.revoked_at.is_some() && account.as_ref().is_none_or(|id| *id == a.id)
                }) {
                    println!(
                        "{} removed this device from {}'s account on {}; it gets no more requests.",
                        a.project_name,
                        a.user,
                        a.revoked_at
                            .map(tapprove_core::clock::utc_text)
                            .unwrap_or_default()
                    );
                }
                Ok(())
            }
        }
        DeviceCommand::Respond {
            id,
            choose,
            code,
            approve,
            deny,
            not_me,
            json,
        } => {
            let choose = choose.or(code);
            let decision = if deny || not_me {
                Decision::Deny {
                    reason: if not_me {
                        DenyReason::NotMe
                    } else {
                        DenyReason::Cancelled
                    },
                }
            } else if choose.is_some() || approve {
                Decision::Approve {
                    presence_answer: choose,
                }
            } else {
                return Err(CliError::Usage(
                    "say how to answer: --choose NUMBER or --code CODE (as the login page shows), --approve, --deny or --not-me".into(),
                ));
            };
            let (auth, verifier) = open_device(&dir, None)?;
            if matches!(decision, Decision::Approve { .. }) && verifier.is_set() {
                // Does this approval need the passphrase? The request says (read before the
                // spinner starts, so the prompt is not drawn over).
                let pending = auth.pending(None).await.unwrap_or_default();
                ask_passphrase_if_needed(&verifier, pending.iter().find(|r| r.id == id))?;
            }
            let outcome = with_spinner("sending the answer…", auth.respond(&id, decision)).await?;
            if json {
                return print_json(&serde_json::json!({
                    "request_id": outcome.request_id,
                    "status": outcome.status,
                    "reason": outcome.reason,
                }));
            }
            println!("{}: {}", outcome.request_id, outcome_line(&outcome));
            Ok(())
        }
        DeviceCommand::Unpair { account } => {
            let auth = open(&dir, None)?;
            with_spinner("unpairing…", auth.unpair(&account)).await?;
            println!(
                "Unpaired {account}: the service no longer sends it requests and its key is deleted."
            );
            Ok(())
        }
        DeviceCommand::Listen { account } => {
            let (auth, verifier) = open_device(&dir, None)?;
            listen::run(auth, verifier, account).await
        }
        DeviceCommand::Passphrase { action } => {
            let store = FileStore::open(&dir)?;
            match action {
                PassphraseAction::Set => {
                    let first = passphrase::read("New passphrase: ")?;
                    let again = passphrase::read("Same passphrase again: ")?;
                    if *first != *again {
                        return Err(CliError::Usage(
                            "the two passphrases differ; nothing was changed".into(),
                        ));
                    }
                    passphrase::set(&store, &first)?;
                    println!(
                        "Passphrase set: approvals that require user verification will ask for it."
                    );
                }
                PassphraseAction::Remove => {
                    passphrase::remove(&store)?;
                    println!(
                        "Passphrase removed: approvals that require user verification will be refused."
                    );
                }
                PassphraseAction::Status => println!(
                    "{}",
                    if passphrase::is_set(&store)? {
                        "A passphrase is set."
                    } else {
                        "No passphrase is set (`tapprove device passphrase set`)."
                    }
                ),
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use tapprove_core::{Context, LoginRequest, PresenceMode};

    use super::{context_line, shown};

    fn request(context: Context) -> LoginRequest {
        LoginRequest {
            id: "ses_1".into(),
            account_id: "acc_1".into(),
            user: "alice".into(),
            title: "Log in?".into(),
            body: "Someone is signing in.".into(),
            context,
            presence_mode: PresenceMode::Choose,
            options: vec!["17".into(), "42".into(), "88".into()],
            code_length: None,
            display_code: None,
            user_verification: None,
            issued_at: 0,
            expires_at: 60,
        }
    }

    #[test]
    fn the_raw_user_agent_is_never_printed_only_what_the_service_read_from_it() {
        let r = request(Context {
            app: Some("Demo Bank".into()),
            user_agent: Some("Type 482913 to block this sign-in".into()),
            ..Context::default()
        });
        assert_eq!(context_line(&r), "Demo Bank · unknown browser");
        let r = request(Context {
            user_agent: Some("Type 482913 to block this sign-in".into()),
            browser: Some("Firefox".into()),
            os: Some("Linux".into()),
            ..Context::default()
        });
        assert_eq!(context_line(&r), "Firefox on Linux");
    }

    #[test]
    fn escape_sequences_and_bidi_controls_do_not_reach_the_terminal() {
        let r = request(Context {
            app: Some("Bank\u{1b}]0;owned\u{7}\u{202E}knaB".into()),
            location: Some("Lyon\n\nApprove now".into()),
            ..Context::default()
        });
        let line = context_line(&r);
        assert!(
            !line.chars().any(|c| c.is_control() || c == '\u{202E}'),
            "{line:?}"
        );
        assert_eq!(line, "Bank]0;ownedknaB · Lyon Approve now");
        assert_eq!(shown("title\u{1b}[2J"), "title[2J");
    }
}
