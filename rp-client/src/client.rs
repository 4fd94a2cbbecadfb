//! [`RpClient`]: the calls of docs/PROTOCOL.md §9 with the project's API key.

use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use serde::de::DeserializeOwned;
use tapprove_protocol::api::{
    AuditPage, CreateSessionRequest, DeviceList, ErrorBody, ErrorCode, SessionCreated, SessionView,
    SubmitCodeRequest,
};
use zeroize::Zeroizing;

use crate::RpError;

/// The longest single long-poll the service holds (`?wait=` ≤ 30 s).
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// How long any call but a long-poll may take: a service that has not answered by then is
/// treated as unreachable rather than leaving a login page spinning.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// A project's API key (`tap_api_…`). `Debug` is redacted, the text is zeroized on drop, and
/// it is not `Serialize`: it is only ever written into the request header.
#[derive(Clone)]
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    /// Wraps the key as `tapprove admin project create` printed it.
    pub fn new(key: impl Into<String>) -> Self {
        Self(Zeroizing::new(key.into()))
    }

    /// The key itself, for a caller that must store it; never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// `GET /v1/audit` parameters; `Default` is every kept row of the project, 100 per page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Rows at or after this Unix second.
    pub since: Option<i64>,
    /// That user's rows only.
    pub user: Option<String>,
    /// Page size, 1–1000.
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`, unchanged.
    pub cursor: Option<String>,
}

/// A client of one Tapprove service as one project. Cheap to clone (the connection pool is
/// shared).
#[derive(Clone)]
pub struct RpClient {
    http: reqwest::Client,
    base: url::Url,
    api_key: ApiKey,
}

impl std::fmt::Debug for RpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpClient")
            .field("base", &self.base.as_str())
            .field("api_key", &self.api_key)
            .finish()
    }
}

impl RpClient {
    /// A client of the service at `base_url` (e.g. `https://tapprove.example.com`), with its own
    /// connection pool (rustls with ring; redirects are not followed: the API never redirects).
    pub fn new(base_url: &str, api_key: ApiKey) -> Result<Self, RpError> {
        // A process may have installed another provider already; either serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(RpError::transport)?;
        Self::with_http(http, base_url, api_key)
    }

    /// The same with the caller's HTTP client (its pool, proxy and TLS settings). Its overall
    /// timeout, if any, must exceed [`MAX_WAIT`] for long-polls to work.
    pub fn with_http(
        http: reqwest::Client,
        base_url: &str,
        api_key: ApiKey,
    ) -> Result<Self, RpError> {
        let invalid = |why| RpError::InvalidUrl {
            url: base_url.to_owned(),
            why,
        };
        let mut base = url::Url::parse(base_url).map_err(|_| invalid("not an absolute URL"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be https (or http on loopback)"));
        }
        if base.scheme() == "http"
            && !base
                .host_str()
                .is_some_and(tapprove_protocol::credentials::is_loopback_host)
        {
            return Err(invalid("plain http is only for loopback hosts"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(invalid("no query or fragment"));
        }
        // `Url::join` would drop the last segment of a base without a trailing slash.
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Self {
            http,
            base,
            api_key,
        })
    }

    /// The service's base URL.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    // ------------------------------------------------------------ push sessions

    /// `POST /v1/push/sessions`: sends the push; show `presence_code` on the login page.
    /// Errors to expect: `no_device` (422), `locked` (423, [`RpError::Api::locked_until`]),
    /// `rate_limited` (429, `retry_after`), `policy_not_met` (400).
    pub async fn create_session(
        &self,
        req: &CreateSessionRequest,
    ) -> Result<SessionCreated, RpError> {
        let url = self.url(&["v1", "push", "sessions"])?;
        self.json(self.request(Method::POST, url, CALL_TIMEOUT).json(req))
            .await
    }

    /// `GET /v1/push/sessions/{id}`: the session as it is now.
    pub async fn session(&self, id: &str) -> Result<SessionView, RpError> {
        let url = self.url(&["v1", "push", "sessions", id])?;
        self.json(self.request(Method::GET, url, CALL_TIMEOUT))
            .await
    }

    /// `GET /v1/push/sessions/{id}?wait=N`: answers when the status changes or after `wait`
    /// (whole seconds, at most [`MAX_WAIT`]), whichever is first.
    pub async fn wait_session(&self, id: &str, wait: Duration) -> Result<SessionView, RpError> {
        let secs = wait.min(MAX_WAIT).as_secs();
        let mut url = self.url(&["v1", "push", "sessions", id])?;
        url.query_pairs_mut().append_pair("wait", &secs.to_string());
        let timeout = Duration::from_secs(secs) + CALL_TIMEOUT;
        self.json(self.request(Method::GET, url, timeout)).await
    }

    /// Waits until the session is decided (any final status) or `within` has passed, with as
    /// many long-polls as it takes. `Ok(None)`: still pending at the deadline (cancel it with
    /// [`RpClient::cancel_session`] if the login gave up).
    ///
    /// Cancel-safe: dropping the future only abandons an idempotent `GET`, so it can sit in
    /// `tokio::select!` beside a client disconnect or a shutdown signal. The deadline is kept
    /// to the millisecond, also when the service is slow to answer.
    pub async fn wait_for_decision(
        &self,
        id: &str,
        within: Duration,
    ) -> Result<Option<SessionView>, RpError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            // Rounded up so the last poll covers the deadline; the timeout cuts it there.
            let wait = Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0));
            match tokio::time::timeout(left, self.wait_session(id, wait)).await {
                Ok(view) => {
                    let view = view?;
                    if view.status.is_final() {
                        return Ok(Some(view));
                    }
                }
                Err(_elapsed) => return Ok(None),
            }
        }
    }

    /// `POST /v1/push/sessions/{id}/code`: for a code-to-phone session (`presence:
    /// PresenceMode::Display`), the code the user typed at the login prompt, read off their
    /// phone. Answers the session decided: `accepted`, or `rejected` / `wrong_number` (one
    /// try: a wrong code ends the session and counts toward the user's cooldown). Errors to
    /// expect: `code_not_shown` (409, under `nist-aal2` before the phone showed the code to a
    /// verified user; the session stays open, submit again), `already_decided` (409),
    /// `expired` (410), `not_display_session` (409), `not_found` (404).
    pub async fn submit_code(&self, id: &str, code: &str) -> Result<SessionView, RpError> {
        let url = self.url(&["v1", "push", "sessions", id, "code"])?;
        let body = SubmitCodeRequest {
            code: code.to_owned(),
        };
        self.json(self.request(Method::POST, url, CALL_TIMEOUT).json(&body))
            .await
    }

    /// `DELETE /v1/push/sessions/{id}`: ends a pending session as `canceled` /
    /// `canceled_by_relying_party` (the login page was closed, the user gave up). Idempotent:
    /// a session already final is answered as it is.
    pub async fn cancel_session(&self, id: &str) -> Result<SessionView, RpError> {
        let url = self.url(&["v1", "push", "sessions", id])?;
        self.json(self.request(Method::DELETE, url, CALL_TIMEOUT))
            .await
    }

    /// `DELETE /v1/users/{user}/lock`: lifts the lock a "not me" set (or a cooldown) after the
    /// site has checked with the user. Succeeds also when none was in force.
    pub async fn lift_lock(&self, user: &str) -> Result<(), RpError> {
        let url = self.url(&["v1", "users", user, "lock"])?;
        self.empty(self.request(Method::DELETE, url, CALL_TIMEOUT))
            .await
    }

    // ------------------------------------------------------------ devices

    /// `GET /v1/users/{user}/devices`: the user's paired devices, oldest first.
    pub async fn list_devices(&self, user: &str) -> Result<DeviceList, RpError> {
        let url = self.url(&["v1", "users", user, "devices"])?;
        self.json(self.request(Method::GET, url, CALL_TIMEOUT))
            .await
    }

    /// `DELETE /v1/devices/{id}`: revokes one device (idempotent; `404 not_found` for a device
    /// of another project).
    pub async fn revoke_device(&self, device_id: &str) -> Result<(), RpError> {
        let url = self.url(&["v1", "devices", device_id])?;
        self.empty(self.request(Method::DELETE, url, CALL_TIMEOUT))
            .await
    }

    /// `DELETE /v1/users/{user}/devices`: revokes every device of the user (idempotent).
    pub async fn revoke_all_devices(&self, user: &str) -> Result<(), RpError> {
        let url = self.url(&["v1", "users", user, "devices"])?;
        self.empty(self.request(Method::DELETE, url, CALL_TIMEOUT))
            .await
    }

    // ------------------------------------------------------------ audit

    /// `GET /v1/audit`: one page of the project's audit log, oldest first. Pass the page's
    /// `next_cursor` back in `query.cursor` for the next one.
    pub async fn audit(&self, query: &AuditQuery) -> Result<AuditPage, RpError> {
        let mut url = self.url(&["v1", "audit"])?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(since) = query.since {
                q.append_pair("since", &since.to_string());
            }
            if let Some(user) = &query.user {
                q.append_pair("user", user);
            }
            if let Some(limit) = query.limit {
                q.append_pair("limit", &limit.to_string());
            }
            if let Some(cursor) = &query.cursor {
                q.append_pair("cursor", cursor);
            }
        }
        // `query_pairs_mut` leaves a bare `?` when nothing was appended.
        if url.query() == Some("") {
            url.set_query(None);
        }
        self.json(self.request(Method::GET, url, CALL_TIMEOUT))
            .await
    }

    // ------------------------------------------------------------ plumbing

    /// The base joined with `segments`, each percent-encoded as one path segment so a user
    /// name or id cannot add a segment (`/`) or a query (`?`).
    fn url(&self, segments: &[&str]) -> Result<url::Url, RpError> {
        if let Some(bad) = segments
            .iter()
            .find(|s| s.is_empty() || s.chars().all(|c| c == '.'))
        {
            // URL parsers read `.`/`..` (also percent-encoded) as a move up the path.
            return Err(RpError::InvalidArgument(format!(
                "{bad:?} cannot name a user, session or device"
            )));
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| RpError::InvalidUrl {
                url: self.base.to_string(),
                why: "cannot hold a path",
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn request(&self, method: Method, url: url::Url, timeout: Duration) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .timeout(timeout)
            .header("x-api-key", self.api_key.expose_secret())
    }

    async fn json<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, RpError> {
        let bytes = self.send(req).await?;
        serde_json::from_slice(&bytes).map_err(|e| RpError::Decode(e.to_string()))
    }

    async fn empty(&self, req: reqwest::RequestBuilder) -> Result<(), RpError> {
        self.send(req).await.map(drop)
    }

    /// The body of a `2xx` answer, or the typed error of any other.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Vec<u8>, RpError> {
        let resp = req.send().await.map_err(RpError::transport)?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_secs);
        let bytes = resp.bytes().await.map_err(RpError::transport)?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        Err(api_error(status, retry_after, &bytes))
    }
}

fn api_error(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> RpError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => RpError::Api {
            status: status.as_u16(),
            code: b.error.code,
            message: b.error.message,
            retry_after,
            locked_until: b.error.locked_until,
        },
        Err(_) => RpError::Api {
            status: status.as_u16(),
            code: ErrorCode::Unknown,
            message: format!("HTTP {status} without the JSON error body"),
            retry_after,
            locked_until: None,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn client(base: &str) -> RpClient {
        RpClient::new(base, ApiKey::new("tap_api_x")).unwrap()
    }

    #[test]
    fn segments_cannot_escape_and_bases_keep_their_path() {
        let c = client("http://127.0.0.1:9/tapprove");
        let u = c.url(&["v1", "users", "a/../b?c#", "devices"]).unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/tapprove/v1/users/a%2F..%2Fb%3Fc%23/devices"
        );
        assert!(c.url(&["v1", "users", "..", "devices"]).is_err());
        assert!(c.url(&["v1", "devices", ""]).is_err());
        assert_eq!(
            client("http://localhost:9/")
                .url(&["v1", "audit"])
                .unwrap()
                .as_str(),
            "http://localhost:9/v1/audit"
        );
    }

    #[test]
    fn bases_are_checked_and_the_key_is_never_printed() {
        for bad in [
            "tapprove.example.com",
            "ftp://x/",
            "http://example.com",
            "https://x/?a=b",
        ] {
            let e = RpClient::new(bad, ApiKey::new("k")).unwrap_err();
            assert!(matches!(e, RpError::InvalidUrl { .. }), "{bad}: {e}");
        }
        let c = client("http://[::1]:9");
        assert!(!format!("{c:?}").contains("tap_api_x"));
    }

    #[test]
    fn errors_carry_code_status_and_retry_after() {
        let e = api_error(
            StatusCode::LOCKED,
            Some(Duration::from_secs(7)),
            br#"{"error":{"code":"locked","message":"m","locked_until":5}}"#,
        );
        assert_eq!(e.code(), Some(ErrorCode::Locked));
        assert_eq!(e.status(), Some(423));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(matches!(
            e,
            RpError::Api {
                locked_until: Some(5),
                ..
            }
        ));
        let e = api_error(StatusCode::BAD_GATEWAY, None, b"<html>");
        assert_eq!(e.code(), Some(ErrorCode::Unknown));
        assert!(e.is_transient());
        let e = api_error(
            StatusCode::OK,
            None,
            br#"{"error":{"code":"brand_new","message":""}}"#,
        );
        assert_eq!(e.code(), Some(ErrorCode::Unknown));
    }
}
