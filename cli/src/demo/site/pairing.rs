//! Pairing: issuing a user's one-time code, the page that shows it (code, QR, enrollment URI,
//! terminal command) and the long-poll that tells the page the device was trusted.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret as _;
use serde_json::json;

use super::super::code;
use super::super::pages::{self, PairingView};
use super::super::store::WebSession;
use super::web::{
    current, html, internal, redirect, session_cookie, session_move_failed, set_flash, take_flash,
};
use super::{LONG_POLL, Shared, Site, now};

/// The session now showing a pairing code.
pub(super) struct Shown {
    /// Its id (new unless the session was logged in).
    pub(super) sid: String,
    /// `Set-Cookie` for a new id.
    pub(super) cookie: Option<HeaderValue>,
}

/// Issues a fresh pairing code for `user` and shows it in session `sid`. A session that is
/// not logged in gains the right to see the code, so it moves to a new id first; a logged-in
/// one was renewed at login.
#[allow(clippy::result_large_err)] // a Response is the natural early return of a handler
pub(super) fn start_pairing(
    site: &Site,
    sid: &str,
    user: &str,
    logged_in: bool,
) -> Result<Shown, Response> {
    let code = site
        .store
        .new_pairing_code(user, now())
        .map_err(|e| internal(&e))?;
    let show = |w: &mut WebSession| w.pairing = Some((user.to_owned(), code.clone()));
    if logged_in {
        site.store.update_session(sid, show);
        return Ok(Shown {
            sid: sid.to_owned(),
            cookie: None,
        });
    }
    let new_sid = site
        .store
        .rotate_session(sid, now(), |w| {
            w.user = None;
            show(w);
        })
        .map_err(|e| session_move_failed(&e))?;
    let cookie = session_cookie(site, &new_sid)?;
    Ok(Shown {
        sid: new_sid,
        cookie: Some(cookie),
    })
}

pub(super) async fn pair_page(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let Some((sid, w)) = current(&site, &headers) else {
        return redirect("/login", None);
    };
    if w.pairing.is_none() && w.user.is_some() {
        // Logged in without a code: the devices page lists them and offers "Add a phone".
        return redirect("/devices", None);
    }
    let flash = take_flash(&site, Some(&sid));
    // Shown this once: a reload of the page no longer has it.
    let new_recovery = site
        .store
        .update_session(&sid, |w| w.new_recovery_code.take())
        .flatten()
        .map(|c| code::display(c.expose_secret()));
    let csrf = w.csrf.expose_secret();
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
                recovery_shortcut: w.recovery && site.cfg.password_only_recovery,
                new_recovery_code: new_recovery.as_deref(),
            };
            html(pages::pairing(&view, flash.as_ref(), csrf))
        }
        (None, _) => {
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

pub(super) async fn pair_new(State(site): State<Shared>, headers: HeaderMap) -> Response {
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
    match start_pairing(&site, &sid, &user, true) {
        Ok(shown) => redirect("/pair", shown.cookie),
        Err(r) => r,
    }
}

pub(super) async fn pair_status(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let Some((user, code)) = current(&site, &headers).and_then(|(_, w)| w.pairing) else {
        return axum::Json(json!({"paired": false, "gone": true})).into_response();
    };
    let mut events = site.store.pair_events();
    let deadline = tokio::time::Instant::now() + LONG_POLL;
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
