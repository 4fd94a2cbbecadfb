//! The client of the service's relying-party API (`/v1/push/sessions`), with its API key.

use axum::http::header;
use tapprove_protocol::api::{
    CreateSessionRequest, ErrorBody, ErrorCode, SessionCreated, SessionView,
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
            serde_json::from_slice(&bytes)
                .map_err(|e| CallError::Network(format!("unexpected answer: {e}")))
        } else {
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
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
