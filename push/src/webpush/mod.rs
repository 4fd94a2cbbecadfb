//! Web Push (RFC 8030) to UnifiedPush distributors: the `webpush` platform.
//!
//! Each push is encrypted for the device (RFC 8291, [`ece`]), carries a VAPID token for the
//! endpoint's origin (RFC 8292, [`vapid`]) and `TTL` (seconds until the session expires),
//! `Urgency: high` and `Topic` (the device's opaque collapse id, so a newer prompt replaces an
//! older one). The plaintext is the FCM data map (docs/PROTOCOL.md §11), sealed when the
//! device gave a push key, so the distributor sees neither user, IP nor place; the body stays
//! within 4096 bytes.
//!
//! The UnifiedPush server contract: 201/202 (any 2xx) delivered; 404/410 the subscription is
//! gone (the registration is dropped); 413 too big; 429 that endpoint alone waits for its
//! `Retry-After`; redirects are never followed. Endpoints must be `https` and reach only public
//! addresses unless the allow-list admits them ([`address`]).

mod address;
mod ece;
mod subscription;
mod vapid;

use std::collections::HashMap;
use std::error::Error as _;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use ring::rand::{SecureRandom as _, SystemRandom};
use tapprove_protocol::api::PushPlatform;

pub(crate) use address::{AddressPolicy, Cidr};
pub(crate) use subscription::Subscription;

use crate::http::{self, Protocol};
use crate::retry::{self, Attempt, Deadline, unix_now};
use crate::{
    PushConfigError, PushMessage, PushOutcome, PushSender, PushTarget, RetryConfig, WebPushConfig,
    payload,
};

/// Largest encrypted body sent (what every push service accepts).
pub(crate) const MAX_BODY_BYTES: usize = 4096;
/// Largest plaintext that fits [`MAX_BODY_BYTES`] once encrypted.
pub(crate) const MAX_PLAINTEXT_BYTES: usize = MAX_BODY_BYTES - ece::OVERHEAD;
/// Endpoints remembered as slowed down (429); endpoints come from devices, so bounded.
const MAX_PAUSED: usize = 4096;

/// Sends login prompts as Web Push messages. Build it with [`crate::PushConfig`].
pub struct WebPushSender {
    client: reqwest::Client,
    vapid: vapid::Vapid,
    policy: AddressPolicy,
    retry: RetryConfig,
    /// Endpoint → when it may be pushed again (its last 429's `Retry-After`).
    paused: Mutex<HashMap<String, tokio::time::Instant>>,
    rng: SystemRandom,
}

impl fmt::Debug for WebPushSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebPushSender")
            .field("vapid_public_key", &self.vapid.public_key())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl crate::Provider for WebPushSender {
    const PLATFORM: PushPlatform = PushPlatform::Webpush;
    type Config = WebPushConfig;

    fn from_config(
        config: &WebPushConfig,
        roots: Arc<rustls::RootCertStore>,
        retry: RetryConfig,
    ) -> Result<Self, PushConfigError> {
        let vapid = vapid::Vapid::load(&config.vapid_key_path, &config.subject)?;
        let policy = config.policy()?;
        let resolver = Arc::new(CheckedResolver {
            policy: policy.clone(),
        });
        let client = http::client_with_resolver(roots, Protocol::Negotiate, resolver)?;
        Ok(Self {
            client,
            vapid,
            policy,
            retry,
            paused: Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
        })
    }
}

impl WebPushConfig {
    /// The address rule these settings make.
    pub(crate) fn policy(&self) -> Result<AddressPolicy, PushConfigError> {
        let allow = self
            .allow_addresses
            .iter()
            .map(|entry| Cidr::parse(entry))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|problem| PushConfigError::Invalid {
                field: "push.webpush.allow_addresses",
                problem,
            })?;
        Ok(AddressPolicy::new(allow))
    }
}

impl PushSender for WebPushSender {
    fn send<'a>(
        &'a self,
        target: &'a PushTarget,
        message: &'a PushMessage,
    ) -> BoxFuture<'a, PushOutcome> {
        Box::pin(async move {
            let subscription = Subscription::read(&target.token, &self.policy);
            let bad_token = subscription
                .as_ref()
                .err()
                .map(|_| "the registered webpush subscription is not usable");
            retry::push_one(
                "webpush",
                target,
                message,
                bad_token,
                |m| self.seal(subscription.as_ref().ok(), m),
                |(subscription, body), deadline| {
                    self.deliver(subscription, body, message, deadline)
                },
            )
            .await
        })
    }

    fn check_registration(&self, platform: PushPlatform, token: &str) -> Result<(), String> {
        check(platform, token, &self.policy)
    }

    fn vapid_public_key(&self) -> Option<String> {
        Some(self.vapid.public_key().to_owned())
    }
}

/// The registration rule for `webpush` tokens under `policy` (other platforms: nothing here).
pub(crate) fn check(
    platform: PushPlatform,
    token: &str,
    policy: &AddressPolicy,
) -> Result<(), String> {
    if platform != PushPlatform::Webpush {
        return Ok(());
    }
    Subscription::parse(token, policy)
        .map(drop)
        .map_err(|e| e.to_string())
}

impl WebPushSender {
    /// The encrypted body for this message (made once; the retries resend the same bytes).
    fn seal<'s>(
        &self,
        subscription: Option<&'s Subscription>,
        message: &PushMessage,
    ) -> Result<(&'s Subscription, Vec<u8>), String> {
        let subscription = subscription.ok_or("the subscription is not usable")?;
        let plaintext = payload::webpush(message, MAX_PLAINTEXT_BYTES)?;
        let mut salt = [0u8; ece::SALT_LEN];
        self.rng
            .fill(&mut salt)
            .map_err(|_| "no randomness for the Web Push salt".to_owned())?;
        let body = ece::encrypt(
            &plaintext,
            &subscription.p256dh,
            &subscription.auth,
            &salt,
            &self.rng,
        )
        .map_err(|e| e.to_string())?;
        Ok((subscription, body))
    }

    async fn deliver(
        &self,
        subscription: &Subscription,
        body: Vec<u8>,
        message: &PushMessage,
        deadline: Deadline,
    ) -> PushOutcome {
        let endpoint = subscription.endpoint.as_str();
        let origin = subscription.origin();
        retry::deliver(&self.retry, deadline, |timeout| {
            let body = body.clone();
            let origin = origin.as_str();
            async move {
                if let Some(wait) = self.paused_for(endpoint) {
                    if wait >= deadline.remaining() {
                        return Attempt::Done(PushOutcome::Failed {
                            reason: "webpush: the endpoint asked to slow down (429) until after \
                                     the session expires"
                                .into(),
                        });
                    }
                    tokio::time::sleep(wait).await;
                }
                self.attempt(endpoint, origin, body, message, timeout).await
            }
        })
        .await
    }

    async fn attempt(
        &self,
        endpoint: &str,
        origin: &str,
        body: Vec<u8>,
        message: &PushMessage,
        timeout: Duration,
    ) -> Attempt {
        let now = unix_now();
        let authorization = match self.vapid.authorization(origin, now) {
            Ok(value) => value,
            Err(reason) => return Attempt::Done(PushOutcome::Failed { reason }),
        };
        let ttl = (message.expires_at - now).max(0);
        let mut request = self
            .client
            .post(endpoint)
            .timeout(timeout)
            .header(AUTHORIZATION, authorization)
            .header("ttl", ttl)
            .header("urgency", "high")
            .header(CONTENT_ENCODING, "aes128gcm")
            .header(CONTENT_TYPE, "application/octet-stream");
        // Topic: at most 32 characters of the URL-safe base64 alphabet (RFC 8030 §5.4).
        if let Ok(topic) = HeaderValue::from_str(&message.collapse_id)
            && message.collapse_id.len() <= 32
        {
            request = request.header("topic", topic);
        }
        let response = match request.body(body).send().await {
            Ok(response) => response,
            Err(e) => return transport(e),
        };
        let status = response.status().as_u16();
        let after = retry::retry_after(response.headers());
        self.classify(endpoint, status, after)
    }

    fn classify(&self, endpoint: &str, status: u16, after: Option<Duration>) -> Attempt {
        let failed = |reason: String| Attempt::Done(PushOutcome::Failed { reason });
        match status {
            200..=299 => Attempt::Done(PushOutcome::Delivered),
            300..=399 => failed(format!(
                "webpush: the endpoint answered {status} (a redirect); redirects are not followed"
            )),
            404 | 410 => Attempt::Done(PushOutcome::DeadToken {
                reason: format!("webpush: {status}: the subscription is gone"),
            }),
            413 => failed("webpush: 413: the push service refused the message as too large".into()),
            429 => {
                let wait = after.unwrap_or_else(|| self.retry.backoff(1));
                self.pause(endpoint, wait);
                Attempt::Retry {
                    reason: "webpush: 429: the endpoint asked to slow down".into(),
                    after: Some(wait),
                }
            }
            401 | 403 => {
                tracing::error!(
                    status,
                    "webpush: the push service refused the VAPID token: check \
                     push.webpush.vapid_key_path and push.webpush.subject (after a key change, \
                     apps must register again with the new public key)"
                );
                failed(format!("webpush: {status}: the VAPID token was refused"))
            }
            500..=599 => Attempt::Retry {
                reason: format!("webpush: {status}"),
                after,
            },
            _ => failed(format!("webpush: {status}")),
        }
    }

    /// How long `endpoint` still has to wait after a 429, if at all.
    fn paused_for(&self, endpoint: &str) -> Option<Duration> {
        let paused = self.paused.lock().unwrap_or_else(PoisonError::into_inner);
        let until = *paused.get(endpoint)?;
        let wait = until.saturating_duration_since(tokio::time::Instant::now());
        (!wait.is_zero()).then_some(wait)
    }

    fn pause(&self, endpoint: &str, wait: Duration) {
        let now = tokio::time::Instant::now();
        let mut paused = self.paused.lock().unwrap_or_else(PoisonError::into_inner);
        if paused.len() >= MAX_PAUSED {
            paused.retain(|_, until| *until > now);
        }
        if paused.len() < MAX_PAUSED {
            paused.insert(endpoint.to_owned(), now + wait);
        }
    }
}

/// A transport failure: a refused address is final, anything else is retried.
fn transport(e: reqwest::Error) -> Attempt {
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<RefusedAddress>() {
            return Attempt::Done(PushOutcome::Failed {
                reason: format!("webpush: {refused}"),
            });
        }
        source = cause.source();
    }
    Attempt::Retry {
        reason: retry::transport_reason("webpush", e),
        after: None,
    }
}

/// The endpoint's name resolved only to addresses the policy refuses.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct RefusedAddress(String);

/// Resolves endpoint names and keeps only the addresses the policy permits: the connection is
/// made to exactly the addresses checked.
struct CheckedResolver {
    policy: AddressPolicy,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let kept = policy.filter(&host, addrs).map_err(|why| {
                Box::new(RefusedAddress(why)) as Box<dyn std::error::Error + Send + Sync>
            })?;
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a push to `url` through the sender's client comes to under `policy`.
    async fn attempt_through(policy: AddressPolicy, url: &str) -> Attempt {
        let roots = Arc::new(rustls::RootCertStore::empty());
        let resolver = Arc::new(CheckedResolver { policy });
        let client =
            http::client_with_resolver(roots, Protocol::Negotiate, resolver).expect("client");
        match client.post(url).send().await {
            Ok(r) => panic!("unexpected answer {}", r.status()),
            Err(e) => transport(e),
        }
    }

    /// DNS rebinding: a name is checked on the addresses it resolves to when the push is sent,
    /// and the connection uses only those.
    #[tokio::test]
    async fn a_name_resolving_to_a_refused_address_is_never_connected() {
        let refused = attempt_through(AddressPolicy::default(), "https://localhost:1/push").await;
        assert!(
            matches!(&refused, Attempt::Done(PushOutcome::Failed { reason }) if reason.contains("loopback")),
            "{refused:?}"
        );
        let loopback = AddressPolicy::new(vec![Cidr::parse("127.0.0.0/8").expect("cidr")]);
        let allowed = attempt_through(loopback, "https://localhost:1/push").await;
        // Admitted: it gets as far as connecting (nothing listens on port 1), which is retried.
        assert!(
            matches!(&allowed, Attempt::Retry { reason, .. } if reason.contains("connect")),
            "{allowed:?}"
        );
    }

    #[test]
    fn statuses_map_to_the_unifiedpush_contract() {
        let dir = tempfile::tempdir().expect("dir");
        let key = tapprove_protocol::SoftwareKey::generate().expect("key");
        let path = dir.path().join("v.pem");
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                key.secret_pkcs8_der()
            )
        );
        std::fs::write(&path, pem).expect("write");
        let config = WebPushConfig {
            vapid_key_path: path,
            subject: "mailto:a@example.com".into(),
            allow_addresses: vec![],
        };
        let roots = Arc::new(rustls::RootCertStore::empty());
        let sender =
            <WebPushSender as crate::Provider>::from_config(&config, roots, RetryConfig::default())
                .expect("sender");
        let done = |a: Attempt| match a {
            Attempt::Done(o) => o,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            done(sender.classify("e", 201, None)),
            PushOutcome::Delivered
        );
        assert_eq!(
            done(sender.classify("e", 202, None)),
            PushOutcome::Delivered
        );
        assert!(matches!(
            done(sender.classify("e", 404, None)),
            PushOutcome::DeadToken { .. }
        ));
        assert!(matches!(
            done(sender.classify("e", 410, None)),
            PushOutcome::DeadToken { .. }
        ));
        assert!(matches!(
            done(sender.classify("e", 413, None)),
            PushOutcome::Failed { .. }
        ));
        assert!(matches!(
            done(sender.classify("e", 301, None)),
            PushOutcome::Failed { .. }
        ));
        assert!(matches!(
            done(sender.classify("e", 400, None)),
            PushOutcome::Failed { .. }
        ));
        assert!(matches!(
            sender.classify("e", 503, None),
            Attempt::Retry { .. }
        ));
        let Attempt::Retry { after, .. } = sender.classify("e", 429, Some(Duration::from_secs(7)))
        else {
            panic!("429 is retried");
        };
        assert_eq!(after, Some(Duration::from_secs(7)));
        assert!(
            sender
                .paused_for("e")
                .is_some_and(|d| d > Duration::from_secs(6))
        );
        assert!(sender.paused_for("other").is_none());
    }
}
