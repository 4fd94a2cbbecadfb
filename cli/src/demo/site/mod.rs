//! The demo website ("Demo Bank"): a relying party that speaks only HTTP to the service.
//!
//! Sign up (argon2id) → pairing code + QR → trust webhook `POST /users/trust` → log in with
//! password → "Choose NN on your phone" (the page long-polls `/login/status`, which long-polls
//! the service) → the restricted `/account` page. Signed in, `/devices` lists the user's
//! paired phones (remove one, add one); at login, "I lost my phone" revokes them all.
//!
//! One file per part: [`web`] (sessions, flash messages, responses), [`guard`] (origin and
//! CSRF checks of every form post), [`password`] (argon2id, bounded), [`limits`] (wrong
//! passwords per user and per network), [`signup`] and [`pairing`] (new users and their
//! devices), [`login`] (password + push login, the account page, logout), [`devices`] (the
//! "Your devices" page), [`lost`] ("I lost my phone") and [`trust`] (the trust webhook). The
//! service is called through `tapprove_rp`, the one Rust client of its relying-party API.

mod devices;
mod guard;
mod limits;
mod login;
mod lost;
mod pairing;
mod password;
mod signup;
mod trust;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use limits::PasswordLimits;
use password::PasswordWork;

use super::store::SiteStore;
use tapprove_rp::{ApiKey, RpClient, WebhookVerifier};

/// How long one `/login/status` call holds (the service's long-poll maximum is 30 s).
const LONG_POLL: Duration = Duration::from_secs(25);

/// Everything the site needs to run.
#[derive(Debug)]
pub struct SiteConfig {
    /// Base URL of the Tapprove service, e.g. `http://127.0.0.1:8080`.
    pub service_url: String,
    /// Base URL of this site, e.g. `http://127.0.0.1:3000`.
    pub public_url: String,
    /// The project's API key.
    pub api_key: ApiKey,
    /// The project's SDK key (public; goes into the enrollment URI).
    pub sdk_key: String,
    /// The trust webhook's credentials.
    pub webhook: WebhookVerifier,
    /// The site's user file.
    pub state_file: PathBuf,
    /// How to run `tapprove` in another terminal (shell-quoted).
    pub tapprove_cmd: String,
    /// The `--store` directory of the terminal authenticator.
    pub device_store: PathBuf,
    /// "I lost my phone" on the password alone, without the recovery code (insecure; only
    /// with `tapprove demo --insecure-password-only-recovery`).
    pub password_only_recovery: bool,
}

impl SiteConfig {
    /// Whether browsers reach the site over HTTPS (`public_url`), e.g. behind a TLS proxy.
    pub fn served_over_https(&self) -> bool {
        self.public_url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    }

    /// The exact `tapprove device listen` command.
    pub fn listen_command(&self) -> String {
        format!(
            "{} device listen --store {}",
            self.tapprove_cmd,
            shell_quote(&self.device_store.to_string_lossy())
        )
    }

    /// The exact `tapprove device pair` command for `user` and `code` (display form).
    pub fn pair_command(&self, user: &str, code: &str) -> String {
        format!(
            "{} device pair --store {} --server {} --sdk-key {} --user {} --code {}",
            self.tapprove_cmd,
            shell_quote(&self.device_store.to_string_lossy()),
            shell_quote(&self.service_url),
            shell_quote(&self.sdk_key),
            shell_quote(user),
            shell_quote(code)
        )
    }
}

/// Quotes `s` for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The running site: its configuration, state and the client of the service.
struct Site {
    cfg: SiteConfig,
    store: SiteStore,
    rp: RpClient,
    passwords: PasswordWork,
    limits: PasswordLimits,
}

type Shared = Arc<Site>;

/// Errors starting the site.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The state file cannot be used.
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
    /// The client of the service cannot be built.
    #[error("cannot build the client of the Tapprove service: {0}")]
    Rp(#[from] tapprove_rp::RpError),
    /// The server failed.
    #[error("the demo website failed: {0}")]
    Serve(std::io::Error),
}

/// Builds the site's router: the browser's routes behind [`guard::check`], then the trust
/// webhook (authenticated by the service's credentials instead).
fn router(site: Shared) -> Router {
    Router::new()
        .route("/", get(signup::home))
        .route("/signup", get(signup::signup_form).post(signup::signup))
        .route("/login", get(login::login_form).post(login::login))
        .route("/login/wait", get(login::login_wait))
        .route("/login/status", get(login::login_status))
        .route("/login/check", get(login::login_check))
        .route("/login/result", get(login::login_result))
        .route("/login/cancel", post(login::login_cancel))
        .route("/login/lost", get(lost::lost_page).post(lost::lost_phone))
        .route("/pair", get(pairing::pair_page).post(pairing::pair_new))
        .route("/pair/status", get(pairing::pair_status))
        .route("/account", get(login::account))
        .route("/devices", get(devices::devices_page))
        .route("/devices/remove", post(devices::remove_device))
        .route("/logout", post(login::logout))
        .layer(axum::middleware::from_fn_with_state(
            site.clone(),
            guard::check,
        ))
        .route("/users/trust", post(trust::trust_webhook))
        .fallback(web::not_found)
        .with_state(site)
}

/// Serves the site on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    cfg: SiteConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), SiteError> {
    let store = SiteStore::open(&cfg.state_file)?;
    let rp = RpClient::new(&cfg.service_url, cfg.api_key.clone())?;
    let site = Arc::new(Site {
        cfg,
        store,
        rp,
        passwords: PasswordWork::new(),
        limits: PasswordLimits::new(),
    });
    let app = router(site).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(SiteError::Serve)
}

/// Unix seconds.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_read_from_the_public_url() {
        let cfg = |url: &str| SiteConfig {
            service_url: "http://127.0.0.1:1".into(),
            public_url: url.into(),
            api_key: ApiKey::new("k"),
            sdk_key: "s".into(),
            webhook: WebhookVerifier::new("u", "p", "whsec_c2VjcmV0LWtleS1ieXRlcw==")
                .expect("secret"),
            state_file: PathBuf::new(),
            tapprove_cmd: String::new(),
            device_store: PathBuf::new(),
            password_only_recovery: false,
        };
        assert!(cfg("https://bank.example").served_over_https());
        assert!(cfg("HTTPS://bank.example").served_over_https());
        assert!(!cfg("http://127.0.0.1:3000").served_over_https());
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/tmp/x-1"), "/tmp/x-1");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
