//! The home page and sign-up: a new user gets an account and, at once, a pairing code.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use tracing::info;

use super::super::pages;
use super::super::store::Flash;
use super::pairing::start_pairing;
use super::password::{Credentials, hash_password};
use super::web::{current, ensure, html, internal, redirect, same_origin, set_flash, take_flash};
use super::{Shared, now};

pub(super) async fn home(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let cur = current(&site, &headers);
    let flash = take_flash(&site, cur.as_ref().map(|c| c.0.as_str()));
    html(pages::home(
        cur.as_ref().and_then(|c| c.1.user.as_deref()),
        flash.as_ref(),
    ))
}

pub(super) async fn signup_form(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let cur = current(&site, &headers);
    let flash = take_flash(&site, cur.as_ref().map(|c| c.0.as_str()));
    html(pages::signup(flash.as_ref(), ""))
}

pub(super) fn valid_user_name(u: &str) -> bool {
    (1..=32).contains(&u.len())
        && u.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

pub(super) async fn signup(
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
    }
}
