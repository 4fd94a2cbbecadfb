//! Login: password first (attempts limited, hashing bounded), then a push session the page
//! waits for (long-poll, or a button without JavaScript); the account page behind it; logout.
//! A session that completes a login, and one that logs out, get a new id.

use secrecy::ExposeSecret as _;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tapprove_protocol::Context;
use tapprove_protocol::api::{
    CreateSessionRequest, ErrorCode, Notification, SessionReason, SessionStatus, SessionView,
};
use tracing::{info, warn};
use zeroize::Zeroizing;

use super::super::pages;
use super::super::store::{Flash, PasswordChecked, PendingLogin, WebSession};
use super::limits::Limited;
use super::pairing::start_pairing;
use super::password::{Credentials, MAX_PASSWORD_BYTES, dummy_hash};
use super::signup::valid_user_name;
use super::web::{
    current, ensure, html, internal, redirect, session_cookie, session_move_failed, set_flash,
    status_html, take_flash, with_cookie,
};
use tapprove_rp::RpError;

use super::{LONG_POLL, Shared, Site, now};

pub(super) async fn login_form(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let visit = match ensure(&site, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if visit.session.user.is_some() {
        return redirect("/account", None);
    }
    let flash = visit.take_flash(&site);
    let page = pages::login(flash.as_ref(), "", visit.csrf());
    with_cookie(html(page), visit.cookie)
}

/// The login form again with what went wrong.
pub(super) fn login_failed(status: StatusCode, user: &str, csrf: &str, message: &str) -> Response {
    let flash = Flash {
        title: "Cannot log in".into(),
        message: message.into(),
        kind: "danger",
    };
    status_html(status, pages::login(Some(&flash), user, csrf))
}

/// "wait N minutes" for a retry-after in seconds.
fn minutes(seconds: i64) -> String {
    match (seconds + 59) / 60 {
        1 => "a minute".to_owned(),
        m => format!("{m} minutes"),
    }
}

/// `POST /login` (origin and CSRF token already checked by the guard).
pub(super) async fn login(
    State(site): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Response {
    let Some((sid, w)) = current(&site, &headers) else {
        return redirect("/login", None);
    };
    let csrf = w.csrf.expose_secret();
    let user = form.user.trim().to_ascii_lowercase();
    let password = Zeroizing::new(form.password);
    let ip = peer.ip();
    // Limits first: a refused attempt costs no hashing. From here the attempt counts as a
    // failure until a right password takes it back.
    let name = valid_user_name(&user).then_some(user.as_str());
    let attempt = match site.limits.begin(name, ip, now()) {
        Ok(attempt) => attempt,
        Err(limited) => {
            let (message, retry_after) = match limited {
                Limited::User { retry_after } => (
                    format!(
                        "Too many wrong passwords for this account; wait {} and try again.",
                        minutes(retry_after)
                    ),
                    retry_after,
                ),
                Limited::Network { retry_after } => (
                    format!(
                        "Too many wrong passwords from your network; wait {} and try again.",
                        minutes(retry_after)
                    ),
                    retry_after,
                ),
            };
            info!(user = %user, ?limited, "login refused by the password attempt limit");
            let mut r = login_failed(StatusCode::TOO_MANY_REQUESTS, &user, csrf, &message);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return r;
        }
    };
    if name.is_none() {
        // No account can have this name; answer as for a wrong password, without hashing.
        drop(attempt);
        return login_failed(
            StatusCode::UNAUTHORIZED,
            "",
            csrf,
            "Wrong user name or password.",
        );
    }
    if password.len() > MAX_PASSWORD_BYTES {
        drop(attempt); // a failure
        return login_failed(
            StatusCode::UNPROCESSABLE_ENTITY,
            &user,
            csrf,
            "Passwords are at most 256 characters; this one was not checked.",
        );
    }
    let stored = site.store.password_hash(&user);
    let known = stored.is_some();
    let phc = stored.unwrap_or_else(|| dummy_hash().to_owned());
    let ok = match site.passwords.verify(password, phc).await {
        Ok(ok) => ok,
        Err(busy) => {
            site.limits.not_checked(attempt);
            let mut r = login_failed(
                StatusCode::SERVICE_UNAVAILABLE,
                &user,
                csrf,
                &format!("{busy}; try again in a few seconds."),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return r;
        }
    };
    if !(ok && known) {
        drop(attempt); // a failure
        return login_failed(
            StatusCode::UNAUTHORIZED,
            &user,
            csrf,
            "Wrong user name or password.",
        );
    }
    site.limits.succeeded(attempt);
    // The password is right: from here on under a new session id, so an id planted in this
    // browser beforehand neither sees nor completes this login. Enough for "I lost my phone"
    // (lost.rs), never for a login.
    let moved = site.store.rotate_session(&sid, now(), |w| {
        w.password_checked = Some(PasswordChecked {
            user: user.clone(),
            at: now(),
        });
    });
    let sid = match moved {
        Ok(new_sid) => new_sid,
        Err(e) => return session_move_failed(&e),
    };
    let (cookie, csrf) = match (session_cookie(&site, &sid), site.store.session(&sid, now())) {
        (Ok(cookie), Some(w)) => (cookie, w.csrf),
        (Err(r), _) => return r,
        (_, None) => return redirect("/login", None),
    };
    let r = push_login(&site, &sid, &user, ip, &headers, csrf.expose_secret()).await;
    // A response that moves to another session sets its own cookie.
    if r.headers().contains_key(header::SET_COOKIE) {
        r
    } else {
        with_cookie(r, Some(cookie))
    }
}

/// Sends the push for `user`'s login in session `sid` (password verified) and answers the
/// browser: the waiting page, pairing when no phone is paired, or why not.
async fn push_login(
    site: &Site,
    sid: &str,
    user: &str,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    csrf: &str,
) -> Response {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect());
    let request = CreateSessionRequest {
        user: user.to_owned(),
        notification: Notification {
            title: "Log in to Demo Bank?".into(),
            body: format!("Someone is signing in as {user}."),
        },
        context: Some(Context {
            app: Some("Demo Bank".into()),
            ip: Some(ip.to_string()),
            location: Some("This computer (loopback)".into()),
            user_agent,
            ..Context::default()
        }),
        presence: None,
        ttl_seconds: None,
        join_pending: false,
    };
    match site.rp.create_session(&request).await {
        Ok(created) => {
            info!(user = %user, session_id = %created.id, "push login started");
            site.store.update_session(sid, |w| {
                w.pending = Some(PendingLogin {
                    user: user.to_owned(),
                    session_id: created.id,
                    presence_code: created.presence_code,
                    expires_at: created.expires_at,
                });
            });
            redirect("/login/wait", None)
        }
        Err(RpError::Api {
            code: ErrorCode::NoDevice,
            ..
        }) => {
            // The password is right but no phone is trusted yet: the same trust level as
            // sign-up, so offer pairing (never a password-only login).
            let shown = match start_pairing(site, sid, user, false) {
                Ok(s) => s,
                Err(r) => return r,
            };
            set_flash(
                site,
                &shown.sid,
                "No phone paired yet",
                "This account has no trusted phone. Pair one now, then log in again.",
                "warn",
            );
            redirect("/pair", shown.cookie)
        }
        Err(RpError::Api {
            code: ErrorCode::RateLimited,
            retry_after,
            ..
        }) => {
            let wait = retry_after.map_or("a minute".to_owned(), |d| {
                format!("{} seconds", d.as_secs())
            });
            login_failed(
                StatusCode::UNAUTHORIZED,
                user,
                csrf,
                &format!("Too many login attempts for this account; wait {wait} and try again."),
            )
        }
        Err(e) => login_failed(
            StatusCode::UNAUTHORIZED,
            user,
            csrf,
            &format!("The login service failed ({e}). Try again in a moment."),
        ),
    }
}

pub(super) async fn login_wait(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let Some((
        _,
        WebSession {
            pending: Some(p),
            csrf,
            ..
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
        csrf.expose_secret(),
    ))
}

/// Where a finished login goes next, and the cookie of the session's new id once logged in.
pub(super) struct Finished {
    next: &'static str,
    cookie: Option<HeaderValue>,
}

/// Long-polls the service once for the session of `sid` and, if it is over, records the
/// outcome. `None` while still pending.
pub(super) async fn poll_login(site: &Site, sid: &str) -> Option<Result<Finished, Response>> {
    let pending = site.store.session(sid, now()).and_then(|w| w.pending)?;
    match site.rp.wait_session(&pending.session_id, LONG_POLL).await {
        Ok(view) if view.status == SessionStatus::Sent => None,
        Ok(view) => Some(finish_login(site, sid, &pending, &view)),
        Err(RpError::Api {
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

#[allow(clippy::result_large_err)] // a Response is the natural early return of a handler
pub(super) fn finish_login(
    site: &Site,
    sid: &str,
    p: &PendingLogin,
    view: &SessionView,
) -> Result<Finished, Response> {
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
    let record = |w: &mut WebSession| {
        w.pending = None;
        w.flash = Some(Flash {
            title: title.into(),
            message: message.into(),
            kind,
        });
    };
    if !accepted {
        site.store.update_session(sid, record);
        return Ok(Finished {
            next: "/login/result",
            cookie: None,
        });
    }
    // Logged in from here on: under a new session id, so an id planted before is useless.
    let new_sid = site
        .store
        .rotate_session(sid, now(), |w| {
            record(w);
            w.user = Some(p.user.clone());
            w.pairing = None;
            w.password_checked = None;
            w.recovery = false;
        })
        .map_err(|e| session_move_failed(&e))?;
    Ok(Finished {
        next: "/account",
        cookie: Some(session_cookie(site, &new_sid)?),
    })
}

pub(super) async fn login_status(State(site): State<Shared>, headers: HeaderMap) -> Response {
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
        Some(Ok(f)) => with_cookie(
            axum::Json(json!({"state": "done", "next": f.next})).into_response(),
            f.cookie,
        ),
        Some(Err(r)) => r,
    }
}

/// The no-JavaScript variant of `/login/status`: waits, then redirects.
pub(super) async fn login_check(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let Some((sid, _)) = current(&site, &headers) else {
        return redirect("/login", None);
    };
    match poll_login(&site, &sid).await {
        None => redirect("/login/wait", None),
        Some(Ok(f)) => redirect(f.next, f.cookie),
        Some(Err(r)) => r,
    }
}

pub(super) async fn login_result(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let Some((sid, w)) = current(&site, &headers) else {
        return redirect("/login", None);
    };
    // The phone did not approve: if it is gone, the password just typed opens "lost my phone".
    let lost = w
        .password_checked
        .as_ref()
        .is_some_and(|p| p.fresh(now()).is_some());
    match take_flash(&site, Some(&sid)) {
        Some(flash) => html(pages::login_result(
            &flash,
            w.user.as_deref(),
            lost,
            w.csrf.expose_secret(),
        )),
        None => redirect("/login", None),
    }
}

pub(super) async fn login_cancel(State(site): State<Shared>, headers: HeaderMap) -> Response {
    if let Some((
        sid,
        WebSession {
            pending: Some(p), ..
        },
    )) = current(&site, &headers)
    {
        if let Err(e) = site.rp.cancel_session(&p.session_id).await {
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

pub(super) async fn account(State(site): State<Shared>, headers: HeaderMap) -> Response {
    match current(&site, &headers) {
        Some((
            sid,
            WebSession {
                user: Some(user),
                csrf,
                ..
            },
        )) => {
            let flash = take_flash(&site, Some(&sid));
            html(pages::account(&user, flash.as_ref(), csrf.expose_secret()))
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

/// `POST /logout`: the session ends; the browser gets a new, empty one.
pub(super) async fn logout(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let Some((sid, _)) = current(&site, &headers) else {
        return redirect("/", None);
    };
    let flash = Flash {
        title: "Logged out".into(),
        message: "You are logged out.".into(),
        kind: "ok",
    };
    match site.store.replace_session(&sid, now(), flash) {
        Ok(new_sid) => match session_cookie(&site, &new_sid) {
            Ok(cookie) => redirect("/", Some(cookie)),
            Err(r) => r,
        },
        Err(e) => internal(&e),
    }
}
