//! FCM HTTP v1 with a Google service account.
//!
//! The service-account key signs an RS256 assertion that the token endpoint exchanges for an
//! OAuth2 access token; the token is cached until 5 minutes before it expires, fetched by one
//! request at a time, and refreshed once when FCM answers 401.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use ring::signature::RsaKeyPair;
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::{base_string, parse_url, read_file};
use crate::http::{self, Protocol};
use crate::jwt::{GoogleClaims, google_assertion};
use crate::retry::{self, Attempt, Deadline, unix_now};
use crate::secret::Bearer;
use crate::{
    FcmConfig, PushConfigError, PushMessage, PushOutcome, PushSender, PushTarget, RetryConfig,
    payload,
};

const FCM_HOST: &str = "https://fcm.googleapis.com";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// Refresh the access token this long before Google says it expires.
const REFRESH_EARLY: Duration = Duration::from_secs(300);
/// Lifetime asked for in the assertion (Google's maximum).
const ASSERTION_LIFETIME_SECS: i64 = 3600;
/// Longest FCM registration token accepted before sending.
const MAX_TOKEN_LEN: usize = 4096;

/// Sends login prompts to Android devices through FCM. Build it with [`crate::PushConfig`].
pub struct FcmSender {
    client: reqwest::Client,
    send_url: String,
    token_uri: String,
    account: ServiceAccount,
    cache: Mutex<TokenCache>,
    refresh: tokio::sync::Mutex<()>,
    retry: RetryConfig,
}

impl fmt::Debug for FcmSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FcmSender")
            .field("send_url", &self.send_url)
            .field("token_uri", &self.token_uri)
            .field("client_email", &self.account.client_email)
            .finish_non_exhaustive()
    }
}

/// The parts of the service-account key used; the private key lives only inside ring.
struct ServiceAccount {
    client_email: String,
    private_key_id: Option<String>,
    key: RsaKeyPair,
}

#[derive(Default)]
struct TokenCache {
    current: Option<AccessToken>,
    generation: u64,
}

struct AccessToken {
    bearer: Bearer,
    refresh_at: Instant,
    generation: u64,
}

/// The service-account JSON, as Google issues it.
#[derive(Deserialize)]
struct ServiceAccountFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    project_id: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<String>,
    client_email: Option<String>,
    token_uri: Option<String>,
}

impl crate::Provider for FcmSender {
    const PLATFORM: tapprove_protocol::api::PushPlatform =
        tapprove_protocol::api::PushPlatform::Fcm;
    type Config = FcmConfig;

    fn from_config(
        config: &FcmConfig,
        roots: std::sync::Arc<rustls::RootCertStore>,
        retry: RetryConfig,
    ) -> Result<Self, PushConfigError> {
        let path = &config.service_account_path;
        let bad = |detail: String| PushConfigError::BadServiceAccount {
            path: path.clone(),
            detail,
        };
        let bytes = read_file(
            "FCM service-account file",
            "push.fcm.service_account_path",
            path,
        )?;
        let file: ServiceAccountFile = serde_json::from_slice(bytes.expose_secret())
            .map_err(|e| bad(format!("not valid JSON ({e})")))?;
        let private_key = SecretString::from(file.private_key.unwrap_or_default());
        match file.kind.as_deref() {
            Some("service_account") => {}
            Some(other) => {
                return Err(bad(format!(
                    "its \"type\" is {other:?}; FCM needs a \"service_account\" key"
                )));
            }
            None => return Err(bad("it has no \"type\": \"service_account\"".into())),
        }
        let project_id = file
            .project_id
            .filter(|p| !p.is_empty())
            .ok_or_else(|| bad("\"project_id\" is missing".into()))?;
        if !project_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' || b == b':')
        {
            return Err(bad(format!(
                "\"project_id\" {project_id:?} is not a Google Cloud project id"
            )));
        }
        let client_email = file
            .client_email
            .filter(|e| e.contains('@'))
            .ok_or_else(|| bad("\"client_email\" is missing".into()))?;
        if private_key.expose_secret().is_empty() {
            return Err(bad("\"private_key\" is missing".into()));
        }
        let der = PrivatePkcs8KeyDer::from_pem_slice(private_key.expose_secret().as_bytes())
            .map_err(|e| {
                bad(format!(
                    "\"private_key\" holds no PEM `PRIVATE KEY` block ({e})"
                ))
            })?;
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|e| {
            bad(format!(
                "\"private_key\" is not an RSA (2048–8192 bit) PKCS#8 key: {e}"
            ))
        })?;

        let host = match &config.host {
            Some(host) => base_string(&parse_url("push.fcm.host", host, true)?),
            None => FCM_HOST.to_owned(),
        };
        let token_uri = match (&config.token_uri, &file.token_uri) {
            (Some(uri), _) => parse_url("push.fcm.token_uri", uri, false)?,
            (None, Some(uri)) => parse_url("token_uri (in the service-account file)", uri, false)?,
            (None, None) => parse_url("token_uri", DEFAULT_TOKEN_URI, false)?,
        };
        Ok(Self {
            client: http::client(roots, Protocol::Negotiate)?,
            send_url: format!("{host}/v1/projects/{project_id}/messages:send"),
            token_uri: token_uri.to_string(),
            account: ServiceAccount {
                client_email,
                private_key_id: file.private_key_id,
                key,
            },
            cache: Mutex::new(TokenCache::default()),
            refresh: tokio::sync::Mutex::new(()),
            retry,
        })
    }
}

impl FcmSender {
    async fn deliver(&self, target: &PushTarget, message: &PushMessage) -> PushOutcome {
        let bad_token = (target.token.is_empty()
            || target.token.len() > MAX_TOKEN_LEN
            || target
                .token
                .chars()
                .any(|c| c.is_whitespace() || c.is_control()))
        .then_some("not an FCM registration token");
        retry::push_one(
            "FCM",
            target,
            message,
            bad_token,
            payload::fcm_data,
            |data, deadline| self.attempts(target, message, data, deadline),
        )
        .await
    }

    /// The attempts of one push within `deadline`.
    async fn attempts(
        &self,
        target: &PushTarget,
        message: &PushMessage,
        data: std::collections::BTreeMap<&'static str, String>,
        deadline: Deadline,
    ) -> PushOutcome {
        retry::deliver(&self.retry, deadline, |timeout| {
            // TTL = the seconds the session has left, recomputed per attempt.
            let ttl = format!("{}s", (message.expires_at - unix_now()).max(0));
            let body = SendRequest {
                message: Message {
                    token: &target.token,
                    data: &data,
                    android: Android {
                        priority: "high",
                        ttl,
                        collapse_key: &message.collapse_id,
                    },
                },
            };
            let body = serde_json::to_vec(&body);
            async move {
                match body {
                    Ok(body) => self.attempt(body, timeout).await,
                    Err(e) => Attempt::Done(PushOutcome::Failed {
                        reason: format!("could not serialise the message: {e}"),
                    }),
                }
            }
        })
        .await
    }

    async fn attempt(&self, body: Vec<u8>, timeout: Duration) -> Attempt {
        let (bearer, generation) = match self.access_token(timeout).await {
            Ok(token) => token,
            Err(attempt) => return attempt,
        };
        let sent = self
            .client
            .post(&self.send_url)
            .timeout(timeout)
            .header(AUTHORIZATION, bearer.header())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
            .send()
            .await;
        let verdict = retry::read_response("FCM", sent, |status, error: FcmErrorBody, after| {
            classify(status, &error.error, after)
        })
        .await;
        if let Attempt::AuthExpired { .. } = verdict {
            self.invalidate(generation);
        }
        verdict
    }

    fn cached(&self) -> Option<(Bearer, u64)> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .current
            .as_ref()
            .filter(|t| Instant::now() < t.refresh_at)
            .map(|t| (t.bearer.clone(), t.generation))
    }

    fn invalidate(&self, generation: u64) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache
            .current
            .as_ref()
            .is_some_and(|t| t.generation == generation)
        {
            cache.current = None;
        }
    }

    /// The cached access token, or a new one from the token endpoint (one fetch at a time: the
    /// others wait for it and then use it).
    async fn access_token(&self, timeout: Duration) -> Result<(Bearer, u64), Attempt> {
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        let _single_flight = self.refresh.lock().await;
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        let fetched = Instant::now();
        let (bearer, expires_in) = self.fetch_access_token(timeout).await?;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.generation += 1;
        let generation = cache.generation;
        cache.current = Some(AccessToken {
            bearer: bearer.clone(),
            refresh_at: refresh_at(fetched, expires_in),
            generation,
        });
        tracing::debug!(generation, expires_in, "FCM: fetched an access token");
        Ok((bearer, generation))
    }

    async fn fetch_access_token(&self, timeout: Duration) -> Result<(Bearer, u64), Attempt> {
        let fail = |reason: String| Attempt::Done(PushOutcome::Failed { reason });
        let now = unix_now();
        let claims = GoogleClaims {
            iss: &self.account.client_email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        let assertion = google_assertion(
            self.account.private_key_id.as_deref(),
            &claims,
            &self.account.key,
        )
        .map_err(|e| fail(format!("could not sign the service-account assertion: {e}")))?;
        let form = SecretString::from(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
                .append_pair("assertion", assertion.expose_secret())
                .finish(),
        );
        let response = self
            .client
            .post(&self.token_uri)
            .timeout(timeout)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .body(form.expose_secret().as_bytes().to_vec())
            .send()
            .await
            .map_err(|e| Attempt::Retry {
                reason: retry::transport_reason("FCM token endpoint", e),
                after: None,
            })?;
        let status = response.status().as_u16();
        let after = retry::retry_after(response.headers());
        if status == 429 || status >= 500 {
            return Err(Attempt::Retry {
                reason: format!("FCM token endpoint: HTTP {status}"),
                after,
            });
        }
        if status != 200 {
            let error: OAuthError = response.json().await.unwrap_or_default();
            tracing::error!(status, error = %error.error, "FCM: the token endpoint refused the service-account key");
            return Err(fail(format!(
                "FCM token endpoint refused the service-account key (HTTP {status} {}: {}): check \
                 push.fcm.service_account_path; the key may have been deleted or disabled",
                error.error, error.error_description
            )));
        }
        let token: TokenResponse = response.json().await.map_err(|e| Attempt::Retry {
            reason: format!("FCM token endpoint: unreadable answer ({e})"),
            after: None,
        })?;
        let access = SecretString::from(token.access_token);
        if access.expose_secret().is_empty() {
            return Err(Attempt::Retry {
                reason: "FCM token endpoint: empty access_token".into(),
                after: None,
            });
        }
        let bearer = Bearer::new("Bearer", access.expose_secret())
            .map_err(|e| fail(format!("FCM access token: {e}")))?;
        Ok((bearer, token.expires_in))
    }
}

/// When to stop using a token fetched at `fetched` that lives `expires_in` seconds.
fn refresh_at(fetched: Instant, expires_in: u64) -> Instant {
    fetched + Duration::from_secs(expires_in).saturating_sub(REFRESH_EARLY)
}

impl PushSender for FcmSender {
    fn send<'a>(
        &'a self,
        target: &'a PushTarget,
        message: &'a PushMessage,
    ) -> BoxFuture<'a, PushOutcome> {
        Box::pin(self.deliver(target, message))
    }
}

#[derive(Serialize)]
struct SendRequest<'a> {
    message: Message<'a>,
}

#[derive(Serialize)]
struct Message<'a> {
    token: &'a str,
    data: &'a std::collections::BTreeMap<&'static str, String>,
    android: Android<'a>,
}

#[derive(Serialize)]
struct Android<'a> {
    priority: &'static str,
    ttl: String,
    collapse_key: &'a str,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    access_token: String,
    #[serde(default = "default_expires_in")]
    expires_in: u64,
}

fn default_expires_in() -> u64 {
    3600
}

#[derive(Debug, Default, Deserialize)]
struct OAuthError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

#[derive(Debug, Default, Deserialize)]
struct FcmErrorBody {
    #[serde(default)]
    error: FcmError,
}

/// Google's error: `{"code", "message", "status", "details": [{"@type", "errorCode"}]}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct FcmError {
    #[serde(default)]
    status: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<FcmErrorDetail>,
}

#[derive(Debug, Default, Deserialize)]
struct FcmErrorDetail {
    #[serde(rename = "@type", default)]
    kind: String,
    #[serde(rename = "errorCode", default)]
    error_code: Option<String>,
}

impl FcmError {
    /// The FCM `errorCode` if present, else the canonical `status`.
    fn code(&self) -> &str {
        self.details
            .iter()
            .filter(|d| d.kind.ends_with("google.firebase.fcm.v1.FcmError"))
            .find_map(|d| d.error_code.as_deref())
            .unwrap_or(&self.status)
    }
}

/// Maps an FCM error answer to what to do, as Google documents it.
fn classify(status: u16, error: &FcmError, after: Option<Duration>) -> Attempt {
    let code = error.code();
    let reason = if code.is_empty() {
        format!("FCM HTTP {status}")
    } else {
        format!("FCM {status} {code}")
    };
    let fail = |text: String| Attempt::Done(PushOutcome::Failed { reason: text });
    match code {
        "UNREGISTERED" => Attempt::Done(PushOutcome::DeadToken {
            reason: code.into(),
        }),
        "SENDER_ID_MISMATCH" => {
            tracing::warn!(
                "FCM SENDER_ID_MISMATCH: the token belongs to another Firebase project than the service account's"
            );
            Attempt::Done(PushOutcome::DeadToken {
                reason: code.into(),
            })
        }
        "THIRD_PARTY_AUTH_ERROR" => {
            tracing::error!(
                "FCM THIRD_PARTY_AUTH_ERROR: the APNs credentials in the Firebase project are wrong"
            );
            fail(format!(
                "{reason}: configuration error, check the APNs key in the Firebase project"
            ))
        }
        "QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL" => Attempt::Retry { reason, after },
        "INVALID_ARGUMENT" => fail(format!("{reason}: {}", error.message)),
        _ if status == 401 => Attempt::AuthExpired { reason },
        "PERMISSION_DENIED" => {
            tracing::error!(
                "FCM PERMISSION_DENIED: the service account may not send for this project"
            );
            fail(format!(
                "{reason}: configuration error, the service account may not send messages"
            ))
        }
        _ if status == 429 || status >= 500 => Attempt::Retry { reason, after },
        _ => fail(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(status: &str, code: Option<&str>) -> FcmError {
        FcmError {
            status: status.into(),
            message: "m".into(),
            details: code
                .map(|c| FcmErrorDetail {
                    kind: "type.googleapis.com/google.firebase.fcm.v1.FcmError".into(),
                    error_code: Some(c.into()),
                })
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn classification_follows_googles_documentation() {
        let dead = |a: Attempt| matches!(a, Attempt::Done(PushOutcome::DeadToken { .. }));
        let failed = |a: Attempt| matches!(a, Attempt::Done(PushOutcome::Failed { .. }));
        let retry = |a: Attempt| matches!(a, Attempt::Retry { .. });
        assert!(dead(classify(
            404,
            &error("NOT_FOUND", Some("UNREGISTERED")),
            None
        )));
        assert!(dead(classify(
            403,
            &error("PERMISSION_DENIED", Some("SENDER_ID_MISMATCH")),
            None
        )));
        assert!(failed(classify(
            400,
            &error("INVALID_ARGUMENT", Some("INVALID_ARGUMENT")),
            None
        )));
        assert!(failed(classify(
            401,
            &error("UNAUTHENTICATED", Some("THIRD_PARTY_AUTH_ERROR")),
            None
        )));
        assert!(matches!(
            classify(401, &error("UNAUTHENTICATED", None), None),
            Attempt::AuthExpired { .. }
        ));
        assert!(matches!(
            classify(429, &error("RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED")), Some(Duration::from_secs(3))),
            Attempt::Retry { after: Some(d), .. } if d == Duration::from_secs(3)
        ));
        assert!(retry(classify(
            503,
            &error("UNAVAILABLE", Some("UNAVAILABLE")),
            None
        )));
        assert!(retry(classify(
            500,
            &error("INTERNAL", Some("INTERNAL")),
            None
        )));
        assert!(retry(classify(502, &FcmError::default(), None)));
        assert!(failed(classify(
            403,
            &error("PERMISSION_DENIED", None),
            None
        )));
        assert!(failed(classify(404, &error("NOT_FOUND", None), None)));
    }

    #[test]
    fn access_token_is_refreshed_five_minutes_early() {
        let t = Instant::now();
        assert_eq!(refresh_at(t, 3600), t + Duration::from_secs(3300));
        assert_eq!(
            refresh_at(t, 200),
            t,
            "a short-lived token is used once, then refetched"
        );
    }
}
