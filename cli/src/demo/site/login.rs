//! Login: password first, then a push session the page waits for (long-poll, or a button
//! without JavaScript); the account page behind it; logout.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;
use tapprove_protocol::Context;
use tapprove_protocol::api::{
    CreateSessionRequest, ErrorCode, Notification, SessionReason, SessionStatus, SessionView,
};
use tracing::{info, warn};

use super::super::pages;
use super::super::store::{Flash, PendingLogin, WebSession};
use super::pairing::start_pairing;
use super::password::{Credentials, dummy_hash, verify_password};
use super::rp_client::CallError;
use super::web::{current, ensure, html, redirect, same_origin, set_flash, take_flash};
use super::{LONG_POLL_SECONDS, Shared, Site, now};

pub(super) async fn login_form(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let cur = current(&site, &headers);
    if let Some(user) = cur.as_ref().and_then(|c| c.1.user.clone()) {
        let _ = user;
        return redirect("/account", None);
    }
    let flash = take_flash(&site, cur.as_ref().map(|c| c.0.as_str()));
    html(pages::login(flash.as_ref(), ""))
}

pub(super) fn login_failed(user: &str, message: &str) -> Response {
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

pub(super) async fn login(
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
    match site.rp.create_session(&request).await {
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

pub(super) async fn login_wait(State(site): State<Shared>, headers: HeaderMap) -> Response {
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
pub(super) async fn poll_login(site: &Site, sid: &str) -> Option<String> {
    let pending = site.store.session(sid).and_then(|w| w.pending)?;
    match site
        .rp
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

pub(super) fn finish_login(site: &Site, sid: &str, p: &PendingLogin, view: &SessionView) -> String {
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
        Some(next) => axum::Json(json!({"state": "done", "next": next})).into_response(),
    }
}

/// The no-JavaScript variant of `/login/status`: waits, then redirects.
pub(super) async fn login_check(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let Some((sid, _)) = current(&site, &headers) else {
        return redirect("/login", None);
    };
    match poll_login(&site, &sid).await {
        None => redirect("/login/wait", None),
        Some(next) => redirect(&next, None),
    }
}

pub(super) async fn login_result(State(site): State<Shared>, headers: HeaderMap) -> Response {
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

pub(super) async fn login_cancel(State(site): State<Shared>, headers: HeaderMap) -> Response {
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

pub(super) async fn logout(State(site): State<Shared>, headers: HeaderMap) -> Response {
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
