//! The trust webhook (PROTOCOL.md §8): asks the relying party whether a pairing code is valid
//! for a user. Fails closed: only a `200` trusts.

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Serialize;
use tapprove_protocol::credentials::is_loopback_host;
use tapprove_protocol::webhook::{
    ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookKey, basic_authorization,
};

use crate::crypto;
use crate::domain::context::Webhooks;
use crate::domain::credentials;
use crate::error::ServiceError;
use crate::store::ProjectRow;

/// Checks a trust URL: absolute http(s), https unless the host is loopback.
pub fn validate_trust_url(trust_url: &str) -> Result<url::Url, ServiceError> {
    let bad = |reason: &str| ServiceError::InvalidTrustUrl {
        url: trust_url.to_owned(),
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(trust_url).map_err(|e| {
        bad(&format!(
            "{e}; give an absolute URL like https://example.com/users/trust"
        ))
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(url.host_str().unwrap_or_default()) => {}
        "http" => {
            return Err(bad(
                "plain http is only allowed for loopback hosts; use https",
            ));
        }
        _ => return Err(bad("the scheme must be https")),
    }
    if url.host().is_none() {
        return Err(bad("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "do not put credentials in the URL; the service sends its own Basic auth",
        ));
    }
    Ok(url)
}

/// What the relying party said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TrustOutcome {
    /// `200`, with the canonical user name if the body was `{"user": "…"}` (else the
    /// name the device sent is kept).
    Trusted(Option<String>),
    /// Another status: the code was not accepted.
    Rejected(StatusCode),
    /// A `3xx`: never followed.
    Redirected(StatusCode),
    /// No answer within the timeout.
    TimedOut,
    /// Connection or TLS failure.
    Unreachable,
    /// The trust URL or credentials are unusable (operator error).
    Misconfigured(&'static str),
}

impl TrustOutcome {
    /// A message for the device, saying which case it is and what to do.
    pub(crate) fn message(&self, project_name: &str) -> String {
        match self {
            Self::Trusted(_) => "Trusted.".into(),
            Self::Rejected(status) => format!(
                "{project_name} did not accept this pairing code (HTTP {}). Check the code and the \
                 user name, or get a new code from {project_name}, then try again.",
                status.as_u16()
            ),
            Self::Redirected(status) => format!(
                "{project_name}'s trust webhook answered with a redirect (HTTP {}), which is never \
                 followed, so the pairing was refused. The site operator must configure the \
                 exact webhook URL.",
                status.as_u16()
            ),
            Self::TimedOut => format!(
                "{project_name} did not answer the pairing check in time, so the pairing was \
                 refused. Try again later; if it keeps failing, contact {project_name}."
            ),
            Self::Unreachable => format!(
                "{project_name}'s trust webhook could not be reached, so the pairing was refused. \
                 Try again later; if it keeps failing, contact {project_name}."
            ),
            Self::Misconfigured(why) => format!(
                "{project_name}'s pairing check is misconfigured on the service ({why}), so the \
                 pairing was refused. Contact {project_name}."
            ),
        }
    }

    /// Short label for logs.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Trusted(_) => "trusted",
            Self::Rejected(_) => "rejected",
            Self::Redirected(_) => "redirected",
            Self::TimedOut => "timeout",
            Self::Unreachable => "unreachable",
            Self::Misconfigured(_) => "misconfigured",
        }
    }
}

#[derive(Serialize)]
struct TrustBody<'a> {
    user: &'a str,
    challenge: &'a str,
}

/// POSTs `{"user", "challenge"}` with Basic auth and Standard Webhooks headers.
pub(crate) async fn ask_trust(
    ctx: Webhooks<'_>,
    project: &ProjectRow,
    user: &str,
    pairing_code: &str,
    now: i64,
) -> TrustOutcome {
    let body = match serde_json::to_vec(&TrustBody {
        user,
        challenge: pairing_code,
    }) {
        Ok(b) => b,
        Err(_) => return TrustOutcome::Misconfigured("cannot encode the request"),
    };
    let request = match signed_post(ctx, project, &project.trust_url, body, now) {
        Ok(r) => r,
        Err(why) => return TrustOutcome::Misconfigured(why),
    };
    match request.send().await {
        Ok(resp) => {
            let status = resp.status();
            if status == StatusCode::OK {
                TrustOutcome::Trusted(canonical_user(resp).await)
            } else if status.is_redirection() {
                TrustOutcome::Redirected(status)
            } else {
                TrustOutcome::Rejected(status)
            }
        }
        Err(e) if e.is_timeout() => TrustOutcome::TimedOut,
        Err(_) => TrustOutcome::Unreachable,
    }
}

/// Longest trust answer body read, bytes (`{"user": "…"}` with a 256-character name fits).
const MAX_TRUST_BODY: usize = 4096;

#[derive(serde::Deserialize)]
struct TrustAnswer {
    user: Option<String>,
}

/// The canonical user name of a `200` answer `{"user": "alice"}`: a bare `200` (empty or any
/// other body) keeps the name the device sent. A name that is empty or longer than 256
/// characters is ignored (and logged): the site's answer still trusts.
async fn canonical_user(mut resp: reqwest::Response) -> Option<String> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_TRUST_BODY => {
                body.extend_from_slice(&chunk)
            }
            Ok(Some(_)) => {
                tracing::warn!("the trust answer's body is too long: its user name is ignored");
                return None;
            }
            Ok(None) => break,
            Err(_) => return None,
        }
    }
    let user = serde_json::from_slice::<TrustAnswer>(&body).ok()?.user?;
    let user = user.trim();
    if user.is_empty() || user.chars().count() > 256 {
        tracing::warn!("the trust answer's user name is empty or too long: ignored");
        return None;
    }
    Some(user.to_owned())
}

/// A JSON POST to one of the project's webhooks (trust or events) with the project's
/// webhook credentials: HTTP Basic auth and a Standard Webhooks signature. Refuses plain
/// http except on loopback when the service allows it. The error says what is misconfigured.
pub(crate) fn signed_post(
    ctx: Webhooks<'_>,
    project: &ProjectRow,
    url: &str,
    body: Vec<u8>,
    now: i64,
) -> Result<reqwest::RequestBuilder, &'static str> {
    let msg_id = crypto::new_id("msg_").map_err(|_| "no randomness")?;
    signed_post_as(ctx, project, url, &msg_id, body, now)
}

/// [`signed_post`] with a given `webhook-id`: the retries of one event keep its id, so the
/// receiver can drop duplicates (Standard Webhooks).
pub(crate) fn signed_post_as(
    ctx: Webhooks<'_>,
    project: &ProjectRow,
    url: &str,
    msg_id: &str,
    body: Vec<u8>,
    now: i64,
) -> Result<reqwest::RequestBuilder, &'static str> {
    let url = url::Url::parse(url).map_err(|_| "invalid webhook URL")?;
    match url.scheme() {
        "https" => {}
        "http"
            if is_loopback_host(url.host_str().unwrap_or_default())
                && ctx.allow_insecure_on_loopback => {}
        _ => return Err("the webhook URL must use https"),
    }
    let (password, secret) = credentials::unseal_webhook_credentials(ctx.seal_key, project)
        .map_err(|e| {
            tracing::error!(project_id = %project.id, error = %e, "cannot unseal webhook credentials");
            "webhook credentials cannot be read"
        })?;
    let timestamp = now;
    let signature = WebhookKey::from_secret(secret.expose())
        .map_err(|_| "webhook secret unusable")?
        .sign(msg_id, timestamp, &body);
    let basic = basic_authorization(&project.webhook_username, password.expose());
    Ok(ctx
        .http
        .post(url)
        .header(AUTHORIZATION, basic.as_str())
        .header(CONTENT_TYPE, "application/json")
        .header(ID_HEADER, msg_id)
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature)
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_urls() {
        assert!(validate_trust_url("https://bank.example/users/trust").is_ok());
        assert!(validate_trust_url("http://127.0.0.1:3000/users/trust").is_ok());
        assert!(validate_trust_url("http://localhost/users/trust").is_ok());
        assert!(validate_trust_url("http://[::1]:9/x").is_ok());
        let e = validate_trust_url("http://bank.example/users/trust").expect_err("http");
        assert!(e.to_string().contains("https"), "{e}");
        assert!(validate_trust_url("ftp://x/y").is_err());
        assert!(validate_trust_url("/users/trust").is_err());
        assert!(validate_trust_url("https://u:p@bank.example/").is_err());
    }
}
