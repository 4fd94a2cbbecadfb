//! Browser sessions (the cookie), flash messages and the common responses.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use tracing::warn;

use super::super::pages;
use super::super::store::{Flash, WebSession};
use super::{Site, now};

/// The session cookie's name.
pub(super) const COOKIE: &str = "demo_sid";

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
pub(super) fn current(site: &Site, headers: &HeaderMap) -> Option<(String, WebSession)> {
    let sid = cookie_sid(headers)?;
    let session = site.store.session(&sid, now())?;
    Some((sid, session))
}

/// A page view's session: the one the cookie names, or a new one whose cookie the response
/// must set (every page with a form needs a session for its CSRF token).
pub(super) struct Visit {
    /// Session id.
    pub(super) sid: String,
    /// The session as it was read.
    pub(super) session: WebSession,
    /// `Set-Cookie` for a new session.
    pub(super) cookie: Option<HeaderValue>,
}

impl Visit {
    /// The token the page's forms carry.
    pub(super) fn csrf(&self) -> &str {
        self.session.csrf.expose()
    }

    /// Takes the session's one-shot message.
    pub(super) fn take_flash(&self, site: &Site) -> Option<Flash> {
        take_flash(site, Some(&self.sid))
    }
}

/// The caller's session, created when missing.
#[allow(clippy::result_large_err)] // a Response is the natural early return of a handler
pub(super) fn ensure(site: &Site, headers: &HeaderMap) -> Result<Visit, Response> {
    if let Some((sid, session)) = current(site, headers) {
        return Ok(Visit {
            sid,
            session,
            cookie: None,
        });
    }
    let sid = site.store.new_session(now()).map_err(|e| internal(&e))?;
    let session = site
        .store
        .session(&sid, now())
        .ok_or_else(|| internal(&"a new session vanished"))?;
    let cookie = session_cookie(&sid)?;
    Ok(Visit {
        sid,
        session,
        cookie: Some(cookie),
    })
}

/// The `Set-Cookie` value for session `sid`.
#[allow(clippy::result_large_err)] // a Response is the natural early return of a handler
pub(super) fn session_cookie(sid: &str) -> Result<HeaderValue, Response> {
    HeaderValue::from_str(&format!("{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax"))
        .map_err(|e| internal(&e))
}

pub(super) fn take_flash(site: &Site, sid: Option<&str>) -> Option<Flash> {
    sid.and_then(|s| site.store.update_session(s, |w| w.flash.take()).flatten())
}

pub(super) fn set_flash(site: &Site, sid: &str, title: &str, message: &str, kind: &'static str) {
    site.store.update_session(sid, |w| {
        w.flash = Some(Flash {
            title: title.into(),
            message: message.into(),
            kind,
        });
    });
}

/// Adds `Set-Cookie` when there is one.
pub(super) fn with_cookie(mut r: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    r
}

pub(super) fn redirect(to: &str, cookie: Option<HeaderValue>) -> Response {
    with_cookie(
        (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response(),
        cookie,
    )
}

/// An HTML page (never cached: it may carry a CSRF token or a pairing code).
pub(super) fn html(body: String) -> Response {
    status_html(StatusCode::OK, body)
}

/// The same with another status.
pub(super) fn status_html(status: StatusCode, body: String) -> Response {
    let mut r = (status, Html(body)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A page that only says what went wrong, with a link.
pub(super) fn problem(
    status: StatusCode,
    title: &str,
    message: &str,
    link: (&str, &str),
) -> Response {
    let flash = Flash {
        title: title.into(),
        message: message.into(),
        kind: if status.is_server_error() {
            "danger"
        } else {
            "warn"
        },
    };
    status_html(status, pages::message(title, None, &flash, link, ""))
}

pub(super) fn internal(e: &dyn std::fmt::Display) -> Response {
    warn!(error = %e, "demo site failure");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The demo site hit an internal error; see the terminal running `tapprove demo`.",
        ("/", "Home"),
    )
}

pub(super) async fn not_found() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page.",
        ("/", "Home"),
    )
}
