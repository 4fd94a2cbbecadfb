//! [`WebhookVerifier`]: what a site checks on the service's calls to it (docs/PROTOCOL.md §8,
//! §8a). The signature rules are `tapprove_protocol::webhook`'s; this adds the project's
//! credentials, the message id form of each kind of call, and the bodies' types.

use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::Deserialize;
use tapprove_protocol::challenge::Context;
use tapprove_protocol::webhook::{
    ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookError, WebhookKey, basic_matches,
};
use zeroize::Zeroizing;

/// Which call of the service's a request claims to be; each has its own `webhook-id` form, so a
/// signed message of one kind cannot be replayed as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    /// The trust webhook at pairing (`msg_…`), body [`TrustRequest`].
    Trust,
    /// A site event (`evt_…`), body [`SiteEvent`].
    Event,
}

impl WebhookKind {
    fn id_prefix(self) -> &'static str {
        match self {
            Self::Trust => "msg_",
            Self::Event => "evt_",
        }
    }
}

/// Why a call to the site was refused: answer it `401` (and log this; it carries no secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRejection {
    /// `Authorization: Basic` is missing or not the project's webhook credentials.
    #[error("missing or wrong HTTP Basic credentials")]
    BadBasicAuth,
    /// The Standard Webhooks headers are missing, stale, or do not verify.
    #[error(transparent)]
    Signature(#[from] WebhookError),
    /// The signed `webhook-id` is not of this kind of call (`msg_…` trust, `evt_…` events).
    #[error("webhook-id {0:?} is not of this kind of call")]
    WrongKind(String),
    /// Authentic, but the body is not this call's JSON.
    #[error("the body is not the expected JSON: {0}")]
    Body(String),
}

/// The trust webhook's body: the pairing to confirm. Answer `200` only if `challenge` is the
/// pairing code the site issued to `user` (compare in constant time,
/// `tapprove_protocol::webhook::ct_eq`); the body may name the user canonically.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TrustRequest {
    /// The user name the phone sent.
    pub user: String,
    /// The pairing code the phone's user typed.
    pub challenge: String,
}

/// A site event (docs/PROTOCOL.md §8a). Events of a type this build does not know are
/// [`SiteEvent::Unknown`]: answer them `2xx` too.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type")]
// One event per webhook call, matched by the site: not worth a Box in every pattern.
#[allow(clippy::large_enum_variant)]
pub enum SiteEvent {
    /// The user answered "not me": treat the password as known to an attacker.
    #[serde(rename = "user.fraud_reported")]
    FraudReported {
        /// The user.
        user: String,
        /// The login session the user reported.
        session: String,
        /// The login's `context.ip`.
        #[serde(default)]
        ip: Option<String>,
        /// The login's context as the site sent it.
        #[serde(default)]
        context: Option<Context>,
        /// When the push lock ends (Unix seconds).
        #[serde(default)]
        locked_until: Option<i64>,
    },
    /// A type this build does not know.
    #[serde(other)]
    Unknown,
}

/// A verified call: its `webhook-id` (deliveries of one event repeat it: ignore one seen
/// before) and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<T> {
    /// `webhook-id`.
    pub id: String,
    /// The body.
    pub body: T,
}

/// The project's webhook credentials (from `tapprove admin project create`), checking the
/// service's calls to the site. `Debug` is redacted.
pub struct WebhookVerifier {
    username: Zeroizing<String>,
    password: Zeroizing<String>,
    key: WebhookKey,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookVerifier([redacted])")
    }
}

impl WebhookVerifier {
    /// The Basic auth pair and the `whsec_` signing secret; fails on a malformed secret.
    pub fn new(username: &str, password: &str, secret: &str) -> Result<Self, WebhookError> {
        Ok(Self {
            username: Zeroizing::new(username.to_owned()),
            password: Zeroizing::new(password.to_owned()),
            key: WebhookKey::from_secret(secret)?,
        })
    }

    /// Checks Basic auth, the timestamp (within 300 s of `now`, Unix seconds), the signature
    /// over the raw `body`, and that the id is of `kind`. Returns the `webhook-id`.
    pub fn verify(
        &self,
        kind: WebhookKind,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<String, WebhookRejection> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        };
        if !basic_matches(
            header(AUTHORIZATION.as_str()),
            self.username.as_bytes(),
            self.password.as_bytes(),
        ) {
            return Err(WebhookRejection::BadBasicAuth);
        }
        let id = header(ID_HEADER);
        self.key.verify(
            id,
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            body,
            now,
        )?;
        if !id.starts_with(kind.id_prefix()) {
            return Err(WebhookRejection::WrongKind(id.to_owned()));
        }
        Ok(id.to_owned())
    }

    /// [`WebhookVerifier::verify`] as the trust webhook, then its body.
    pub fn verify_trust(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<Verified<TrustRequest>, WebhookRejection> {
        self.verified(WebhookKind::Trust, headers, body, now)
    }

    /// [`WebhookVerifier::verify`] as a site event, then its body.
    pub fn verify_event(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<Verified<SiteEvent>, WebhookRejection> {
        self.verified(WebhookKind::Event, headers, body, now)
    }

    fn verified<T: serde::de::DeserializeOwned>(
        &self,
        kind: WebhookKind,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<Verified<T>, WebhookRejection> {
        let id = self.verify(kind, headers, body, now)?;
        let body =
            serde_json::from_slice(body).map_err(|e| WebhookRejection::Body(e.to_string()))?;
        Ok(Verified { id, body })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use tapprove_protocol::webhook::basic_authorization;

    const SECRET: &str = "whsec_c2VjcmV0LWtleS1ieXRlcw==";

    fn headers(user: &str, pass: &str, id: &str, ts: i64, body: &[u8]) -> HeaderMap {
        let sig = WebhookKey::from_secret(SECRET).unwrap().sign(id, ts, body);
        let mut h = HeaderMap::new();
        let auth = basic_authorization(user, pass);
        h.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        h.insert(ID_HEADER, HeaderValue::from_str(id).unwrap());
        h.insert(TIMESTAMP_HEADER, HeaderValue::from(ts));
        h.insert(SIGNATURE_HEADER, HeaderValue::from_str(&sig).unwrap());
        h
    }

    #[test]
    fn trust_and_events_verify_with_their_own_id_form() {
        let v = WebhookVerifier::new("whu", "pw", SECRET).unwrap();
        let trust = br#"{"user":"alice","challenge":"7KQ2-M9XD"}"#;
        let ok = v.verify_trust(&headers("whu", "pw", "msg_1", 1000, trust), trust, 1010);
        assert_eq!(ok.unwrap().body.challenge, "7KQ2-M9XD");
        assert_eq!(
            v.verify_trust(&headers("whu", "px", "msg_1", 1000, trust), trust, 1010),
            Err(WebhookRejection::BadBasicAuth)
        );
        assert_eq!(
            v.verify_trust(&headers("whu", "pw", "msg_1", 1000, trust), trust, 2000),
            Err(WebhookRejection::Signature(WebhookError::StaleTimestamp))
        );
        // A genuine event replayed at the trust URL.
        assert_eq!(
            v.verify_trust(&headers("whu", "pw", "evt_1", 1000, trust), trust, 1000),
            Err(WebhookRejection::WrongKind("evt_1".into()))
        );
        let tampered = br#"{"user":"mallory","challenge":"7KQ2-M9XD"}"#;
        assert_eq!(
            v.verify_trust(&headers("whu", "pw", "msg_1", 1000, trust), tampered, 1000),
            Err(WebhookRejection::Signature(WebhookError::BadSignature))
        );

        let event = br#"{"type":"user.fraud_reported","user":"alice","session":"ses_1","ip":null,"context":{"app":"Bank"},"locked_until":5}"#;
        let got = v.verify_event(&headers("whu", "pw", "evt_9", 1000, event), event, 1000);
        let got = got.unwrap();
        assert_eq!(got.id, "evt_9");
        assert!(
            matches!(got.body, SiteEvent::FraudReported { ref user, locked_until: Some(5), .. } if user == "alice")
        );
        let future = br#"{"type":"user.something_new","x":1}"#;
        let got = v.verify_event(&headers("whu", "pw", "evt_2", 1000, future), future, 1000);
        assert_eq!(got.unwrap().body, SiteEvent::Unknown);
        assert!(!format!("{v:?}").contains("pw"));
    }
}
