//! One delivery = a few attempts within the session deadline.
//!
//! Each provider turns one HTTP exchange into an [`Attempt`]; [`deliver`] decides what happens
//! next: stop with an outcome, retry after a backoff (or the provider's `Retry-After`) while the
//! session is still open, or refresh the provider credential once.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::{SecureRandom as _, SystemRandom};

use crate::secret::token_prefix;
use crate::{PushMessage, PushOutcome, PushTarget, RetryConfig};

/// The steps every provider's push shares, in this order: a token that cannot be this
/// provider's is dead (`bad_token`: why); a session already over is not pushed; the payload
/// is built once; `send` makes the attempts within the session's [`Deadline`] (usually through
/// [`deliver`]); the outcome is logged with the token's prefix only.
pub(crate) async fn push_one<P, Fut: Future<Output = PushOutcome>>(
    provider: &'static str,
    target: &PushTarget,
    message: &PushMessage,
    bad_token: Option<&'static str>,
    payload: impl FnOnce(&PushMessage) -> Result<P, String>,
    send: impl FnOnce(P, Deadline) -> Fut,
) -> PushOutcome {
    if let Some(reason) = bad_token {
        return PushOutcome::DeadToken {
            reason: reason.into(),
        };
    }
    let Some(deadline) = Deadline::until_unix(message.expires_at) else {
        return PushOutcome::Failed {
            reason: "the session expired before the push could be sent".into(),
        };
    };
    let payload = match payload(message) {
        Ok(payload) => payload,
        Err(reason) => return PushOutcome::Failed { reason },
    };
    let outcome = send(payload, deadline).await;
    let token = token_prefix(&target.token);
    let device = &target.device_id;
    match &outcome {
        PushOutcome::Delivered => tracing::debug!(%device, token, "{provider}: delivered"),
        PushOutcome::DeadToken { reason } => {
            tracing::info!(%device, token, %reason, "{provider}: dead token")
        }
        PushOutcome::Failed { reason } => {
            tracing::warn!(%device, token, %reason, "{provider}: failed")
        }
        PushOutcome::NotConfigured => {}
    }
    outcome
}

/// What one attempt came to.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// Final: report this.
    Done(PushOutcome),
    /// Transient (429, 5xx, transport): try again after `after` or a backoff.
    Retry {
        /// Why, for the final report if no retry succeeds.
        reason: String,
        /// The provider's `Retry-After`, if any.
        after: Option<Duration>,
    },
    /// The provider credential was refused as expired; the sender already invalidated it.
    /// Retried at once, but only once per delivery.
    AuthExpired {
        /// Why.
        reason: String,
    },
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn unix_now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The session deadline on the monotonic clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(tokio::time::Instant);

impl Deadline {
    /// `None` if `expires_at` (Unix seconds) has already passed.
    pub(crate) fn until_unix(expires_at: i64) -> Option<Self> {
        let left_ms = expires_at
            .saturating_mul(1000)
            .saturating_sub(unix_now_millis());
        let left_ms = u64::try_from(left_ms).ok().filter(|ms| *ms > 0)?;
        Some(Self(
            tokio::time::Instant::now() + Duration::from_millis(left_ms),
        ))
    }

    /// Time left (zero once passed).
    pub(crate) fn remaining(&self) -> Duration {
        self.0
            .saturating_duration_since(tokio::time::Instant::now())
    }
}

impl RetryConfig {
    /// Backoff before attempt `attempt + 1`: exponential from `initial_backoff_ms`, capped at
    /// `max_backoff_ms`, with "equal jitter" (half fixed, half random) so devices do not retry in
    /// lockstep.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff_ms
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.max_backoff_ms);
        let mut bytes = [0u8; 8];
        let random = match SystemRandom::new().fill(&mut bytes) {
            Ok(()) => u64::from_le_bytes(bytes),
            Err(_) => 0,
        };
        let half = capped / 2;
        Duration::from_millis(half + random % (capped - half + 1))
    }
}

/// Runs attempts until one is final, the attempts are used up or the deadline leaves no room.
/// `attempt` gets the time it may take (the request timeout, or less near the deadline).
pub(crate) async fn deliver<F, Fut>(
    policy: &RetryConfig,
    deadline: Deadline,
    mut attempt: F,
) -> PushOutcome
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Attempt>,
{
    let mut tries: u32 = 0;
    let mut refreshed = false;
    let mut last = String::new();
    loop {
        let remaining = deadline.remaining();
        if remaining.is_zero() {
            return PushOutcome::Failed {
                reason: if last.is_empty() {
                    "the session expired before the push could be sent".into()
                } else {
                    format!("{last}; the session expired before a retry could succeed")
                },
            };
        }
        let timeout = remaining.min(Duration::from_millis(policy.request_timeout_ms));
        match attempt(timeout).await {
            Attempt::Done(outcome) => return outcome,
            Attempt::AuthExpired { reason } => {
                if refreshed {
                    return PushOutcome::Failed {
                        reason: format!("{reason}, again with a freshly minted credential"),
                    };
                }
                refreshed = true;
                last = reason;
            }
            Attempt::Retry { reason, after } => {
                tries += 1;
                if tries >= policy.max_attempts {
                    return PushOutcome::Failed {
                        reason: format!("{reason} (gave up after {tries} attempts)"),
                    };
                }
                let delay = after.unwrap_or_else(|| policy.backoff(tries));
                if delay >= deadline.remaining() {
                    return PushOutcome::Failed {
                        reason: format!(
                            "{reason} (no time left to retry before the session expires)"
                        ),
                    };
                }
                tracing::debug!(attempt = tries, delay_ms = delay.as_millis() as u64, %reason, "push: retrying");
                tokio::time::sleep(delay).await;
                last = reason;
            }
        }
    }
}

/// The provider-independent part of reading a push answer: a transport failure is retried, 200
/// is delivered, anything else goes to the provider's `classify` with its decoded error body
/// (default when unreadable) and `Retry-After`.
pub(crate) async fn read_response<E: serde::de::DeserializeOwned + Default>(
    provider: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
    classify: impl FnOnce(u16, E, Option<Duration>) -> Attempt,
) -> Attempt {
    let response = match sent {
        Ok(response) => response,
        Err(e) => {
            return Attempt::Retry {
                reason: transport_reason(provider, e),
                after: None,
            };
        }
    };
    let status = response.status().as_u16();
    if status == 200 {
        return Attempt::Done(PushOutcome::Delivered);
    }
    let after = retry_after(response.headers());
    let error: E = response.json().await.unwrap_or_default();
    classify(status, error, after)
}

/// `Retry-After` in delta-seconds (the form both providers use); HTTP dates are ignored.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A transport failure, described without its URL (which holds the device token), with the
/// causes that make it actionable (connection refused, certificate not trusted, ...).
pub(crate) fn transport_reason(provider: &str, err: reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "transport error"
    };
    let err = err.without_url();
    let mut text = format!("{provider}: {kind}: {err}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryConfig {
        RetryConfig {
            max_attempts: 3,
            initial_backoff_ms: 10,
            max_backoff_ms: 40,
            request_timeout_ms: 1000,
        }
    }

    #[test]
    fn backoff_grows_caps_and_jitters_within_bounds() {
        let p = policy();
        for _ in 0..50 {
            let d1 = p.backoff(1).as_millis();
            let d3 = p.backoff(3).as_millis();
            let d9 = p.backoff(9).as_millis();
            assert!((5..=10).contains(&d1), "{d1}");
            assert!((20..=40).contains(&d3), "{d3}");
            assert!((20..=40).contains(&d9), "{d9}");
        }
    }

    #[test]
    fn deadline_in_the_past_is_none() {
        assert!(Deadline::until_unix(unix_now() - 1).is_none());
        let d = Deadline::until_unix(unix_now() + 30).expect("future");
        assert!(d.remaining() > Duration::from_secs(28));
    }

    #[tokio::test]
    async fn retries_up_to_max_attempts_then_fails_with_the_reason() {
        let deadline = Deadline::until_unix(unix_now() + 30).expect("future");
        let mut calls = 0;
        let outcome = deliver(&policy(), deadline, |_| {
            calls += 1;
            async {
                Attempt::Retry {
                    reason: "HTTP 503".into(),
                    after: None,
                }
            }
        })
        .await;
        assert_eq!(calls, 3);
        assert!(
            matches!(outcome, PushOutcome::Failed { ref reason } if reason.contains("HTTP 503") && reason.contains("3 attempts")),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn auth_refresh_happens_once() {
        let deadline = Deadline::until_unix(unix_now() + 30).expect("future");
        let mut calls = 0;
        let outcome = deliver(&policy(), deadline, |_| {
            calls += 1;
            async {
                Attempt::AuthExpired {
                    reason: "ExpiredProviderToken".into(),
                }
            }
        })
        .await;
        assert_eq!(calls, 2);
        assert!(
            matches!(outcome, PushOutcome::Failed { ref reason } if reason.contains("again")),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn retry_after_beyond_the_deadline_fails_at_once() {
        let deadline = Deadline::until_unix(unix_now() + 2).expect("future");
        let start = std::time::Instant::now();
        let outcome = deliver(&policy(), deadline, |_| async {
            Attempt::Retry {
                reason: "QUOTA_EXCEEDED".into(),
                after: Some(Duration::from_secs(60)),
            }
        })
        .await;
        assert!(start.elapsed() < Duration::from_millis(500));
        assert!(
            matches!(outcome, PushOutcome::Failed { ref reason } if reason.contains("no time left")),
            "{outcome:?}"
        );
    }
}
