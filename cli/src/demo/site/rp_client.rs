//! The client of the service's relying-party API (`/v1/push/sessions`, `/v1/users/{user}/devices`,
//! `/v1/devices/{id}`), with its API key.

use axum::http::header;
use tapprove_protocol::api::{
    CreateSessionRequest, DeviceList, ErrorBody, ErrorCode, SessionCreated, SessionView,
};

use crate::secret::Secret;

/// A failed call to the service's relying-party API.
#[derive(Debug, thiserror::Error)]
pub(super) enum CallError {
    #[error("{code:?} ({status}): {message}")]
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
        retry_after: Option<u64>,
    },
    #[error("cannot reach the Tapprove service: {0}")]
    Network(String),
}

/// Calls the service as this site's project.
pub(super) struct RpClient {
    http: reqwest::Client,
    service_url: String,
    api_key: Secret,
}

impl RpClient {
    pub(super) fn new(http: reqwest::Client, service_url: &str, api_key: Secret) -> Self {
        Self {
            http,
            service_url: service_url.trim_end_matches('/').to_owned(),
            api_key,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.service_url)
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, CallError> {
        let bytes = self.send_raw(req).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| CallError::Network(format!("unexpected answer: {e}")))
    }

    /// The body of a successful answer (empty for `204`), or the typed error.
    async fn send_raw(&self, req: reqwest::RequestBuilder) -> Result<axum::body::Bytes, CallError> {
        let resp = req
            .header("x-api-key", self.api_key.expose())
            .send()
            .await
            .map_err(|e| CallError::Network(e.without_url().to_string()))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CallError::Network(e.without_url().to_string()))?;
        if status.is_success() {
            return Ok(bytes);
        }
        let (code, message) = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|b| (b.error.code, b.error.message))
            .unwrap_or((ErrorCode::Unknown, format!("HTTP {status}")));
        Err(CallError::Api {
            status: status.as_u16(),
            code,
            message,
            retry_after,
        })
    }

    pub(super) async fn create_session(
        &self,
        req: &CreateSessionRequest,
    ) -> Result<SessionCreated, CallError> {
        self.send(self.http.post(self.url("/v1/push/sessions")).json(req))
            .await
    }

    pub(super) async fn get_session(&self, id: &str, wait: u64) -> Result<SessionView, CallError> {
        let path = format!("/v1/push/sessions/{}?wait={wait}", urlencode(id));
        self.send(self.http.get(self.url(&path))).await
    }

    pub(super) async fn cancel_session(&self, id: &str) -> Result<SessionView, CallError> {
        let path = format!("/v1/push/sessions/{}", urlencode(id));
        self.send(self.http.delete(self.url(&path))).await
    }

    /// `GET /v1/users/{user}/devices`: the user's paired devices, oldest first.
    pub(super) async fn list_devices(&self, user: &str) -> Result<DeviceList, CallError> {
        let path = format!("/v1/users/{}/devices", path_segment(user));
        self.send(self.http.get(self.url(&path))).await
    }

    /// `DELETE /v1/devices/{id}` (idempotent; `not_found` for a device of another project).
    pub(super) async fn revoke_device(&self, id: &str) -> Result<(), CallError> {
        let path = format!("/v1/devices/{}", path_segment(id));
        self.send_raw(self.http.delete(self.url(&path)))
            .await
            .map(drop)
    }

    /// `DELETE /v1/users/{user}/devices`: every device of the user (idempotent).
    pub(super) async fn revoke_all_devices(&self, user: &str) -> Result<(), CallError> {
        let path = format!("/v1/users/{}/devices", path_segment(user));
        self.send_raw(self.http.delete(self.url(&path)))
            .await
            .map(drop)
    }
}

/// `s` as one path segment: everything but unreserved characters percent-encoded, so a value
/// cannot add a segment (`/`) or a query (`?`). A segment of dots only would still be read as
/// `.`/`..`, so user names are never only dots (`signup::valid_user_name`).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_escape_their_segment() {
        assert_eq!(path_segment("acc_1-x"), "acc_1-x");
        assert_eq!(path_segment("a/../b?c#"), "a%2F..%2Fb%3Fc%23");
        assert_eq!(path_segment("al.ice"), "al.ice");
    }
}
