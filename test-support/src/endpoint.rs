//! Where the service is and the HTTP client that reaches it: what the software device and the
//! relying-party client are given, so a harness that restarts the service on a new port (the
//! server's tests) and one with a fixed address (end-to-end tests) drive the same code.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;

/// A running service as the test's clients see it.
pub trait ServiceEndpoint {
    /// The absolute URL of `path` (which starts with `/`).
    fn url(&self, path: &str) -> String;
    /// The client to call it with.
    fn http(&self) -> &reqwest::Client;
}

/// A service at a fixed base URL.
#[derive(Clone)]
pub struct Endpoint {
    base: String,
    http: reqwest::Client,
}

impl Endpoint {
    /// The service at `base_url` (e.g. `http://127.0.0.1:PORT`) with [`http_client`].
    pub fn new(base_url: &str) -> Self {
        Self::with_http(http_client(), base_url)
    }

    /// The same with a client of the caller's (connection pool, timeouts).
    pub fn with_http(http: reqwest::Client, base_url: &str) -> Self {
        Self {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// The base URL, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }
}

impl ServiceEndpoint for Endpoint {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// An HTTP client for tests (ring as the TLS provider, 40 s timeout: longer than any long-poll).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(40))
        .build()
        .unwrap()
}

/// Status and JSON body of a response (`Null` when empty, a string when not JSON).
pub async fn status_json(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}
