//! "I lost my phone": after the password is checked at login (the phone cannot approve, it is
//! gone), the user revokes every device at once (`DELETE /v1/users/{user}/devices`) and pairs
//! a new phone with a code shown right away.
//!
//! A conscious demo shortcut: the password alone then re-enrolls the account, which is what
//! the pairing after sign-up trusts too, but a real site must put its own stronger recovery
//! check (an emailed link, support, a recovery code) in front of this; the pages say so and
//! docs/DEMO.md explains it. The password check is good for [`PASSWORD_CHECK_SECONDS`] and one
//! use; the waiting push login is canceled first, so a thief cannot approve it meanwhile.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use secrecy::ExposeSecret as _;
use tracing::{info, warn};

use super::super::pages;
use super::super::store::{Flash, PASSWORD_CHECK_SECONDS, WebSession};
use super::devices::service_failure;
use super::pairing::start_pairing;
use super::web::{current, redirect, set_flash, status_html, take_flash};
use super::{Shared, Site, now};

/// The session and the user whose password it checked recently, or the way back to the login.
#[allow(clippy::result_large_err)] // a Response is the natural early return of a handler
fn checked(site: &Site, headers: &HeaderMap) -> Result<(String, WebSession, String), Response> {
    let Some((sid, w)) = current(site, headers) else {
        return Err(redirect("/login", None));
    };
    let user = w
        .password_checked
        .as_ref()
        .and_then(|p| p.fresh(now()))
        .map(str::to_owned);
    match user {
        Some(user) if w.user.is_none() => Ok((sid, w, user)),
        _ => {
            set_flash(
                site,
                &sid,
                "Enter your password first",
                &format!(
                    "To remove a lost phone, log in with your password (within the last {} minutes); the next page offers “I lost my phone”.",
                    PASSWORD_CHECK_SECONDS / 60
                ),
                "warn",
            );
            Err(redirect("/login", None))
        }
    }
}

/// `GET /login/lost`: what removing every device means, and the button.
pub(super) async fn lost_page(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let (sid, w, user) = match checked(&site, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let flash = take_flash(&site, Some(&sid));
    status_html(
        StatusCode::OK,
        pages::lost_phone(&user, flash.as_ref(), w.csrf.expose_secret()),
    )
}

/// `POST /login/lost` (origin and CSRF token already checked by the guard).
pub(super) async fn lost_phone(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let (sid, w, user) = match checked(&site, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let failed = |message: String| {
        set_flash(
            &site,
            &sid,
            "Your devices were not removed",
            &message,
            "danger",
        );
        redirect("/login/lost", None)
    };
    // The push login waiting for the lost phone ends first: nobody approves it now.
    if let Some(p) = &w.pending {
        if let Err(e) = site.rp.cancel_session(&p.session_id).await {
            warn!(error = %e, "cannot cancel the push session");
        }
        site.store.update_session(&sid, |w| w.pending = None);
    }
    let count = match site.rp.list_devices(&user).await {
        Ok(l) => l.devices.len(),
        Err(e) => {
            warn!(error = %e, "lost phone: cannot list the user's devices");
            return failed(service_failure(&e, "nothing was removed"));
        }
    };
    if let Err(e) = site.rp.revoke_all_devices(&user).await {
        warn!(error = %e, "lost phone: cannot revoke the user's devices");
        return failed(service_failure(&e, "nothing was removed"));
    }
    info!(user = %user, removed = count, "lost phone: every device revoked");
    let shown = match start_pairing(&site, &sid, &user, false) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let message = match count {
        0 => "No device was paired with your account any more. Pair your new phone with the code below, then log in with it.".to_owned(),
        1 => "We removed the one device paired with your account: it can no longer approve logins. Pair your new phone with the code below, then log in with it.".to_owned(),
        n => format!("We removed all {n} devices paired with your account: none of them can approve logins any more. Pair your new phone with the code below, then log in with it."),
    };
    site.store.update_session(&shown.sid, |w| {
        // One use: the next removal needs the password again.
        w.password_checked = None;
        w.pending = None;
        w.recovery = true;
        w.flash = Some(Flash {
            title: "All your devices were removed".into(),
            message,
            kind: "ok",
        });
    });
    redirect("/pair", shown.cookie)
}
