//! `tapprove demo`: the service and the Demo Bank website on 127.0.0.1, with everything kept in
//! one data directory (SQLite database, seal key, the site's users and project credentials).

pub mod code;
pub mod pages;
pub mod site;
pub mod store;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tapprove_server::{SealKey, Service, ServiceConfig, admin};

use crate::error::CliError;
use site::{SiteConfig, shell_quote};
use store::write_private;
use tapprove_rp::{ApiKey, WebhookVerifier};

/// Options of `tapprove demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Data directory (database, seal key, site users).
    #[arg(long, default_value = "./tapprove-data")]
    pub data: PathBuf,
    /// Port of the Tapprove service on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 8080)]
    pub port_service: u16,
    /// Port of the demo website on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 3000)]
    pub port_site: u16,
    /// Presence policy of the demo project, set at every start: choose (pick 1 of 3
    /// numbers), entry or nist-aal2 (type the code shown on the login page on the phone;
    /// nist-aal2 also requires user verification on the phone).
    #[arg(long, default_value = "choose")]
    pub policy: String,
    /// Digits of the typed code under entry / nist-aal2 [default: 6].
    #[arg(long)]
    pub code_digits: Option<u8>,
    /// The URL browsers use to reach the website when a proxy fronts it, e.g.
    /// https://bank.example [default: http://127.0.0.1:PORT]. Forms must come from this origin;
    /// with https:// the session cookie is `__Host-` and `Secure`.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// INSECURE, for trying the flow only: "I lost my phone" removes every device and pairs a
    /// new one on the password alone, without the recovery code issued at sign-up. Whoever
    /// learns a password can then take the account over.
    #[arg(long)]
    pub insecure_password_only_recovery: bool,
}

/// `--public-url` as the origin browsers send (scheme, host, port; no path), or why not.
fn public_origin(url: &str) -> Result<String, CliError> {
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    let Some(parsed) = parsed else {
        return Err(CliError::Other(format!(
            "--public-url {url:?} is not an http(s) URL; give the address browsers use, e.g. https://bank.example"
        )));
    };
    Ok(parsed.origin().ascii_serialization())
}

/// The demo project's credentials, saved (0600) in the data directory because the service
/// shows them only once.
#[derive(Serialize, Deserialize)]
struct DemoProject {
    project_id: String,
    trust_url: String,
    api_key: String,
    sdk_key: String,
    webhook_username: String,
    webhook_password: String,
    webhook_secret: String,
}

const PROJECT_NAME: &str = "Demo Bank";

/// The demo project: reused from `DIR/demo-project.json` when it still exists in the database
/// (its trust URL follows the site's port), created otherwise.
async fn demo_project(
    dir: &Path,
    db: &str,
    seal: &SealKey,
    trust_url: &str,
) -> Result<DemoProject, CliError> {
    let path = dir.join("demo-project.json");
    let existing = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<DemoProject>(&b).ok());
    let projects = admin::list_projects(db).await?;
    if let Some(mut p) = existing {
        if projects.iter().any(|x| x.project_id == p.project_id) {
            if p.trust_url != trust_url {
                // The site runs on another port: move the project, keeping paired devices.
                admin::set_trust_url(db, &p.project_id, trust_url).await?;
                p.trust_url = trust_url.to_owned();
                save_project(&path, &p)?;
            }
            return Ok(p);
        }
        eprintln!(
            "tapprove demo: the database was reset; creating a new project, so pair your device again"
        );
    }
    let creds = admin::create_project(db, seal, PROJECT_NAME, trust_url).await?;
    let project = DemoProject {
        project_id: creds.project_id.clone(),
        trust_url: trust_url.to_owned(),
        api_key: creds.api_key.expose().to_owned(),
        sdk_key: creds.sdk_key.clone(),
        webhook_username: creds.webhook_username.clone(),
        webhook_password: creds.webhook_password.expose().to_owned(),
        webhook_secret: creds.webhook_secret.expose().to_owned(),
    };
    save_project(&path, &project)?;
    Ok(project)
}

fn save_project(path: &Path, project: &DemoProject) -> Result<(), CliError> {
    let json = serde_json::to_vec_pretty(project)
        .map_err(|e| CliError::Other(format!("cannot save the demo project: {e}")))?;
    write_private(path, &json)
        .map_err(|e| CliError::io("write", path, e, "check the data directory's permissions"))
}

async fn bind(port: u16, what: &str, flag: &str) -> Result<tokio::net::TcpListener, CliError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        CliError::Other(format!(
            "cannot listen on {addr} for the {what}: {e}; stop the other program using it or pass {flag} with another port (0 = any free port)"
        ))
    })
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run(args: DemoArgs) -> Result<(), CliError> {
    let policy = admin::PresencePolicy::new(&args.policy, args.code_digits)
        .map_err(|e| tapprove_server::ServiceError::InvalidInput(e.0))?;
    // The same data directory rules and seal key file as `tapprove serve` on its defaults.
    let dir = crate::serve::private_dir(&args.data)?;
    let seal = crate::serve::embedded_seal_key(&dir)?;
    let db = format!("sqlite://{}?mode=rwc", dir.join("tapprove.db").display());

    // The site's port must be known before the project (its trust URL) is created.
    let site_listener = bind(args.port_site, "demo website", "--port-site").await?;
    let site_addr = site_listener
        .local_addr()
        .map_err(|e| CliError::Other(format!("cannot read the website's address: {e}")))?;
    let site_url = format!("http://{site_addr}");
    let public_url = match args.public_url {
        Some(url) => public_origin(&url)?,
        None => site_url.clone(),
    };
    let project = demo_project(&dir, &db, &seal, &format!("{site_url}/users/trust")).await?;
    admin::set_policy(&db, &project.project_id, policy).await?;
    eprintln!("tapprove demo: presence policy {}", policy.describe());
    if args.insecure_password_only_recovery {
        eprintln!(
            "tapprove demo: WARNING: --insecure-password-only-recovery: \"I lost my phone\" re-enrolls on the password alone; whoever learns a password can take the account over"
        );
    }

    // Check the service port first for a clearer message than the server's own.
    drop(bind(args.port_service, "Tapprove service", "--port-service").await?);
    let config = ServiceConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], args.port_service)),
        database_url: db,
        seal_key: Some(seal),
        ..ServiceConfig::default()
    };
    let service = Service::start(config).await?;
    let service_url = format!("http://{}", service.local_addr());

    let exe = std::env::current_exe().map_or_else(
        |_| "tapprove".to_owned(),
        |p| shell_quote(&p.to_string_lossy()),
    );
    let webhook = WebhookVerifier::new(
        &project.webhook_username,
        &project.webhook_password,
        &project.webhook_secret,
    )
    .map_err(|e| {
        CliError::Other(format!(
            "the demo project's webhook secret in {} is unusable ({e}); delete that file and the database to start over",
            dir.join("demo-project.json").display()
        ))
    })?;
    let device_store = dir.join("device");
    let cfg = SiteConfig {
        service_url: service_url.clone(),
        public_url,
        api_key: ApiKey::new(project.api_key),
        sdk_key: project.sdk_key.clone(),
        webhook,
        state_file: dir.join("site.json"),
        tapprove_cmd: exe,
        device_store,
        password_only_recovery: args.insecure_password_only_recovery,
    };
    let listen_cmd = cfg.listen_command();
    let pair_cmd = cfg.pair_command("YOUR_NAME", "XXXX-XXXX");

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut site_task = tokio::spawn(site::serve(site_listener, cfg, async move {
        let _ = stop_rx.await;
    }));

    let data = shell_quote(&dir.to_string_lossy());
    println!(
        "\nTapprove demo is running (data in {data}).\n\n  Website: {site_url}\n  Service: {service_url}\n\n\
1. Open {site_url} in a browser and sign up. The next page shows a pairing code.\n\
2. In a second terminal, pair the terminal authenticator (the page shows this command\n   with your user name and code filled in):\n\n     {pair_cmd}\n\n\
3. Then let it answer logins:\n\n     {listen_cmd}\n\n\
4. Log in on the website and pick the number it shows.\n\nPress Ctrl-C to stop.\n"
    );
    let _ = std::io::stdout().flush();

    tokio::select! {
        () = crate::serve::shutdown_signal() => {}
        r = &mut site_task => {
            // The site stopped by itself: that is a failure.
            service.shutdown().await.ok();
            return match r {
                Ok(Ok(())) => Err(CliError::Other("the demo website stopped unexpectedly".into())),
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(CliError::Other(format!("the demo website crashed: {e}"))),
            };
        }
    }
    eprintln!("tapprove demo: stopping");
    let _ = stop_tx.send(());
    // Open long-polls hold the site for up to 25 s; do not wait for them.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), site_task).await;
    service.shutdown().await?;
    Ok(())
}
