//! The demo website ("Demo Bank"): a relying party that speaks only HTTP to the service.
//!
//! Sign up (argon2id) → pairing code + QR → trust webhook `POST /users/trust` → log in with
//! password → "Choose NN on your phone" (the page long-polls `/login/status`, which long-polls
//! the service) → the restricted `/account` page.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tapprove_protocol::Context;
use tapprove_protocol::api::{
    CreateSessionRequest, ErrorBody, ErrorCode, Notification, SessionCreated, SessionReason,
    SessionStatus, SessionView,
};
use tracing::{info, warn};

use super::code;
use super::pages::{self, PairingView};
use super::store::{Flash, PendingLogin, SiteStore, TrustOutcome, WebSession};
use super::webhook::WebhookCredentials;
use crate::secret::Secret;

const COOKIE: &str = "demo_sid";
/// How long one `/login/status` call holds (the service's long-poll maximum is 30 s).
const LONG_POLL_SECONDS: u64 = 25;

/// Everything the site needs to run.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    /// Base URL of the Tapprove service, e.g. `http://127.0.0.1:8080`.
    pub service_url: String,
    /// Base URL of this site, e.g. `http://127.0.0.1:3000`.
    pub public_url: String,
    /// The project's API key.
    pub api_key: Secret,
    /// The project's SDK key (public; goes into the enrollment URI).
    pub sdk_key: String,
    /// The trust webhook's credentials.
    pub webhook: WebhookCredentials,
    /// The site's user file.
    pub state_file: PathBuf,
    /// How to run `tapprove` in another terminal (shell-quoted).
    pub tapprove_cmd: String,
    /// The `--store` directory of the terminal authenticator.
    pub device_store: PathBuf,
}

impl SiteConfig {
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

struct Site {
    cfg: SiteConfig,
    store: SiteStore,
    http: reqwest::Client,
}

type Shared = Arc<Site>;

/// Errors starting the site.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The state file cannot be used.
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
    /// The HTTP client cannot be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    /// The server failed.
    #[error("the demo website failed: {0}")]
    Serve(std::io::Error),
}

/// Builds the site's router.
fn router(site: Shared) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/signup", get(signup_form).post(signup))
        .route("/login", get(login_form).post(login))
        .route("/login/wait", get(login_wait))
        .route("/login/status", get(login_status))
        .route("/login/check", get(login_check))
        .route("/login/result", get(login_result))
        .route("/login/cancel", post(login_cancel))
        .route("/pair", get(pair_page).post(pair_new))
        .route("/pair/status", get(pair_status))
        .route("/account", get(account))
        .route("/logout", post(logout))
        .route("/users/trust", post(trust_webhook))
        .fallback(not_found)
        .with_state(site)
}

/// Serves the site on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    cfg: SiteConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), SiteError> {
    let store = SiteStore::open(&cfg.state_file)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(LONG_POLL_SECONDS + 10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| SiteError::Http(e.to_string()))?;
    let site = Arc::new(Site { cfg, store, http });
    let app = router(site).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(SiteError::Serve)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

// ------------------------------------------------------------------ sessions & responses

fn cookie_sid(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The caller's session id and session, if the cookie names a live one.
fn current(site: &Site, headers: &HeaderMap) -> Option<(String, WebSession)> {
    let sid = cookie_sid(headers)?;
    let session = site.store.session(&sid)?;
    Some((sid, session))
}

/// The caller's session, created (with a `Set-Cookie`) when missing.
#[allow(clippy::result_large_err)] // a Response is the natural early return of a handler
fn ensure(site: &Site, headers: &HeaderMap) -> Result<(String, Option<HeaderValue>), Response> {
    if let Some((sid, _)) = current(site, headers) {
        return Ok((sid, None));
    }
    let sid = site.store.new_session().map_err(|e| internal(&e))?;
    let cookie = HeaderValue::from_str(&format!("{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax"))
        .map_err(|e| internal(&e))?;
    Ok((sid, Some(cookie)))
}

fn take_flash(site: &Site, sid: Option<&str>) -> Option<Flash> {
    sid.and_then(|s| site.store.update_session(s, |w| w.flash.take()).flatten())
}

fn set_flash(site: &Site, sid: &str, title: &str, message: &str, kind: &'static str) {
    site.store.update_session(sid, |w| {
        w.flash = Some(Flash {
            title: title.into(),
            message: message.into(),
            kind,
        });
    });
}

fn redirect(to: &str, cookie: Option<HeaderValue>) -> Response {
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
    if let Some(c) = cookie {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    r
}

fn html(body: String) -> Response {
    let mut r = Html(body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn internal(e: &dyn std::fmt::Display) -> Response {
    warn!(error = %e, "demo site failure");
    let flash = Flash {
        title: "Something went wrong".into(),
        message: "The demo site hit an internal error; see the terminal running `tapprove demo`."
            .into(),
        kind: "danger",
    };
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html(pages::message("Error", None, &flash, ("/", "Home"))),
    )
        .into_response()
}

/// Refuses cross-site form posts (defence in depth next to `SameSite=Lax`).
#[allow(clippy::result_large_err)] // a Response is the natural early return of a handler
fn same_origin(site: &Site, headers: &HeaderMap) -> Result<(), Response> {
    let public = site.cfg.public_url.trim_end_matches('/');
    let via_localhost = public.replacen("://127.0.0.1:", "://localhost:", 1);
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None | Some("null") => Ok(()),
        Some(origin) if origin == public || origin == via_localhost => Ok(()),
        Some(_) => Err((StatusCode::FORBIDDEN, "cross-site request refused").into_response()),
    }
}

async fn not_found() -> Response {
    let flash = Flash {
        title: "Not found".into(),
        message: "There is no such page.".into(),
        kind: "warn",
    };
    (
        StatusCode::NOT_FOUND,
        Html(pages::message("Not found", None, &flash, ("/", "Home"))),
    )
        .into_response()
}

// ------------------------------------------------------------------ pages

async fn home(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let cur = current(&site, &headers);
    let flash = take_flash(&site, cur.as_ref().map(|c| c.0.as_str()));
    html(pages::home(
        cur.as_ref().and_then(|c| c.1.user.as_deref()),
        flash.as_ref(),
    ))
}

async fn signup_form(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let cur = current(&site, &headers);
    let flash = take_flash(&site, cur.as_ref().map(|c| c.0.as_str()));
    html(pages::signup(flash.as_ref(), ""))
}

#[derive(Deserialize)]
struct Credentials {
    user: String,
    password: String,
}

fn valid_user_name(u: &str) -> bool {
    (1..=32).contains(&u.len())
        && u.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A fixed hash to verify against for unknown users, so both paths take the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

async fn signup(
    State(site): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Response {
    if let Err(r) = same_origin(&site, &headers) {
        return r;
    }
    let user = form.user.trim().to_ascii_lowercase();
    let problem = if !valid_user_name(&user) {
        Some("User names are 1 to 32 characters: a-z, 0-9, dot, dash or underscore.")
    } else if form.password.chars().count() < 8 || form.password.len() > 256 {
        Some("Choose a password of 8 to 256 characters.")
    } else if site.store.user_exists(&user) {
        Some("That user name is taken; choose another one or log in.")
    } else {
        None
    };
    if let Some(message) = problem {
        let flash = Flash {
            title: "Cannot sign up".into(),
            message: message.into(),
            kind: "danger",
        };
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(pages::signup(Some(&flash), &user)),
        )
            .into_response();
    }
    let password = zeroize::Zeroizing::new(form.password);
    let hashed = match tokio::task::spawn_blocking(move || hash_password(&password)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return internal(&e),
        Err(e) => return internal(&e),
    };
    match site.store.add_user(&user, hashed, now()) {
        Ok(true) => {}
        Ok(false) => {
            let flash = Flash {
                title: "Cannot sign up".into(),
                message: "That user name is taken; choose another one or log in.".into(),
                kind: "danger",
            };
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Html(pages::signup(Some(&flash), &user)),
            )
                .into_response();
        }
        Err(e) => return internal(&e),
    }
    info!(user = %user, "signed up");
    let (sid, cookie) = match ensure(&site, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    start_pairing(&site, &sid, &user, false);
    set_flash(
        &site,
        &sid,
        "Account created",
        "One more step: pair your phone, so logins need a tap on it.",
        "ok",
    );
    redirect("/pair", cookie)
}

/// Issues a fresh pairing code for `user` and shows it in session `sid`.
fn start_pairing(site: &Site, sid: &str, user: &str, logged_in: bool) -> bool {
    match site.store.new_pairing_code(user, now()) {
        Ok(code) => {
            site.store.update_session(sid, |w| {
                w.pairing = Some((user.to_owned(), code));
                if !logged_in {
                    w.user = None;
                }
            });
            true
        }
        Err(e) => {
            warn!(error = %e, "cannot issue a pairing code");
            false
        }
    }
}

async fn pair_page(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let Some((sid, w)) = current(&site, &headers) else {
        return redirect("/login", None);
    };
    let flash = take_flash(&site, Some(&sid));
    match (&w.pairing, &w.user) {
        (Some((user, code)), logged_in) => {
            let display = code::display(code);
            let uri = {
                let q = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("server", &site.cfg.service_url)
                    .append_pair("sdk_key", &site.cfg.sdk_key)
                    .append_pair("user", user)
                    .append_pair("code", &display)
                    .finish();
                format!("tapprove://pair?{q}")
            };
            let view = PairingView {
                user,
                code,
                code_display: &display,
                enrollment_uri: &uri,
                qr_svg: &pages::qr_svg(&uri),
                pair_command: &site.cfg.pair_command(user, &display),
                logged_in: logged_in.as_deref() == Some(user.as_str()),
            };
            html(pages::pairing(&view, flash.as_ref()))
        }
        (None, Some(user)) => html(pages::pair_offer(
            user,
            site.store.devices_paired(user),
            flash.as_ref(),
        )),
        (None, None) => {
            set_flash(
                &site,
                &sid,
                "Log in first",
                "Log in to pair a new device.",
                "warn",
            );
            redirect("/login", None)
        }
    }
}

async fn pair_new(State(site): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = same_origin(&site, &headers) {
        return r;
    }
    let Some((sid, w)) = current(&site, &headers) else {
        return redirect("/login", None);
    };
    let Some(user) = w.user else {
        set_flash(
            &site,
            &sid,
            "Log in first",
            "Log in to pair a new device.",
            "warn",
        );
        return redirect("/login", None);
    };
    if !start_pairing(&site, &sid, &user, true) {
        return internal(&"cannot issue a pairing code");
    }
    redirect("/pair", None)
}

async fn pair_status(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let Some((user, code)) = current(&site, &headers).and_then(|(_, w)| w.pairing) else {
        return axum::Json(json!({"paired": false, "gone": true})).into_response();
    };
    let mut events = site.store.pair_events();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(LONG_POLL_SECONDS);
    loop {
        if site.store.code_used(&user, &code) {
            return axum::Json(json!({"paired": true})).into_response();
        }
        match tokio::time::timeout_at(deadline, events.changed()).await {
            Ok(Ok(())) => continue,
            _ => return axum::Json(json!({"paired": false})).into_response(),
        }
    }
}

async fn login_form(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let cur = current(&site, &headers);
    if let Some(user) = cur.as_ref().and_then(|c| c.1.user.clone()) {
        let _ = user;
        return redirect("/account", None);
    }
    let flash = take_flash(&site, cur.as_ref().map(|c| c.0.as_str()));
    html(pages::login(flash.as_ref(), ""))
}

fn login_failed(user: &str, message: &str) -> Response {
    let flash = Flash {
        title: "Cannot log in".into(),
        message: message.into(),
        kind: "danger",
    };
    (
        StatusCode::UNAUTHORIZED,
        Html(pages::login(Some(&flash), user)),
    )
        .into_response()
}

async fn login(
    State(site): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Response {
    if let Err(r) = same_origin(&site, &headers) {
        return r;
    }
    let user = form.user.trim().to_ascii_lowercase();
    let stored = site.store.password_hash(&user);
    let known = stored.is_some();
    let phc = stored.unwrap_or_else(|| dummy_hash().to_owned());
    let password = zeroize::Zeroizing::new(form.password);
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .unwrap_or(false);
    if !(ok && known) {
        return login_failed(&user, "Wrong user name or password.");
    }
    let (sid, cookie) = match ensure(&site, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect());
    let request = CreateSessionRequest {
        user: user.clone(),
        notification: Notification {
            title: "Log in to Demo Bank?".into(),
            body: format!("Someone is signing in as {user}."),
        },
        context: Some(Context {
            app: Some("Demo Bank".into()),
            ip: Some(peer.ip().to_string()),
            location: Some("This computer (loopback)".into()),
            user_agent,
        }),
        presence: None,
        ttl_seconds: None,
    };
    match site.create_session(&request).await {
        Ok(created) => {
            info!(user = %user, session_id = %created.id, "push login started");
            site.store.update_session(&sid, |w| {
                w.pending = Some(PendingLogin {
                    user: user.clone(),
                    session_id: created.id,
                    presence_code: created.presence_code,
                    expires_at: created.expires_at,
                });
            });
            redirect("/login/wait", cookie)
        }
        Err(CallError::Api {
            code: ErrorCode::NoDevice,
            ..
        }) => {
            // The password is right but no phone is trusted yet: the same trust level as
            // sign-up, so offer pairing (never a password-only login).
            start_pairing(&site, &sid, &user, false);
            set_flash(
                &site,
                &sid,
                "No phone paired yet",
                "This account has no trusted phone. Pair one now, then log in again.",
                "warn",
            );
            redirect("/pair", cookie)
        }
        Err(CallError::Api {
            code: ErrorCode::RateLimited,
            retry_after,
            ..
        }) => {
            let wait = retry_after.map_or("a minute".to_owned(), |s| format!("{s} seconds"));
            login_failed(
                &user,
                &format!("Too many login attempts for this account; wait {wait} and try again."),
            )
        }
        Err(e) => login_failed(
            &user,
            &format!("The login service failed ({e}). Try again in a moment."),
        ),
    }
}

async fn login_wait(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let Some((
        _,
        WebSession {
            pending: Some(p), ..
        },
    )) = current(&site, &headers)
    else {
        return redirect("/login", None);
    };
    let left = (p.expires_at - now()).max(0);
    html(pages::login_wait(
        &p.user,
        p.presence_code.as_deref(),
        left,
        &site.cfg.listen_command(),
    ))
}

/// Long-polls the service once for the session of `sid` and, if it is over, records the
/// outcome. Returns the URL to go to next, or `None` while still pending.
async fn poll_login(site: &Site, sid: &str) -> Option<String> {
    let pending = site.store.session(sid).and_then(|w| w.pending)?;
    match site
        .get_session(&pending.session_id, LONG_POLL_SECONDS)
        .await
    {
        Ok(view) if view.status == SessionStatus::Sent => None,
        Ok(view) => Some(finish_login(site, sid, &pending, &view)),
        Err(CallError::Api {
            code: ErrorCode::NotFound,
            ..
        }) => {
            let view = SessionView {
                id: pending.session_id.clone(),
                status: SessionStatus::Expired,
                reason: Some(SessionReason::Timeout),
                presence_code: None,
                expires_at: pending.expires_at,
                decided_at: None,
            };
            Some(finish_login(site, sid, &pending, &view))
        }
        Err(e) => {
            warn!(error = %e, "cannot read the push session; retrying");
            tokio::time::sleep(Duration::from_secs(2)).await;
            None
        }
    }
}

fn finish_login(site: &Site, sid: &str, p: &PendingLogin, view: &SessionView) -> String {
    let (title, message, kind): (&str, &str, &'static str) = match (view.status, view.reason) {
        (SessionStatus::Accepted, _) => {
            ("Logged in", "You approved the login on your phone.", "ok")
        }
        (SessionStatus::Rejected, Some(SessionReason::WrongNumber)) => (
            "Login refused: wrong number",
            "The number picked on the phone did not match the one shown here, so we refused this login. Log in again and pick the number shown on this page.",
            "danger",
        ),
        (SessionStatus::Rejected, Some(SessionReason::FraudReported)) => (
            "We blocked this login",
            "Your phone reported that this login was not you. We blocked this login; change your password.",
            "danger",
        ),
        (SessionStatus::Rejected, _) => (
            "Login denied",
            "The login was denied on your phone.",
            "danger",
        ),
        (SessionStatus::Expired, _) => (
            "Login expired",
            "Nobody answered on the phone in time. Log in again and answer within two minutes.",
            "warn",
        ),
        (SessionStatus::Canceled, Some(SessionReason::Superseded)) => (
            "Login replaced",
            "A newer login attempt for this account replaced this one.",
            "warn",
        ),
        (SessionStatus::Canceled, _) => ("Login canceled", "This login was canceled.", "warn"),
        (SessionStatus::Error | SessionStatus::Sent, _) => (
            "Your phone could not be reached",
            "We could not deliver the login request to any paired phone. Check that the authenticator is running (`tapprove device listen`) and try again.",
            "danger",
        ),
    };
    let accepted = view.status == SessionStatus::Accepted;
    info!(user = %p.user, session_id = %p.session_id, status = view.status.as_str(), "push login finished");
    site.store.update_session(sid, |w| {
        w.pending = None;
        if accepted {
            w.user = Some(p.user.clone());
            w.pairing = None;
        }
        w.flash = Some(Flash {
            title: title.into(),
            message: message.into(),
            kind,
        });
    });
    if accepted {
        "/account".into()
    } else {
        "/login/result".into()
    }
}

async fn login_status(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let Some((sid, w)) = current(&site, &headers) else {
        return axum::Json(json!({"state": "none", "next": "/login"})).into_response();
    };
    if w.pending.is_none() {
        let next = if w.user.is_some() {
            "/account"
        } else {
            "/login"
        };
        return axum::Json(json!({"state": "none", "next": next})).into_response();
    }
    match poll_login(&site, &sid).await {
        None => axum::Json(json!({"state": "pending"})).into_response(),
        Some(next) => axum::Json(json!({"state": "done", "next": next})).into_response(),
    }
}

/// The no-JavaScript variant of `/login/status`: waits, then redirects.
async fn login_check(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let Some((sid, _)) = current(&site, &headers) else {
        return redirect("/login", None);
    };
    match poll_login(&site, &sid).await {
        None => redirect("/login/wait", None),
        Some(next) => redirect(&next, None),
    }
}

async fn login_result(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let Some((sid, w)) = current(&site, &headers) else {
        return redirect("/login", None);
    };
    match take_flash(&site, Some(&sid)) {
        Some(flash) => html(pages::message(
            &flash.title.clone(),
            w.user.as_deref(),
            &flash,
            ("/login", "Log in again"),
        )),
        None => redirect("/login", None),
    }
}

async fn login_cancel(State(site): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = same_origin(&site, &headers) {
        return r;
    }
    if let Some((
        sid,
        WebSession {
            pending: Some(p), ..
        },
    )) = current(&site, &headers)
    {
        if let Err(e) = site.cancel_session(&p.session_id).await {
            warn!(error = %e, "cannot cancel the push session");
        }
        site.store.update_session(&sid, |w| w.pending = None);
        set_flash(
            &site,
            &sid,
            "Login canceled",
            "You canceled the login.",
            "warn",
        );
    }
    redirect("/login", None)
}

async fn account(State(site): State<Shared>, headers: HeaderMap) -> Response {
    match current(&site, &headers) {
        Some((
            sid,
            WebSession {
                user: Some(user), ..
            },
        )) => {
            let flash = take_flash(&site, Some(&sid));
            html(pages::account(&user, flash.as_ref()))
        }
        Some((sid, _)) => {
            set_flash(
                &site,
                &sid,
                "Log in first",
                "Log in with your password and phone to see your account.",
                "warn",
            );
            redirect("/login", None)
        }
        None => redirect("/login", None),
    }
}

async fn logout(State(site): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = same_origin(&site, &headers) {
        return r;
    }
    if let Some((sid, _)) = current(&site, &headers) {
        site.store
            .update_session(&sid, |w| *w = WebSession::default());
        set_flash(&site, &sid, "Logged out", "You are logged out.", "ok");
    }
    redirect("/", None)
}

// ------------------------------------------------------------------ trust webhook

#[derive(Deserialize)]
struct TrustBody {
    user: String,
    challenge: String,
}

async fn trust_webhook(State(site): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = site.cfg.webhook.verify(&headers, &body, now()) {
        warn!(error = %e, "trust webhook refused");
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"trusted": false, "error": e.to_string()})),
        )
            .into_response();
    }
    let Ok(req) = serde_json::from_slice::<TrustBody>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"trusted": false, "error": "expected {\"user\", \"challenge\"}"})),
        )
            .into_response();
    };
    let user = req.user.trim().to_ascii_lowercase();
    let challenge = zeroize::Zeroizing::new(req.challenge);
    match site.store.check_pairing(&user, &challenge, now()) {
        Ok(TrustOutcome::Trusted) => {
            info!(user = %user, "trust webhook: device trusted");
            axum::Json(json!({"trusted": true})).into_response()
        }
        Ok(outcome) => {
            let reason = match outcome {
                TrustOutcome::WrongCode { .. } => "wrong code",
                TrustOutcome::Used => "code already used",
                TrustOutcome::Expired => "code expired",
                TrustOutcome::Voided => "code void after too many wrong tries",
                TrustOutcome::NoCode | TrustOutcome::Trusted => "no pairing code for this user",
            };
            info!(user = %user, reason, "trust webhook: pairing refused");
            (
                StatusCode::FORBIDDEN,
                axum::Json(json!({"trusted": false, "error": reason})),
            )
                .into_response()
        }
        Err(e) => internal(&e),
    }
}

// ------------------------------------------------------------------ service client

/// A failed call to the service's relying-party API.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("{code:?} ({status}): {message}")]
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
        retry_after: Option<u64>,
    },
    #[error("cannot reach the Tapprove service: {0}")]
    Network(String),
}

impl Site {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.service_url.trim_end_matches('/'))
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, CallError> {
        let resp = req
            .header("x-api-key", self.cfg.api_key.expose())
            .send()
            .await
            .map_err(|e| CallError::Network(e.without_url().to_string()))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CallError::Network(e.without_url().to_string()))?;
        if status.is_success() {
            serde_json::from_slice(&bytes)
                .map_err(|e| CallError::Network(format!("unexpected answer: {e}")))
        } else {
            let (code, message) = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|b| (b.error.code, b.error.message))
                .unwrap_or((ErrorCode::Unknown, format!("HTTP {status}")));
            Err(CallError::Api {
                status: status.as_u16(),
                code,
                message,
                retry_after,
            })
        }
    }

    async fn create_session(
        &self,
        req: &CreateSessionRequest,
    ) -> Result<SessionCreated, CallError> {
        self.send(self.http.post(self.url("/v1/push/sessions")).json(req))
            .await
    }

    async fn get_session(&self, id: &str, wait: u64) -> Result<SessionView, CallError> {
        let path = format!("/v1/push/sessions/{}?wait={wait}", urlencode(id));
        self.send(self.http.get(self.url(&path))).await
    }

    async fn cancel_session(&self, id: &str) -> Result<SessionView, CallError> {
        let path = format!("/v1/push/sessions/{}", urlencode(id));
        self.send(self.http.delete(self.url(&path))).await
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/tmp/x-1"), "/tmp/x-1");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn user_names() {
        assert!(valid_user_name("alice.b-2_x"));
        assert!(!valid_user_name(""));
        assert!(!valid_user_name("Alice"));
        assert!(!valid_user_name("a b"));
        assert!(!valid_user_name(&"a".repeat(33)));
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a phc string"));
    }
}
