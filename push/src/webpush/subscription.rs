//! A device's Web Push subscription, as it registers it: the `token` of a `webpush`
//! registration is `{"endpoint":"https://…","keys":{"p256dh":"…","auth":"…"}}` (the shape of
//! `PushSubscription.toJSON()` and of what every Web Push library reads). These bytes come
//! from the device: everything is bounded and checked before use.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde::Deserialize;
use url::{Host, Url};

use super::address::AddressPolicy;
use super::ece::{AUTH_LEN, PUBLIC_KEY_LEN, is_valid_public_key};

/// Longest endpoint URL accepted (distributors' are well under 500 characters).
pub(crate) const MAX_ENDPOINT_LEN: usize = 2048;

/// A checked subscription.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Subscription {
    /// The push resource (`https` only).
    pub(crate) endpoint: Url,
    /// The device's ECDH public key (uncompressed P-256).
    pub(crate) p256dh: [u8; PUBLIC_KEY_LEN],
    /// The authentication secret.
    pub(crate) auth: [u8; AUTH_LEN],
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The endpoint is a capability (whoever knows it can push to the device): its origin only.
        f.debug_struct("Subscription")
            .field("origin", &self.endpoint.origin().ascii_serialization())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    #[serde(borrow)]
    endpoint: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    keys: WireKeys<'a>,
    // `PushSubscription.toJSON()` carries this member; accepted and ignored.
    #[serde(default, rename = "expirationTime")]
    _expiration_time: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireKeys<'a> {
    #[serde(borrow)]
    p256dh: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    auth: std::borrow::Cow<'a, str>,
}

/// Why a subscription is refused; the message is shown to the device's developer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the webpush subscription is not usable: {0}")]
pub(crate) struct SubscriptionError(pub String);

fn bad(why: impl Into<String>) -> SubscriptionError {
    SubscriptionError(why.into())
}

/// base64url with or without padding (browsers and connectors differ).
fn key_bytes<const N: usize>(name: &str, text: &str) -> Result<[u8; N], SubscriptionError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .map_err(|_| bad(format!("keys.{name} is not base64url")))?;
    bytes
        .try_into()
        .map_err(|_| bad(format!("keys.{name} must be {N} bytes")))
}

impl Subscription {
    /// Reads a registration token and checks it under `policy` (the endpoint's scheme, form
    /// and, for a literal address or a `localhost` name, the address rule; the keys' lengths
    /// and that `p256dh` is a P-256 point).
    pub(crate) fn parse(token: &str, policy: &AddressPolicy) -> Result<Self, SubscriptionError> {
        Self::read_checked(token, policy, true)
    }

    /// [`Self::parse`] without the point check, at send time: the registration checked it, and
    /// the encryption's own ECDH refuses a bad point anyway (one ECDH per push, not two).
    pub(crate) fn read(token: &str, policy: &AddressPolicy) -> Result<Self, SubscriptionError> {
        Self::read_checked(token, policy, false)
    }

    fn read_checked(
        token: &str,
        policy: &AddressPolicy,
        check_point: bool,
    ) -> Result<Self, SubscriptionError> {
        if token.len() > MAX_ENDPOINT_LEN + 512 {
            return Err(bad("it is too long"));
        }
        let wire: Wire<'_> = serde_json::from_str(token).map_err(|e| {
            bad(format!(
                "expected {{\"endpoint\":\"https://…\",\"keys\":{{\"p256dh\":\"…\",\"auth\":\"…\"}}}} ({e})"
            ))
        })?;
        let endpoint = Self::endpoint(&wire.endpoint, policy)?;
        let p256dh: [u8; PUBLIC_KEY_LEN] = key_bytes("p256dh", &wire.keys.p256dh)?;
        let auth: [u8; AUTH_LEN] = key_bytes("auth", &wire.keys.auth)?;
        if check_point && !is_valid_public_key(&p256dh, &ring::rand::SystemRandom::new()) {
            return Err(bad("keys.p256dh is not an uncompressed P-256 public key"));
        }
        Ok(Self {
            endpoint,
            p256dh,
            auth,
        })
    }

    fn endpoint(text: &str, policy: &AddressPolicy) -> Result<Url, SubscriptionError> {
        if text.len() > MAX_ENDPOINT_LEN {
            return Err(bad(format!(
                "the endpoint is longer than {MAX_ENDPOINT_LEN} characters"
            )));
        }
        let url = Url::parse(text).map_err(|e| bad(format!("the endpoint is not a URL ({e})")))?;
        if url.scheme() != "https" {
            return Err(bad("the endpoint must be an https:// URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("the endpoint must not carry credentials"));
        }
        if url.fragment().is_some() {
            return Err(bad("the endpoint must not have a #fragment"));
        }
        check_host(&url, policy).map_err(bad)?;
        Ok(url)
    }

    /// The endpoint's origin (`https://host[:port]`): the VAPID `aud`.
    pub(crate) fn origin(&self) -> String {
        self.endpoint.origin().ascii_serialization()
    }
}

/// The address rule for what the URL itself says: a literal address, or a loopback name.
pub(crate) fn check_host(url: &Url, policy: &AddressPolicy) -> Result<(), String> {
    match url.host() {
        Some(Host::Ipv4(a)) => policy.check(IpAddr::V4(a)),
        Some(Host::Ipv6(a)) => policy.check(IpAddr::V6(a)),
        Some(Host::Domain(name)) => policy.check_name(name),
        None => Err("the endpoint has no host".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::address::Cidr;
    use super::*;

    const P256DH: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

    fn token(endpoint: &str) -> String {
        serde_json::json!({"endpoint": endpoint, "keys": {"p256dh": P256DH, "auth": AUTH}})
            .to_string()
    }

    #[test]
    fn a_distributor_subscription_is_read() {
        let s = Subscription::parse(
            &token("https://ntfy.sh/upAbC123?up=1"),
            &AddressPolicy::default(),
        )
        .expect("valid");
        assert_eq!(s.origin(), "https://ntfy.sh");
        assert_eq!(s.auth.len(), 16);
        assert!(!format!("{s:?}").contains("upAbC123"));
        // Padded base64url and `expirationTime` (what browsers send) are accepted.
        let padded = serde_json::json!({"endpoint": "https://push.example:8443/x",
            "expirationTime": null, "keys": {"p256dh": format!("{P256DH}="), "auth": format!("{AUTH}==")}});
        let s =
            Subscription::parse(&padded.to_string(), &AddressPolicy::default()).expect("padded");
        assert_eq!(s.origin(), "https://push.example:8443");
    }

    #[test]
    fn unusable_subscriptions_say_why() {
        let strict = AddressPolicy::default();
        let why = |t: &str| Subscription::parse(t, &strict).expect_err("refused").0;
        assert!(why(&token("http://ntfy.sh/x")).contains("https"));
        assert!(why(&token("https://user:pw@ntfy.sh/x")).contains("credentials"));
        assert!(why(&token("https://127.0.0.1:8443/x")).contains("loopback"));
        assert!(why(&token("https://[::1]/x")).contains("loopback"));
        assert!(why(&token("https://192.168.1.2/x")).contains("private"));
        assert!(why(&token("https://169.254.169.254/latest")).contains("link-local"));
        assert!(why(&token("https://localhost/x")).contains("loopback"));
        assert!(why(&token(&format!("https://a.example/{}", "x".repeat(2100)))).contains("long"));
        assert!(why("not json").contains("expected"));
        assert!(
            why(r#"{"endpoint":"https://a.example/","keys":{"p256dh":"AAAA","auth":"x"}}"#)
                .contains("65 bytes")
        );
        let mut not_on_curve = vec![4u8];
        not_on_curve.extend([1u8; 64]);
        let t = serde_json::json!({"endpoint": "https://a.example/", "keys": {
            "p256dh": URL_SAFE_NO_PAD.encode(&not_on_curve), "auth": AUTH}});
        assert!(why(&t.to_string()).contains("P-256"));
        let allowed = AddressPolicy::new(vec![Cidr::parse("127.0.0.0/8").expect("cidr")]);
        assert!(Subscription::parse(&token("https://127.0.0.1:8443/x"), &allowed).is_ok());
    }
}
