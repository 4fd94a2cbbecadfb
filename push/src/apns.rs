//! APNs over HTTP/2 with token-based (`.p8`) authentication.
//!
//! One pooled HTTP/2 client (one connection per APNs host, streams multiplexed within the
//! server's `SETTINGS_MAX_CONCURRENT_STREAMS`); one cached ES256 provider token per sender,
//! re-minted after `token_refresh_secs` (20–55 min) or once when APNs says it expired.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use futures_util::future::BoxFuture;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use ring::rand::{SecureRandom as _, SystemRandom};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject as _;
use serde::Deserialize;
use tapprove_protocol::SoftwareKey;
use tapprove_protocol::api::PushEnvironment;

use crate::config::{base_string, check_apple_id, parse_url, read_file};
use crate::http::{self, Protocol};
use crate::jwt::{ApnsClaims, apns_provider_token};
use crate::retry::{self, Attempt, Deadline, unix_now};
use secrecy::ExposeSecret as _;

use crate::secret::Bearer;
use crate::{
    ApnsConfig, PushConfigError, PushMessage, PushOutcome, PushSender, PushTarget, RetryConfig,
    payload,
};

const PRODUCTION_HOST: &str = "https://api.push.apple.com";
const SANDBOX_HOST: &str = "https://api.sandbox.push.apple.com";
/// Default provider-token lifetime before re-minting: 50 minutes.
const DEFAULT_REFRESH_SECS: u64 = 3000;
/// `apns-collapse-id` may be at most 64 bytes.
const MAX_COLLAPSE_ID: usize = 64;

/// Sends login prompts to iOS devices through APNs. Build it with [`crate::PushConfig`].
pub struct ApnsSender {
    client: reqwest::Client,
    production: String,
    sandbox: String,
    default_environment: PushEnvironment,
    topic: HeaderValue,
    tokens: ProviderTokens,
    retry: RetryConfig,
}

impl fmt::Debug for ApnsSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApnsSender")
            .field("production", &self.production)
            .field("sandbox", &self.sandbox)
            .field("topic", &self.topic)
            .field("key_id", &self.tokens.key_id)
            .field("team_id", &self.tokens.team_id)
            .finish_non_exhaustive()
    }
}

impl crate::Provider for ApnsSender {
    const PLATFORM: tapprove_protocol::api::PushPlatform =
        tapprove_protocol::api::PushPlatform::Apns;
    type Config = ApnsConfig;

    fn from_config(
        config: &ApnsConfig,
        roots: std::sync::Arc<rustls::RootCertStore>,
        retry: RetryConfig,
    ) -> Result<Self, PushConfigError> {
        check_apple_id("push.apns.key_id", &config.key_id, "Key ID")?;
        check_apple_id("push.apns.team_id", &config.team_id, "Team ID")?;
        if let Some(stem) = config.key_path.file_stem().and_then(|s| s.to_str())
            && let Some(file_key_id) = stem.strip_prefix("AuthKey_")
            && file_key_id.len() == 10
            && file_key_id != config.key_id
        {
            return Err(PushConfigError::Invalid {
                field: "push.apns.key_id",
                problem: format!(
                    "is {:?} but the key file is named for key {file_key_id:?}: use the Key ID of that key",
                    config.key_id
                ),
            });
        }
        let topic = config.topic.trim();
        if topic.is_empty()
            || topic.len() > 255
            || !topic.bytes().all(|b| b.is_ascii_graphic())
            || topic != config.topic
        {
            return Err(PushConfigError::Invalid {
                field: "push.apns.topic",
                problem: "must be the app's bundle id (e.g. com.example.bank), without spaces"
                    .into(),
            });
        }
        let topic = HeaderValue::from_str(topic).map_err(|_| PushConfigError::Invalid {
            field: "push.apns.topic",
            problem: "must be the app's bundle id (e.g. com.example.bank)".into(),
        })?;
        let refresh_secs = config.token_refresh_secs.unwrap_or(DEFAULT_REFRESH_SECS);
        if !(1200..=3300).contains(&refresh_secs) {
            return Err(PushConfigError::Invalid {
                field: "push.apns.token_refresh_secs",
                problem: "must be between 1200 (Apple refuses more frequent updates) and 3300 \
                          (tokens older than 3600 s are refused)"
                    .into(),
            });
        }
        let key = load_p8(&config.key_path)?;
        let (production, sandbox) = match &config.host {
            Some(host) => {
                let base = base_string(&parse_url("push.apns.host", host, true)?);
                (base.clone(), base)
            }
            None => (PRODUCTION_HOST.to_owned(), SANDBOX_HOST.to_owned()),
        };
        Ok(Self {
            client: http::client(roots, Protocol::Http2Only)?,
            production,
            sandbox,
            default_environment: config.default_environment(),
            topic,
            tokens: ProviderTokens::new(
                key,
                config.key_id.clone(),
                config.team_id.clone(),
                refresh_secs,
            ),
            retry,
        })
    }
}

impl ApnsSender {
    fn base_for(&self, environment: Option<PushEnvironment>) -> &str {
        match environment.unwrap_or(self.default_environment) {
            PushEnvironment::Production => &self.production,
            PushEnvironment::Sandbox => &self.sandbox,
        }
    }

    async fn deliver(&self, target: &PushTarget, message: &PushMessage) -> PushOutcome {
        let bad_token = (!is_apns_token(&target.token))
            .then_some("BadDeviceToken: not a hexadecimal APNs device token");
        retry::push_one(
            "APNs",
            target,
            message,
            bad_token,
            payload::apns,
            |body, deadline| self.attempts(target, message, body, deadline),
        )
        .await
    }

    /// The attempts of one push within `deadline`.
    async fn attempts(
        &self,
        target: &PushTarget,
        message: &PushMessage,
        body: Vec<u8>,
        deadline: Deadline,
    ) -> PushOutcome {
        let url = format!(
            "{}/3/device/{}",
            self.base_for(target.environment),
            target.token
        );
        let apns_id = new_apns_id();
        let expiration = HeaderValue::from(message.expires_at);
        let collapse_id = (message.collapse_id.len() <= MAX_COLLAPSE_ID)
            .then(|| HeaderValue::from_str(&message.collapse_id).ok())
            .flatten();
        retry::deliver(&self.retry, deadline, |timeout| {
            let request = Request {
                url: &url,
                body: &body,
                apns_id: &apns_id,
                expiration: &expiration,
                collapse_id: collapse_id.as_ref(),
            };
            self.attempt(request, target.registered_at, timeout)
        })
        .await
    }

    async fn attempt(
        &self,
        request: Request<'_>,
        registered_at: i64,
        timeout: std::time::Duration,
    ) -> Attempt {
        let (bearer, generation) = match self.tokens.current(unix_now()) {
            Ok(token) => token,
            Err(e) => {
                return Attempt::Done(PushOutcome::Failed {
                    reason: format!("could not sign the APNs provider token: {e}"),
                });
            }
        };
        let mut builder = self
            .client
            .post(request.url)
            .timeout(timeout)
            .header(AUTHORIZATION, bearer.header())
            .header("apns-topic", self.topic.clone())
            .header("apns-push-type", HeaderValue::from_static("alert"))
            .header("apns-priority", HeaderValue::from_static("10"))
            .header("apns-expiration", request.expiration.clone())
            .header("apns-id", request.apns_id.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(request.body.to_vec());
        if let Some(collapse_id) = request.collapse_id {
            builder = builder.header("apns-collapse-id", collapse_id.clone());
        }
        let verdict = retry::read_response(
            "APNs",
            builder.send().await,
            |status, error: ApnsError, after| classify(status, &error, registered_at, after),
        )
        .await;
        if let Attempt::AuthExpired { .. } = verdict {
            self.tokens.invalidate(generation);
        }
        verdict
    }
}

struct Request<'a> {
    url: &'a str,
    body: &'a [u8],
    apns_id: &'a HeaderValue,
    expiration: &'a HeaderValue,
    collapse_id: Option<&'a HeaderValue>,
}

impl PushSender for ApnsSender {
    fn send<'a>(
        &'a self,
        target: &'a PushTarget,
        message: &'a PushMessage,
    ) -> BoxFuture<'a, PushOutcome> {
        Box::pin(self.deliver(target, message))
    }
}

/// APNs error body: `{"reason": "...", "timestamp": <ms>}` (timestamp only with 410).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ApnsError {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    timestamp: Option<i64>,
}

/// Maps an APNs error answer to what to do, as Apple documents it.
fn classify(
    status: u16,
    error: &ApnsError,
    registered_at: i64,
    after: Option<std::time::Duration>,
) -> Attempt {
    let reason = error
        .reason
        .clone()
        .unwrap_or_else(|| format!("HTTP {status}"));
    let fail = |text: String| Attempt::Done(PushOutcome::Failed { reason: text });
    match (status, reason.as_str()) {
        (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => {
            Attempt::Done(PushOutcome::DeadToken { reason })
        }
        (410, _) => match error.timestamp {
            // Apple's timestamp is in milliseconds: the token is dead only if it was not
            // registered (again) after APNs saw it become invalid.
            Some(ms) if ms / 1000 < registered_at => fail(format!(
                "APNs {reason} at {ms} ms, but the token was registered after that; keeping it"
            )),
            _ => Attempt::Done(PushOutcome::DeadToken { reason }),
        },
        (403, "ExpiredProviderToken") => Attempt::AuthExpired {
            reason: format!("APNs {reason}"),
        },
        (403, "InvalidProviderToken" | "MissingProviderToken")
        | (429, "TooManyProviderTokenUpdates") => {
            tracing::error!(%reason, "APNs refused the provider token: check push.apns.key_path, key_id and team_id");
            fail(format!(
                "APNs {reason}: configuration error, check push.apns.key_path, key_id and team_id"
            ))
        }
        (429, _) | (500..=599, _) => Attempt::Retry {
            reason: format!("APNs {status} {reason}"),
            after,
        },
        _ => fail(format!("APNs {status} {reason}")),
    }
}

/// APNs device tokens are hexadecimal (32 bytes today; Apple reserves the right to change the
/// length). Anything else could never be delivered, and must never reach the URL path.
fn is_apns_token(token: &str) -> bool {
    (16..=400).contains(&token.len())
        && token.len().is_multiple_of(2)
        && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A random UUID (v4) for `apns-id`, reused across the retries of one push.
fn new_apns_id() -> HeaderValue {
    let mut b = [0u8; 16];
    // SystemRandom only fails if the OS has no entropy source; a fixed id is then harmless.
    let _ = SystemRandom::new().fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    HeaderValue::from_str(&uuid)
        .unwrap_or_else(|_| HeaderValue::from_static("00000000-0000-4000-8000-000000000000"))
}

/// Loads the `.p8` file: PKCS#8 PEM holding a P-256 key.
fn load_p8(path: &std::path::Path) -> Result<SoftwareKey, PushConfigError> {
    let bad = |detail: String| PushConfigError::BadApnsKey {
        path: path.to_owned(),
        detail,
    };
    let pem = read_file("APNs key", "push.apns.key_path", path)?;
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.expose_secret()).map_err(|e| {
        let text = String::from_utf8_lossy(pem.expose_secret());
        if text.contains("BEGIN EC PRIVATE KEY") {
            bad(
                "it is a SEC1 `EC PRIVATE KEY`; convert it with `openssl pkcs8 -topk8 -nocrypt`"
                    .into(),
            )
        } else {
            bad(format!("no `-----BEGIN PRIVATE KEY-----` block ({e})"))
        }
    })?;
    SoftwareKey::from_pkcs8(der.secret_pkcs8_der()).map_err(|_| {
        bad("the PRIVATE KEY block is not a P-256 (ES256) key with its public key".into())
    })
}

/// The cached provider token.
struct ProviderTokens {
    key: SoftwareKey,
    key_id: String,
    team_id: String,
    refresh_secs: i64,
    state: Mutex<TokenState>,
}

#[derive(Default)]
struct TokenState {
    current: Option<Issued>,
    generation: u64,
}

struct Issued {
    bearer: Bearer,
    iat: i64,
    generation: u64,
}

impl ProviderTokens {
    fn new(key: SoftwareKey, key_id: String, team_id: String, refresh_secs: u64) -> Self {
        let refresh_secs = i64::try_from(refresh_secs).unwrap_or(i64::MAX);
        Self {
            key,
            key_id,
            team_id,
            refresh_secs,
            state: Mutex::new(TokenState::default()),
        }
    }

    /// The token to use at `now` (Unix seconds) and its generation, minting one if there is none,
    /// it is `refresh_secs` old, or the clock went back before its `iat`.
    fn current(&self, now: i64) -> Result<(Bearer, u64), String> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(issued) = &state.current
            && now >= issued.iat
            && now - issued.iat < self.refresh_secs
        {
            return Ok((issued.bearer.clone(), issued.generation));
        }
        let jwt = apns_provider_token(
            &self.key_id,
            &ApnsClaims {
                iss: &self.team_id,
                iat: now,
            },
            &self.key,
        )?;
        let bearer = Bearer::new("bearer", jwt.expose_secret())?;
        state.generation += 1;
        let generation = state.generation;
        state.current = Some(Issued {
            bearer: bearer.clone(),
            iat: now,
            generation,
        });
        tracing::debug!(generation, "APNs: minted a provider token");
        Ok((bearer, generation))
    }

    /// Drops the token of `generation` if it is still current (so many requests failing with the
    /// same expired token cause one new token, not one each).
    fn invalidate(&self, generation: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.generation == generation)
        {
            state.current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Provider as _;

    fn tokens() -> ProviderTokens {
        ProviderTokens::new(
            SoftwareKey::generate().expect("key"),
            "ABCDE12345".into(),
            "TEAM123456".into(),
            3000,
        )
    }

    #[test]
    fn provider_token_is_cached_then_refreshed_between_20_and_60_minutes() {
        let t = tokens();
        let start = 1_800_000_000;
        let (a, gen_a) = t.current(start).expect("mint");
        let (b, gen_b) = t.current(start + 1199).expect("cached");
        assert_eq!(gen_a, gen_b, "no new token within 20 minutes");
        assert_eq!(a.header(), b.header());
        let (_, gen_c) = t.current(start + 2999).expect("cached");
        assert_eq!(gen_a, gen_c);
        let (c, gen_d) = t.current(start + 3000).expect("refreshed");
        assert_ne!(gen_a, gen_d, "a new token before 60 minutes");
        assert_ne!(a.header(), c.header());
        // A clock that jumps back before iat gets a fresh token rather than one "from the future".
        let (_, gen_e) = t.current(start).expect("re-minted");
        assert_ne!(gen_d, gen_e);
    }

    #[test]
    fn invalidate_only_drops_the_generation_that_failed() {
        let t = tokens();
        let (_, g1) = t.current(100).expect("mint");
        t.invalidate(g1);
        let (_, g2) = t.current(101).expect("re-mint");
        assert_ne!(g1, g2);
        t.invalidate(g1); // a late failure of the old token must not drop the new one
        let (_, g3) = t.current(102).expect("cached");
        assert_eq!(g2, g3);
    }

    fn err(reason: &str, timestamp: Option<i64>) -> ApnsError {
        ApnsError {
            reason: Some(reason.into()),
            timestamp,
        }
    }

    #[test]
    fn classification_follows_apples_documentation() {
        let dead = |a: &Attempt| matches!(a, Attempt::Done(PushOutcome::DeadToken { .. }));
        let failed = |a: &Attempt| matches!(a, Attempt::Done(PushOutcome::Failed { .. }));
        let retry = |a: &Attempt| matches!(a, Attempt::Retry { .. });
        assert!(dead(&classify(400, &err("BadDeviceToken", None), 0, None)));
        assert!(dead(&classify(
            400,
            &err("DeviceTokenNotForTopic", None),
            0,
            None
        )));
        assert!(dead(&classify(
            410,
            &err("Unregistered", Some(2_000_000)),
            1_000,
            None
        )));
        assert!(failed(&classify(
            410,
            &err("Unregistered", Some(2_000_000)),
            3_000,
            None
        )));
        assert!(dead(&classify(
            410,
            &err("Unregistered", None),
            3_000,
            None
        )));
        assert!(matches!(
            classify(403, &err("ExpiredProviderToken", None), 0, None),
            Attempt::AuthExpired { .. }
        ));
        assert!(failed(&classify(
            403,
            &err("InvalidProviderToken", None),
            0,
            None
        )));
        assert!(failed(&classify(
            429,
            &err("TooManyProviderTokenUpdates", None),
            0,
            None
        )));
        assert!(retry(&classify(
            429,
            &err("TooManyRequests", None),
            0,
            None
        )));
        assert!(retry(&classify(
            500,
            &err("InternalServerError", None),
            0,
            None
        )));
        assert!(retry(&classify(503, &err("Shutdown", None), 0, None)));
        assert!(retry(&classify(502, &ApnsError::default(), 0, None)));
        assert!(failed(&classify(400, &err("BadTopic", None), 0, None)));
        assert!(failed(&classify(
            413,
            &err("PayloadTooLarge", None),
            0,
            None
        )));
    }

    #[test]
    fn apples_hosts_by_environment_unless_overridden() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key_path = dir.path().join("key.p8");
        let key = SoftwareKey::generate().expect("key");
        let text = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                key.secret_pkcs8_der()
            )
        );
        std::fs::write(&key_path, text).expect("write");
        let mut config = ApnsConfig {
            key_path,
            key_id: "ABCDE12345".into(),
            team_id: "TEAM123456".into(),
            topic: "com.example.app".into(),
            environment: None,
            host: None,
            token_refresh_secs: None,
        };
        let roots = crate::http::roots(None).expect("roots");
        let sender = ApnsSender::from_config(&config, roots.clone(), RetryConfig::default())
            .expect("sender");
        assert_eq!(sender.base_for(None), "https://api.push.apple.com");
        assert_eq!(
            sender.base_for(Some(PushEnvironment::Sandbox)),
            "https://api.sandbox.push.apple.com"
        );
        assert_eq!(
            sender.base_for(Some(PushEnvironment::Production)),
            "https://api.push.apple.com"
        );
        config.environment = Some(PushEnvironment::Sandbox);
        let sender = ApnsSender::from_config(&config, roots.clone(), RetryConfig::default())
            .expect("sender");
        assert_eq!(
            sender.base_for(None),
            "https://api.sandbox.push.apple.com",
            "default for unset tokens"
        );
        config.host = Some("https://127.0.0.1:8443/".into());
        let sender =
            ApnsSender::from_config(&config, roots, RetryConfig::default()).expect("sender");
        assert_eq!(
            sender.base_for(Some(PushEnvironment::Sandbox)),
            "https://127.0.0.1:8443"
        );
    }

    #[test]
    fn token_format_and_apns_id() {
        assert!(is_apns_token(&"ab".repeat(32)));
        assert!(!is_apns_token("zz"));
        assert!(!is_apns_token(&format!("{}/../x", "ab".repeat(32))));
        assert!(!is_apns_token(""));
        let id = new_apns_id();
        let id = id.to_str().expect("ascii");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_apns_id().to_str().expect("ascii"));
    }
}
