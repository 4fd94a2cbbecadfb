//! Verifies the service's trust webhook: HTTP Basic auth and the Standard Webhooks signature
//! (docs/PROTOCOL.md §8), both with the one implementation in `tapprove_protocol::webhook`
//! (constant-time comparisons).

use axum::http::HeaderMap;
use tapprove_protocol::webhook::{
    ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookKey, basic_matches,
};

use crate::secret::Secret;

/// The credentials the service uses for this site's project.
#[derive(Debug)]
pub struct WebhookCredentials {
    username: Secret,
    password: Secret,
    key: WebhookKey,
}

/// Why a webhook call was refused (logged without secrets; answered with 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The `Authorization: Basic` header is missing or wrong.
    #[error("missing or wrong basic auth")]
    BadBasicAuth,
    /// The Standard Webhooks headers are missing, stale or do not verify.
    #[error(transparent)]
    Signature(#[from] tapprove_protocol::webhook::WebhookError),
}

impl WebhookCredentials {
    /// The project's Basic auth pair and `whsec_` signing secret; fails on a malformed secret.
    pub fn new(
        username: Secret,
        password: Secret,
        secret: &Secret,
    ) -> Result<Self, tapprove_protocol::webhook::WebhookError> {
        Ok(Self {
            username,
            password,
            key: WebhookKey::from_secret(secret.expose())?,
        })
    }

    /// Checks Basic auth, timestamp and signature of one webhook request.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), WebhookError> {
        let header = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        };
        let authorization = header(axum::http::header::AUTHORIZATION.as_str());
        let basic_ok = basic_matches(
            authorization,
            self.username.expose().as_bytes(),
            self.password.expose().as_bytes(),
        );
        if !basic_ok {
            return Err(WebhookError::BadBasicAuth);
        }
        self.key.verify(
            header(ID_HEADER),
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            body,
            now,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use tapprove_protocol::webhook::{WebhookError as Wire, basic_authorization};

    const SECRET: &str = "whsec_c2VjcmV0LWtleS1ieXRlcw==";

    fn creds() -> WebhookCredentials {
        WebhookCredentials::new(Secret::new("whu"), Secret::new("pw"), &Secret::new(SECRET))
            .expect("secret")
    }

    fn sign(id: &str, ts: i64, body: &[u8]) -> String {
        WebhookKey::from_secret(SECRET)
            .expect("secret")
            .sign(id, ts, body)
    }

    fn headers(user: &str, pass: &str, id: &str, ts: i64, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let auth = basic_authorization(user, pass);
        h.insert(
            "authorization",
            HeaderValue::from_str(&auth).expect("header"),
        );
        h.insert(ID_HEADER, HeaderValue::from_str(id).expect("header"));
        h.insert(
            TIMESTAMP_HEADER,
            HeaderValue::from_str(&ts.to_string()).expect("header"),
        );
        h.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(sig).expect("header"),
        );
        h
    }

    #[test]
    fn accepts_valid_and_refuses_every_broken_part() {
        let c = creds();
        let body = br#"{"user":"alice","challenge":"7KQ2-M9XD"}"#;
        let sig = sign("msg_1", 1000, body);
        assert_eq!(
            c.verify(&headers("whu", "pw", "msg_1", 1000, &sig), body, 1010),
            Ok(())
        );
        let multi = format!("v1,AAAA {sig}");
        assert_eq!(
            c.verify(&headers("whu", "pw", "msg_1", 1000, &multi), body, 1000),
            Ok(())
        );
        let bad = [
            (
                headers("whu", "px", "msg_1", 1000, &sig),
                WebhookError::BadBasicAuth,
            ),
            (
                headers("wh", "pw", "msg_1", 1000, &sig),
                WebhookError::BadBasicAuth,
            ),
            (
                headers("whu", "pw", "msg_2", 1000, &sig),
                Wire::BadSignature.into(),
            ),
            (
                headers("whu", "pw", "msg_1", 1001, &sig),
                Wire::BadSignature.into(),
            ),
            (
                headers("whu", "pw", "msg_1", 1000, "v1,AAAA"),
                Wire::BadSignature.into(),
            ),
            (
                headers("whu", "pw", "msg_1", 600, &sig),
                Wire::StaleTimestamp.into(),
            ),
        ];
        for (h, want) in bad {
            assert_eq!(c.verify(&h, body, 1000), Err(want));
        }
        let tampered = br#"{"user":"mallory","challenge":"7KQ2-M9XD"}"#;
        let h = headers("whu", "pw", "msg_1", 1000, &sig);
        assert_eq!(c.verify(&h, tampered, 1000), Err(Wire::BadSignature.into()));
        let mut missing = h.clone();
        missing.remove(ID_HEADER);
        assert_eq!(
            c.verify(&missing, body, 1000),
            Err(Wire::MalformedHeaders.into())
        );
        let mut no_auth = h;
        no_auth.remove("authorization");
        assert_eq!(
            c.verify(&no_auth, body, 1000),
            Err(WebhookError::BadBasicAuth)
        );
    }

    #[test]
    fn malformed_secret_is_refused_at_start() {
        let r = WebhookCredentials::new(
            Secret::new("u"),
            Secret::new("p"),
            &Secret::new("whsec_not base64!"),
        );
        assert_eq!(r.err(), Some(Wire::MalformedSecret));
    }
}
