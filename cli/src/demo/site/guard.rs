//! The checks every state-changing browser request passes before its handler runs: it comes
//! from this site (`Origin`, else `Sec-Fetch-Site`; `Origin: null` is refused), and its form
//! carries the session's CSRF token (compared in constant time). One middleware, so no form
//! handler can forget them. The trust webhook is server-to-server and has its own checks.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use secrecy::ExposeSecret as _;
use tapprove_protocol::webhook::ct_eq;
use tracing::warn;

use super::web::{current, problem};
use super::{Shared, Site};

/// Largest form body accepted (a 256-byte password and a user name fit many times over).
pub(super) const MAX_FORM_BYTES: usize = 16 * 1024;

/// The form field carrying the token.
pub(super) const CSRF_FIELD: &str = "csrf";

/// Why a state-changing request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// `Origin` names another site, or is `null` (sandboxed frames, some redirects, `file:`).
    ForeignOrigin,
    /// No `Origin`, but the browser says the request is cross-site.
    CrossSiteFetch,
    /// The form has no token or a wrong one, or the session is gone.
    BadToken,
    /// The body is larger than [`MAX_FORM_BYTES`].
    TooLarge,
}

/// Whether the request comes from this site's own pages.
fn origin_check(site: &Site, headers: &HeaderMap) -> Result<(), Refusal> {
    let public = site.cfg.public_url.trim_end_matches('/');
    let via_localhost = public.replacen("://127.0.0.1:", "://localhost:", 1);
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) if origin == public || origin == via_localhost => Ok(()),
        Some(_) => Err(Refusal::ForeignOrigin),
        // Browsers without `Origin` on this request still send Sec-Fetch-Site; clients
        // without either (curl, old browsers) meet the CSRF token alone.
        None => match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            None | Some("same-origin" | "none") => Ok(()),
            Some(_) => Err(Refusal::CrossSiteFetch),
        },
    }
}

/// The value of `name` in a urlencoded form.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn refused(path: &str, why: Refusal) -> Response {
    warn!(path, reason = ?why, "state-changing request refused");
    let back = match path {
        "/login" | "/signup" | "/pair" | "/login/lost" => (path, "Back to the form"),
        "/devices/remove" => ("/devices", "Back to your devices"),
        _ => ("/", "Home"),
    };
    match why {
        Refusal::ForeignOrigin | Refusal::CrossSiteFetch => problem(
            StatusCode::FORBIDDEN,
            "Request refused",
            "This request did not come from a Demo Bank page, so it was refused. Open the site yourself and try again.",
            back,
        ),
        Refusal::BadToken => problem(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The form was not issued for your current session (it may be from before a login, a logout or a restart). Reload the page and submit it again.",
            back,
        ),
        Refusal::TooLarge => problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Form too large",
            "That form is larger than any of this site's forms; passwords are at most 256 characters.",
            back,
        ),
    }
}

/// Middleware: lets safe methods through, checks origin and token on everything else.
pub(super) async fn check(State(site): State<Shared>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let path = req.uri().path().to_owned();
    if let Err(why) = origin_check(&site, req.headers()) {
        return refused(&path, why);
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return refused(&path, Refusal::TooLarge);
    };
    let token = zeroize::Zeroizing::new(form_field(&bytes, CSRF_FIELD).unwrap_or_default());
    let valid = current(&site, &parts.headers).is_some_and(|(_, w)| {
        !token.is_empty() && ct_eq(w.csrf.expose_secret().as_bytes(), token.as_bytes())
    });
    if !valid {
        return refused(&path, Refusal::BadToken);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_decoded() {
        assert_eq!(
            form_field(b"user=a&csrf=x%2By+z", "csrf").as_deref(),
            Some("x+y z")
        );
        assert_eq!(form_field(b"user=a", "csrf"), None);
    }
}
