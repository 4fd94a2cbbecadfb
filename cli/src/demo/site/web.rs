//! Browser sessions (the cookie), flash messages and the common responses.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use secrecy::ExposeSecret as _;
use tracing::warn;

use super::super::pages;
use super::super::store::{Flash, StoreError, WebSession};
use super::{Site, now};

/// The session cookie's name on plain http (loopback).
pub(super) const COOKIE: &str = "demo_sid";
/// Its name when the site is served over HTTPS: browsers accept a `__Host-` cookie only with
/// `Secure`, `Path=/` and no `Domain`, so a sibling subdomain or a plain-http page cannot set
/// (plant) it.
const HOST_COOKIE: &str = "__Host-demo_sid";

/// The session cookie's name, over HTTPS or not.
fn cookie_name(https: bool) -> &'static str {
    if https { HOST_COOKIE } else { COOKIE }
}

fn cookie_sid(https: bool, headers: &HeaderMap) -> Option<String> {
    let name = cookie_name(https);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The caller's session id and session, if the cookie names a live one.
pub(super) fn current(site: &Site, headers: &HeaderMap) -> Option<(String, WebSession)> {
    let sid = cookie_sid(site.cfg.served_over_https(), headers)?;
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
        self.session.csrf.expose_secret()
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
    let cookie = session_cookie(site, &sid)?;
    Ok(Visit {
        sid,
        session,
        cookie: Some(cookie),
    })
}

/// The `Set-Cookie` value for session `sid`: `__Host-` and `Secure` over HTTPS, the plain
/// name on loopback http (where a `Secure` cookie would never be sent back).
#[allow(clippy::result_large_err)] // a Response is the natural early return of a handler
pub(super) fn session_cookie(site: &Site, sid: &str) -> Result<HeaderValue, Response> {
    HeaderValue::from_str(&set_cookie(site.cfg.served_over_https(), sid)).map_err(|e| internal(&e))
}

fn set_cookie(https: bool, sid: &str) -> String {
    let name = cookie_name(https);
    let secure = if https { "; Secure" } else { "" };
    format!("{name}={sid}; Path=/; HttpOnly; SameSite=Lax{secure}")
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

/// The answer to a failed session move: a session that is gone (ended, or moved by another
/// request with the same id) sends the browser to log in again; anything else is internal.
pub(super) fn session_move_failed(e: &StoreError) -> Response {
    match e {
        StoreError::SessionGone => redirect("/login", None),
        other => internal(other),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    #[test]
    fn https_sessions_use_a_secure_host_only_cookie() {
        assert_eq!(
            set_cookie(true, "abc"),
            "__Host-demo_sid=abc; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            set_cookie(false, "abc"),
            "demo_sid=abc; Path=/; HttpOnly; SameSite=Lax"
        );
        // Over HTTPS a plain-named cookie (one a plain-http page or a sibling domain could
        // plant) is not a session.
        let planted = cookies("demo_sid=planted");
        assert_eq!(cookie_sid(true, &planted), None);
        assert_eq!(cookie_sid(false, &planted).as_deref(), Some("planted"));
        let both = cookies("demo_sid=planted; __Host-demo_sid=real");
        assert_eq!(cookie_sid(true, &both).as_deref(), Some("real"));
    }
}
