//! "Your devices": a signed-in user's paired phones, read from the service
//! (`GET /v1/users/{user}/devices`), and removing one (`DELETE /v1/devices/{id}`). "Add a phone"
//! is the pairing flow of `pairing.rs`.
//!
//! The service's `DELETE /v1/devices/{id}` only checks the project, so the site removes a
//! device only after finding its id in the signed-in user's own list: a form naming another
//! user's device id removes nothing.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use tapprove_protocol::api::{DeviceList, ErrorCode};
use tracing::{info, warn};

use super::super::pages;
use super::web::{current, redirect, set_flash, status_html, take_flash};
use super::{Shared, Site};
use tapprove_rp::RpError;

/// A signed-in request: session id, user and the session's form token.
struct SignedIn {
    sid: String,
    user: String,
    csrf: String,
}

/// The signed-in user of the request, or the redirect to the login page.
#[allow(clippy::result_large_err)] // a Response is the natural early return of a handler
fn signed_in(site: &Site, headers: &HeaderMap) -> Result<SignedIn, Response> {
    match current(site, headers) {
        Some((sid, w)) => match w.user {
            Some(user) => Ok(SignedIn {
                sid,
                user,
                csrf: w.csrf.expose_secret().to_owned(),
            }),
            None => {
                set_flash(
                    site,
                    &sid,
                    "Log in first",
                    "Log in with your password and phone to see your devices.",
                    "warn",
                );
                Err(redirect("/login", None))
            }
        },
        None => Err(redirect("/login", None)),
    }
}

/// What the user is told when the service could not be asked; `doing` is what did not happen.
pub(super) fn service_failure(e: &RpError, doing: &str) -> String {
    match e {
        RpError::Api { status, code, .. } => format!(
            "The Tapprove service refused the request ({}, HTTP {status}), so {doing}. See the terminal running `tapprove demo`.",
            code.as_str()
        ),
        other => format!(
            "The Tapprove service did not answer ({other}), so {doing}. Try again in a moment; if it keeps failing, check the terminal running `tapprove demo`."
        ),
    }
}

/// `GET /devices`.
pub(super) async fn devices_page(State(site): State<Shared>, headers: HeaderMap) -> Response {
    let SignedIn { sid, user, csrf } = match signed_in(&site, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let flash = take_flash(&site, Some(&sid));
    match site.rp.list_devices(&user).await {
        Ok(DeviceList { devices }) => status_html(
            StatusCode::OK,
            pages::devices(&user, Ok(&devices), flash.as_ref(), &csrf),
        ),
        Err(e) => {
            warn!(error = %e, "cannot list the user's devices");
            let why = service_failure(&e, "your devices cannot be shown");
            status_html(
                StatusCode::BAD_GATEWAY,
                pages::devices(&user, Err(&why), flash.as_ref(), &csrf),
            )
        }
    }
}

#[derive(Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default)]
    device: String,
}

/// `POST /devices/remove` (origin and CSRF token already checked by the guard).
pub(super) async fn remove_device(
    State(site): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<RemoveForm>,
) -> Response {
    let SignedIn { sid, user, .. } = match signed_in(&site, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let flash = |title: &str, message: &str, kind| {
        set_flash(&site, &sid, title, message, kind);
        redirect("/devices", None)
    };
    // Only a device in this user's own list may be removed (see the module docs).
    let devices = match site.rp.list_devices(&user).await {
        Ok(l) => l.devices,
        Err(e) => {
            warn!(error = %e, "cannot list the user's devices");
            return flash(
                "Device not removed",
                &service_failure(&e, "nothing was removed"),
                "danger",
            );
        }
    };
    let Some(device) = devices.iter().find(|d| d.id == form.device) else {
        return flash(
            "That device is already gone",
            "It is no longer paired with your account (removed already, perhaps in another tab), so there was nothing to remove.",
            "warn",
        );
    };
    let name = device.name.as_deref().unwrap_or("Unnamed device");
    match site.rp.revoke_device(&device.id).await {
        Ok(()) => {
            info!(user = %user, device = %device.id, "device removed by its user");
            let left = devices.len() - 1;
            let message = if left == 0 {
                format!(
                    "“{name}” can no longer approve logins. No device is paired with your account now: add a phone, or your next login asks you to pair one."
                )
            } else {
                format!("“{name}” can no longer approve logins to your account.")
            };
            flash(
                "Device removed",
                &message,
                if left == 0 { "warn" } else { "ok" },
            )
        }
        Err(RpError::Api {
            code: ErrorCode::NotFound,
            ..
        }) => flash(
            "That device is already gone",
            &format!("The service no longer knows “{name}”, so there was nothing to remove."),
            "warn",
        ),
        Err(e) => {
            warn!(error = %e, "cannot remove the device");
            flash(
                "Device not removed",
                &service_failure(&e, &format!("“{name}” was not removed")),
                "danger",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    //! The failure paths that the browser test cannot reach (the demo's service runs in the same
    //! process): the site's handlers against a service port nobody listens on.
    use std::sync::Arc;

    use axum::http::{HeaderValue, header};

    use super::super::super::store::{PasswordChecked, SiteStore};
    use super::super::limits::PasswordLimits;
    use super::super::lost;
    use super::super::password::PasswordWork;
    use super::super::web::COOKIE;
    use super::super::{SiteConfig, now};
    use super::*;
    use tapprove_rp::{ApiKey, RpClient, WebhookVerifier};

    /// A site whose service is down, and a session in it changed by `f`.
    fn site_with_dead_service(
        f: impl FnOnce(&mut super::super::super::store::WebSession),
    ) -> (tempfile::TempDir, Shared, HeaderMap, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let service_url = format!("http://{}", dead.local_addr().expect("addr"));
        drop(dead);
        let webhook =
            WebhookVerifier::new("u", "p", "whsec_c2VjcmV0LWtleS1ieXRlcw==").expect("webhook key");
        let cfg = SiteConfig {
            service_url: service_url.clone(),
            public_url: "http://127.0.0.1:3000".into(),
            api_key: ApiKey::new("tap_api_test"),
            sdk_key: "tap_sdk_test".into(),
            webhook,
            state_file: dir.path().join("site.json"),
            tapprove_cmd: "tapprove".into(),
            device_store: dir.path().join("device"),
            password_only_recovery: false,
        };
        let store = SiteStore::open(&cfg.state_file).expect("store");
        assert!(store.add_user("alice", "hash".into(), 0).expect("add"));
        let sid = store.new_session(now()).expect("session");
        store.update_session(&sid, f);
        let rp = RpClient::new(&service_url, cfg.api_key.clone()).expect("client");
        let site = Arc::new(Site {
            cfg,
            store,
            rp,
            passwords: PasswordWork::new(),
            limits: PasswordLimits::new(),
        });
        let mut headers = HeaderMap::new();
        let cookie = HeaderValue::from_str(&format!("{COOKIE}={sid}")).expect("cookie");
        headers.insert(header::COOKIE, cookie);
        (dir, site, headers, sid)
    }

    async fn body(r: Response) -> String {
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    fn location(r: &Response) -> &str {
        r.headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn service_down_is_said_on_the_devices_page_and_nothing_is_removed() {
        let (_dir, site, headers, sid) = site_with_dead_service(|w| w.user = Some("alice".into()));
        let r = devices_page(State(site.clone()), headers.clone()).await;
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        let page = body(r).await;
        assert!(page.contains("id=\"devices-error\""), "{page}");
        assert!(
            page.contains("The Tapprove service did not answer"),
            "{page}"
        );
        assert!(page.contains("Add a phone"), "{page}");

        let form = Form(RemoveForm {
            device: "acc_1".into(),
        });
        let r = remove_device(State(site.clone()), headers, form).await;
        assert_eq!(location(&r), "/devices");
        let flash = site
            .store
            .update_session(&sid, |w| w.flash.take())
            .flatten()
            .expect("a message");
        assert_eq!(flash.title, "Device not removed");
        assert!(
            flash.message.contains("nothing was removed"),
            "{}",
            flash.message
        );
    }

    #[tokio::test]
    async fn service_down_during_lost_phone_keeps_the_password_check_for_a_retry() {
        let (_dir, site, headers, sid) = site_with_dead_service(|w| {
            w.password_checked = Some(PasswordChecked {
                user: "alice".into(),
                at: now(),
            });
        });
        let code = site.store.new_recovery_code("alice").expect("code");
        let form = |c: &str| {
            Form(lost::LostForm {
                recovery_code: c.to_owned(),
            })
        };
        let r = lost::lost_phone(State(site.clone()), headers.clone(), form(&code)).await;
        assert_eq!(location(&r), "/login/lost");
        let w = site.store.session(&sid, now()).expect("same session");
        let flash = w.flash.expect("a message");
        assert_eq!(flash.title, "Your devices were not removed");
        assert!(
            flash.message.contains("did not answer"),
            "{}",
            flash.message
        );
        assert!(w.password_checked.is_some() && w.pairing.is_none() && !w.recovery);
        // The recovery code spent for the attempt was put back: it still works once.
        let again = site
            .store
            .spend_recovery_code("alice", &code.to_lowercase());
        assert!(again.expect("store").is_some(), "the code was restored");
        assert!(
            site.store
                .spend_recovery_code("alice", &code)
                .expect("store")
                .is_none()
        );
    }

    #[tokio::test]
    async fn lost_phone_without_the_right_recovery_code_removes_nothing() {
        let (_dir, site, headers, sid) = site_with_dead_service(|w| {
            w.password_checked = Some(PasswordChecked {
                user: "alice".into(),
                at: now(),
            });
        });
        let code = site.store.new_recovery_code("alice").expect("code");
        let wrong = if code.starts_with('0') { "1" } else { "0" }.to_owned() + &code[1..];
        for typed in ["", "not a code", wrong.as_str()] {
            site.store.update_session(&sid, |w| {
                w.password_checked = Some(PasswordChecked {
                    user: "alice".into(),
                    at: now(),
                });
            });
            let form = Form(lost::LostForm {
                recovery_code: typed.to_owned(),
            });
            let r = lost::lost_phone(State(site.clone()), headers.clone(), form).await;
            // Refused before the (dead) service is called: no "did not answer".
            assert_eq!(location(&r), "/login", "{typed:?}");
            let w = site.store.session(&sid, now()).expect("session");
            assert_eq!(
                w.flash.expect("a message").title,
                "That recovery code is not right"
            );
            assert!(
                w.password_checked.is_none(),
                "a guess spends the password check"
            );
        }
        assert!(
            site.store
                .spend_recovery_code("alice", &code)
                .expect("store")
                .is_some()
        );
    }

    #[tokio::test]
    async fn lost_phone_needs_a_recent_password_check() {
        let (_dir, site, headers, sid) = site_with_dead_service(|w| {
            w.password_checked = Some(PasswordChecked {
                user: "alice".into(),
                at: now() - 601,
            });
        });
        let r = lost::lost_page(State(site.clone()), headers).await;
        assert_eq!(location(&r), "/login");
        let w = site.store.session(&sid, now()).expect("session");
        assert_eq!(
            w.flash.expect("a message").title,
            "Enter your password first"
        );
    }
}
