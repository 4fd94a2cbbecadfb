//! Browser sessions (the cookie), flash messages, the common responses and the same-origin
//! check of state-changing requests.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use tracing::warn;

use super::super::pages;
use super::super::store::{Flash, WebSession};
use super::Site;

pub(super) const COOKIE: &str = "demo_sid";

pub(super) fn cookie_sid(headers: &HeaderMap) -> Option<String> {
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
    let session = site.store.session(&sid)?;
    Some((sid, session))
}

/// The caller's session, created (with a `Set-Cookie`) when missing.
#[allow(clippy::result_large_err)] // a Response is the natural early return of a handler
pub(super) fn ensure(
    site: &Site,
    headers: &HeaderMap,
) -> Result<(String, Option<HeaderValue>), Response> {
    if let Some((sid, _)) = current(site, headers) {
        return Ok((sid, None));
    }
    let sid = site.store.new_session().map_err(|e| internal(&e))?;
    let cookie = HeaderValue::from_str(&format!("{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax"))
        .map_err(|e| internal(&e))?;
    Ok((sid, Some(cookie)))
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

pub(super) fn redirect(to: &str, cookie: Option<HeaderValue>) -> Response {
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
    if let Some(c) = cookie {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    r
}

pub(super) fn html(body: String) -> Response {
    let mut r = Html(body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub(super) fn internal(e: &dyn std::fmt::Display) -> Response {
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
pub(super) fn same_origin(site: &Site, headers: &HeaderMap) -> Result<(), Response> {
    let public = site.cfg.public_url.trim_end_matches('/');
    let via_localhost = public.replacen("://127.0.0.1:", "://localhost:", 1);
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None | Some("null") => Ok(()),
        Some(origin) if origin == public || origin == via_localhost => Ok(()),
        Some(_) => Err((StatusCode::FORBIDDEN, "cross-site request refused").into_response()),
    }
}

pub(super) async fn not_found() -> Response {
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
