//! The home page and sign-up: a new user gets an account and, at once, a pairing code.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use secrecy::{ExposeSecret as _, SecretString};
use tracing::info;
use zeroize::Zeroizing;

use super::super::pages;
use super::super::store::Flash;
use super::pairing::start_pairing;
use super::password::{Credentials, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use super::web::{current, ensure, html, internal, redirect, set_flash, status_html, with_cookie};
use super::{Shared, now};

pub(super) async fn home(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let visit = match ensure(&site, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let flash = visit.take_flash(&site);
    let page = pages::home(visit.session.user.as_deref(), flash.as_ref(), visit.csrf());
    with_cookie(html(page), visit.cookie)
}

pub(super) async fn signup_form(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let visit = match ensure(&site, &headers) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let flash = visit.take_flash(&site);
    let page = pages::signup(flash.as_ref(), "", visit.csrf());
    with_cookie(html(page), visit.cookie)
}

pub(super) fn valid_user_name(u: &str) -> bool {
    (1..=32).contains(&u.len())
        && u.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        // "." and ".." cannot be a URL path segment (the devices API puts the name in one).
        && !u.chars().all(|c| c == '.')
}

/// The sign-up form again, with what is wrong.
fn refused(user: &str, csrf: &str, message: &str, status: StatusCode) -> Response {
    let flash = Flash {
        title: "Cannot sign up".into(),
        message: message.into(),
        kind: "danger",
    };
    status_html(status, pages::signup(Some(&flash), user, csrf))
}

/// `POST /signup` (origin and CSRF token already checked by the guard).
pub(super) async fn signup(
    State(site): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Response {
    let Some((sid, w)) = current(&site, &headers) else {
        return redirect("/signup", None);
    };
    let csrf = w.csrf.expose_secret();
    let user = form.user.trim().to_ascii_lowercase();
    let password = Zeroizing::new(form.password);
    let problem = if !valid_user_name(&user) {
        Some(
            "User names are 1 to 32 characters: a-z, 0-9, dot, dash or underscore (not only dots).",
        )
    } else if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        Some("Choose a password of 8 to 256 characters.")
    } else if site.store.user_exists(&user) {
        Some("That user name is taken; choose another one or log in.")
    } else {
        None
    };
    if let Some(message) = problem {
        return refused(&user, csrf, message, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let hashed = match site.passwords.hash(password).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return internal(&e),
        Err(busy) => {
            return refused(
                &user,
                csrf,
                &format!("{busy}; try again in a few seconds."),
                StatusCode::SERVICE_UNAVAILABLE,
            );
        }
    };
    match site.store.add_user(&user, hashed, now()) {
        Ok(true) => {}
        Ok(false) => {
            return refused(
                &user,
                csrf,
                "That user name is taken; choose another one or log in.",
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
        Err(e) => return internal(&e),
    }
    info!(user = %user, "signed up");
    // Issued with the account and shown once, on the pairing page: the one thing besides the
    // password that "I lost my phone" accepts.
    let recovery = match site.store.new_recovery_code(&user) {
        Ok(code) => code,
        Err(e) => return internal(&e),
    };
    let shown = match start_pairing(&site, &sid, &user, false) {
        Ok(s) => s,
        Err(r) => return r,
    };
    site.store.update_session(&shown.sid, |w| {
        w.new_recovery_code = Some(SecretString::from(recovery));
    });
    set_flash(
        &site,
        &shown.sid,
        "Account created",
        "One more step: pair your phone, so logins need a tap on it.",
        "ok",
    );
    redirect("/pair", shown.cookie)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        assert!(valid_user_name("alice.b-2_x"));
        assert!(!valid_user_name(""));
        assert!(!valid_user_name("Alice"));
        assert!(!valid_user_name("a b"));
        assert!(!valid_user_name(&"a".repeat(33)));
        assert!(!valid_user_name("..") && !valid_user_name(".") && valid_user_name(".a."));
    }
}
