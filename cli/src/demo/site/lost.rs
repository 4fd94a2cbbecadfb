//! "I lost my phone": after the password is checked at login (the phone cannot approve, it is
//! gone), the user types the recovery code issued at sign-up, revokes every device at once
//! (`DELETE /v1/users/{user}/devices`) and pairs a new phone with a code shown right away.
//!
//! The password alone must not re-enroll an account (whoever learns it would take the account
//! over), so the recovery code is the second proof: stored hashed, single use, replaced by a new
//! one shown with the recovery pairing. Only `tapprove demo --insecure-password-only-recovery`
//! skips it, and then the pages say it is a shortcut. The password check is good for
//! [`PASSWORD_CHECK_SECONDS`] and one use (a wrong recovery code spends it too); the waiting
//! push login is canceled first, so a thief cannot approve it meanwhile.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use tracing::{info, warn};
use zeroize::Zeroizing;

use super::super::pages;
use super::super::store::{Flash, PASSWORD_CHECK_SECONDS, WebSession};
use super::devices::service_failure;
use super::pairing::start_pairing;
use super::web::{current, internal, redirect, set_flash, status_html, take_flash};
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
    let needs_code = !site.cfg.password_only_recovery;
    status_html(
        StatusCode::OK,
        pages::lost_phone(&user, flash.as_ref(), w.csrf.expose_secret(), needs_code),
    )
}

/// The lost-phone form.
#[derive(Deserialize)]
pub(super) struct LostForm {
    #[serde(default)]
    pub(super) recovery_code: String,
}

/// `POST /login/lost` (origin and CSRF token already checked by the guard).
pub(super) async fn lost_phone(
    State(site): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<LostForm>,
) -> Response {
    let (sid, w, user) = match checked(&site, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    // The recovery code is spent before anything is removed (check and spend are one step, so
    // it works once), and put back if the service then fails.
    let spent = if site.cfg.password_only_recovery {
        None
    } else {
        let typed = Zeroizing::new(form.recovery_code);
        match site.store.spend_recovery_code(&user, &typed) {
            Ok(Some(spent)) => Some(spent),
            Ok(None) => {
                info!(user = %user, "lost phone: wrong recovery code");
                // Each guess costs a password check: log in again to try another code.
                site.store
                    .update_session(&sid, |w| w.password_checked = None);
                set_flash(
                    &site,
                    &sid,
                    "That recovery code is not right",
                    "Nothing was removed. Log in with your password again and type the recovery code shown when you signed up (XXXX-XXXX-XXXX-XXXX). Without it, contact the bank.",
                    "danger",
                );
                return redirect("/login", None);
            }
            Err(e) => return internal(&e),
        }
    };
    let failed = |message: String| {
        if let Some(spent) = spent.clone()
            && let Err(e) = site.store.restore_recovery_code(&user, spent)
        {
            warn!(error = %e, "lost phone: cannot put the recovery code back");
        }
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
    // The spent code is replaced by a new one, shown once with the recovery pairing.
    let new_recovery = if spent.is_some() {
        match site.store.new_recovery_code(&user) {
            Ok(code) => Some(SecretString::from(code)),
            Err(e) => return internal(&e),
        }
    } else {
        None
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
        w.new_recovery_code = new_recovery;
        w.flash = Some(Flash {
            title: "All your devices were removed".into(),
            message,
            kind: "ok",
        });
    });
    redirect("/pair", shown.cookie)
}
