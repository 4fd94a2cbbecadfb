//! Verifies the service's trust webhook: HTTP Basic auth and the Standard Webhooks signature
//! (docs/PROTOCOL.md §8). Every comparison of a secret is constant time.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;

use crate::secret::{Secret, ct_eq};

/// Largest accepted distance between the `webhook-timestamp` and our clock.
pub const MAX_SKEW_SECONDS: i64 = 300;

/// The credentials the service uses for this site's project.
#[derive(Debug, Clone)]
pub struct WebhookCredentials {
    /// Basic auth user name.
    pub username: Secret,
    /// Basic auth password.
    pub password: Secret,
    /// Standard Webhooks signing secret (`whsec_<base64>` or a raw string).
    pub secret: Secret,
}

/// Why a webhook call was refused (logged without secrets; answered with 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The `Authorization: Basic` header is missing or wrong.
    #[error("missing or wrong basic auth")]
    BadBasicAuth,
    /// A `webhook-*` header is missing or malformed.
    #[error("missing or malformed webhook-id/-timestamp/-signature header")]
    MissingHeaders,
    /// The timestamp is too far from now.
    #[error("webhook timestamp more than 300 s away")]
    StaleTimestamp,
    /// No signature matches.
    #[error("webhook signature does not verify")]
    BadSignature,
}

impl WebhookCredentials {
    /// The HMAC key: Standard Webhooks secrets are `whsec_` + base64 of the key bytes; any other
    /// form is used as raw bytes.
    fn hmac_key(&self) -> hmac::Key {
        let s = self.secret.expose();
        let bytes = s
            .strip_prefix("whsec_")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .unwrap_or_else(|| s.as_bytes().to_vec());
        hmac::Key::new(hmac::HMAC_SHA256, &bytes)
    }

    /// Checks Basic auth, timestamp and signature of one webhook request.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), WebhookError> {
        self.verify_basic(headers)?;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(id), Some(ts), Some(sigs)) = (
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        ) else {
            return Err(WebhookError::MissingHeaders);
        };
        let ts_num: i64 = ts
            .trim()
            .parse()
            .map_err(|_| WebhookError::MissingHeaders)?;
        if (now - ts_num).abs() > MAX_SKEW_SECONDS {
            return Err(WebhookError::StaleTimestamp);
        }
        let mut signed = Vec::with_capacity(id.len() + ts.len() + body.len() + 2);
        signed.extend_from_slice(id.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(ts.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(body);
        let key = self.hmac_key();
        let ok = sigs
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .filter_map(|b64| STANDARD.decode(b64).ok())
            .any(|tag| hmac::verify(&key, &signed, &tag).is_ok());
        if ok {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }

    fn verify_basic(&self, headers: &HeaderMap) -> Result<(), WebhookError> {
        let decoded = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b64| STANDARD.decode(b64.trim()).ok())
            .ok_or(WebhookError::BadBasicAuth)?;
        let decoded = zeroize::Zeroizing::new(decoded);
        let colon = decoded
            .iter()
            .position(|&b| b == b':')
            .ok_or(WebhookError::BadBasicAuth)?;
        let (user, pass) = (&decoded[..colon], &decoded[colon + 1..]);
        // Evaluate both comparisons so timing does not tell which one failed.
        let user_ok = self.username.ct_eq(user);
        let pass_ok = self.password.ct_eq(pass);
        if user_ok & pass_ok {
            Ok(())
        } else {
            Err(WebhookError::BadBasicAuth)
        }
    }
}

/// Signs like the service does (used by tests to build valid requests).
#[cfg(test)]
pub fn sign_for_test(secret: &Secret, id: &str, ts: i64, body: &[u8]) -> String {
    let creds = WebhookCredentials {
        username: Secret::new(""),
        password: Secret::new(""),
        secret: secret.clone(),
    };
    let mut msg = format!("{id}.{ts}.").into_bytes();
    msg.extend_from_slice(body);
    let tag = hmac::sign(&creds.hmac_key(), &msg);
    format!("v1,{}", STANDARD.encode(tag.as_ref()))
}

/// Constant-time check of a candidate against an expected digest (both SHA-256).
pub fn digest_eq(expected: &[u8], candidate: &[u8]) -> bool {
    ct_eq(expected, candidate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn creds(secret: &str) -> WebhookCredentials {
        WebhookCredentials {
            username: Secret::new("whu"),
            password: Secret::new("pw"),
            secret: Secret::new(secret),
        }
    }

    fn headers(basic: &str, id: &str, ts: i64, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let auth = format!("Basic {}", STANDARD.encode(basic));
        h.insert(
            "authorization",
            HeaderValue::from_str(&auth).expect("header"),
        );
        h.insert("webhook-id", HeaderValue::from_str(id).expect("header"));
        h.insert(
            "webhook-timestamp",
            HeaderValue::from_str(&ts.to_string()).expect("header"),
        );
        h.insert(
            "webhook-signature",
            HeaderValue::from_str(sig).expect("header"),
        );
        h
    }

    #[test]
    fn accepts_valid_and_refuses_every_broken_part() {
        for secret in ["whsec_c2VjcmV0LWtleS1ieXRlcw==", "plain-secret"] {
            let c = creds(secret);
            let body = br#"{"user":"alice","challenge":"7KQ2-M9XD"}"#;
            let sig = sign_for_test(&c.secret, "msg_1", 1000, body);
            assert_eq!(
                c.verify(&headers("whu:pw", "msg_1", 1000, &sig), body, 1010),
                Ok(())
            );
            // several signatures, one valid
            let multi = format!("v1,AAAA {sig}");
            assert_eq!(
                c.verify(&headers("whu:pw", "msg_1", 1000, &multi), body, 1000),
                Ok(())
            );
            let bad = [
                (
                    headers("whu:px", "msg_1", 1000, &sig),
                    WebhookError::BadBasicAuth,
                ),
                (
                    headers("wh:pw", "msg_1", 1000, &sig),
                    WebhookError::BadBasicAuth,
                ),
                (
                    headers("whu:pw", "msg_2", 1000, &sig),
                    WebhookError::BadSignature,
                ),
                (
                    headers("whu:pw", "msg_1", 1001, &sig),
                    WebhookError::BadSignature,
                ),
                (
                    headers("whu:pw", "msg_1", 1000, "v1,AAAA"),
                    WebhookError::BadSignature,
                ),
                (
                    headers("whu:pw", "msg_1", 600, &sig),
                    WebhookError::StaleTimestamp,
                ),
            ];
            for (h, want) in bad {
                assert_eq!(c.verify(&h, body, 1000), Err(want));
            }
            let tampered = br#"{"user":"mallory","challenge":"7KQ2-M9XD"}"#;
            let h = headers("whu:pw", "msg_1", 1000, &sig);
            assert_eq!(
                c.verify(&h, tampered, 1000),
                Err(WebhookError::BadSignature)
            );
            let mut missing = h.clone();
            missing.remove("webhook-id");
            assert_eq!(
                c.verify(&missing, body, 1000),
                Err(WebhookError::MissingHeaders)
            );
            let mut no_auth = h;
            no_auth.remove("authorization");
            assert_eq!(
                c.verify(&no_auth, body, 1000),
                Err(WebhookError::BadBasicAuth)
            );
        }
    }
}
