//! Standard Webhooks signing and verification (<https://www.standardwebhooks.com/>), the one
//! implementation used by the service (signing the trust webhook, docs/PROTOCOL.md §8), the demo
//! site and every test relying party (verifying it).
//!
//! The signed content is `"{webhook-id}.{webhook-timestamp}.{body}"`; the signature header is a
//! space-separated list of `v1,<base64 HMAC-SHA256>`; the secret is `whsec_` + base64 of the key
//! bytes (the prefix is optional on input, as in the reference libraries).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use zeroize::Zeroizing;

/// Prefix of webhook signing secrets.
pub const SECRET_PREFIX: &str = "whsec_";
/// Header carrying the message id.
pub const ID_HEADER: &str = "webhook-id";
/// Header carrying the Unix timestamp (seconds) of the attempt.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Header carrying the signatures.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// Largest accepted distance between `webhook-timestamp` and the receiver's clock.
pub const TIMESTAMP_TOLERANCE_SECONDS: i64 = 300;

/// Why a secret or a signed request was refused. Carries no secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The signing secret is not `whsec_` + base64 (or is empty).
    #[error("the webhook secret is not whsec_ followed by base64")]
    MalformedSecret,
    /// `webhook-id`, `webhook-timestamp` or `webhook-signature` is missing or malformed.
    #[error("missing or malformed webhook-id/-timestamp/-signature header")]
    MalformedHeaders,
    /// The timestamp is more than [`TIMESTAMP_TOLERANCE_SECONDS`] away from now.
    #[error("webhook timestamp more than {TIMESTAMP_TOLERANCE_SECONDS} s away")]
    StaleTimestamp,
    /// No `v1` signature matches.
    #[error("webhook signature does not verify")]
    BadSignature,
}

/// A webhook signing key. `Debug` is redacted; the bytes are zeroized on drop.
pub struct WebhookKey {
    key: hmac::Key,
}

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKey([redacted])")
    }
}

impl WebhookKey {
    /// Decodes a `whsec_<base64>` secret.
    pub fn from_secret(secret: &str) -> Result<Self, WebhookError> {
        let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
        let bytes = Zeroizing::new(
            STANDARD
                .decode(b64.trim())
                .map_err(|_| WebhookError::MalformedSecret)?,
        );
        if bytes.is_empty() {
            return Err(WebhookError::MalformedSecret);
        }
        Ok(Self::from_bytes(&bytes))
    }

    /// A key from raw bytes (what `whsec_` encodes).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        }
    }

    /// The `webhook-signature` header value for one message: `v1,<base64 tag>`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = hmac::sign(
            &self.key,
            &signed_content(msg_id, &timestamp.to_string(), body),
        );
        format!("v1,{}", STANDARD.encode(tag.as_ref()))
    }

    /// Verifies the three `webhook-*` header values of a request against its raw body, at `now`
    /// (Unix seconds). Tags are compared in constant time; any one matching `v1` tag passes.
    pub fn verify(
        &self,
        msg_id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), WebhookError> {
        if msg_id.is_empty() || signatures.is_empty() {
            return Err(WebhookError::MalformedHeaders);
        }
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| WebhookError::MalformedHeaders)?;
        if now.saturating_sub(ts).saturating_abs() > TIMESTAMP_TOLERANCE_SECONDS {
            return Err(WebhookError::StaleTimestamp);
        }
        let content = signed_content(msg_id, timestamp, body);
        let ok = signatures
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .filter_map(|b64| STANDARD.decode(b64).ok())
            .any(|tag| hmac::verify(&self.key, &content, &tag).is_ok());
        if ok {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }
}

fn signed_content(msg_id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(msg_id.len() + timestamp.len() + body.len() + 2);
    content.extend_from_slice(msg_id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

/// The `Authorization` header value for HTTP Basic (RFC 7617) with these credentials.
pub fn basic_authorization(username: &str, password: &str) -> Zeroizing<String> {
    let pair = Zeroizing::new(format!("{username}:{password}"));
    Zeroizing::new(format!("Basic {}", STANDARD.encode(pair.as_bytes())))
}

/// Whether an `Authorization` header value carries exactly these Basic credentials. Both parts
/// are compared in constant time and both are always compared, so timing does not tell which
/// one was wrong (lengths are not hidden).
pub fn basic_matches(authorization: &str, username: &[u8], password: &[u8]) -> bool {
    let Some(decoded) = authorization
        .strip_prefix("Basic ")
        .and_then(|b64| STANDARD.decode(b64.trim()).ok())
        .map(Zeroizing::new)
    else {
        return false;
    };
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return false;
    };
    let user_ok = ct_eq(&decoded[..colon], username);
    let pass_ok = ct_eq(&decoded[colon + 1..], password);
    user_ok & pass_ok
}

/// Constant-time equality of two byte strings (the length is not hidden).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example from the Standard Webhooks specification's reference test suite.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1614265330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_specification_example() {
        let key = WebhookKey::from_secret(SPEC_SECRET).expect("key");
        assert_eq!(key.sign(SPEC_ID, SPEC_TS, SPEC_BODY), SPEC_SIG);
    }

    #[test]
    fn verifies_and_refuses() {
        let key = WebhookKey::from_secret(SPEC_SECRET).expect("key");
        let ts = SPEC_TS.to_string();
        let ok = |sigs: &str, body: &[u8], now: i64| key.verify(SPEC_ID, &ts, sigs, body, now);
        assert_eq!(ok(SPEC_SIG, SPEC_BODY, SPEC_TS), Ok(()));
        assert_eq!(
            ok(&format!("v1,bm9wZQ== {SPEC_SIG}"), SPEC_BODY, SPEC_TS),
            Ok(())
        );
        assert_eq!(
            ok(SPEC_SIG, b"{}", SPEC_TS),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            ok("v2,abc", SPEC_BODY, SPEC_TS),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            ok(SPEC_SIG, SPEC_BODY, SPEC_TS + 301),
            Err(WebhookError::StaleTimestamp)
        );
        assert_eq!(
            ok(SPEC_SIG, SPEC_BODY, SPEC_TS - 301),
            Err(WebhookError::StaleTimestamp)
        );
        assert_eq!(
            ok("", SPEC_BODY, SPEC_TS),
            Err(WebhookError::MalformedHeaders)
        );
        assert_eq!(
            key.verify(SPEC_ID, "soon", SPEC_SIG, SPEC_BODY, SPEC_TS),
            Err(WebhookError::MalformedHeaders)
        );
        let other = WebhookKey::from_bytes(b"another key");
        assert_eq!(
            other.verify(SPEC_ID, &ts, SPEC_SIG, SPEC_BODY, SPEC_TS),
            Err(WebhookError::BadSignature)
        );
    }

    #[test]
    fn secrets_must_be_base64() {
        assert!(WebhookKey::from_secret("whsec_not base64!").is_err());
        assert!(WebhookKey::from_secret("whsec_").is_err());
        assert!(WebhookKey::from_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        let key = WebhookKey::from_secret(SPEC_SECRET).expect("key");
        assert_eq!(format!("{key:?}"), "WebhookKey([redacted])");
    }

    #[test]
    fn basic_auth_round_trip() {
        let header = basic_authorization("svc", "pa:ss");
        assert!(basic_matches(&header, b"svc", b"pa:ss"));
        assert!(!basic_matches(&header, b"svc", b"pa:sS"));
        assert!(!basic_matches(&header, b"svX", b"pa:ss"));
        assert!(!basic_matches("Bearer x", b"svc", b"pa:ss"));
        assert!(!basic_matches("Basic !!!", b"svc", b"pa:ss"));
        assert!(!basic_matches(
            &basic_authorization("", ""),
            b"svc",
            b"pa:ss"
        ));
        assert!(ct_eq(b"abc", b"abc") && !ct_eq(b"abc", b"abd") && !ct_eq(b"abc", b"ab"));
    }
}
