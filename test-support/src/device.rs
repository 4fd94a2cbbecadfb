//! A software device speaking the device API directly (docs/PROTOCOL.md §5–§7): what the
//! service's own tests drive when the device core would hide the wire. Every call takes the
//! service it goes to ([`ServiceEndpoint`]), so a device outlives a service restart on a new
//! port.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tapprove_protocol::api::{PairResponse, PendingResponse};
use tapprove_protocol::request_auth::RequestProof;
use tapprove_protocol::{
    Answer, Challenge, Decision, DenyReason, Es256Signer as _, PROTOCOL_VERSION, SoftwareKey,
};

use crate::endpoint::{ServiceEndpoint, status_json};

/// One device key, paired (once [`SoftwareDevice::with_pairing`] kept a pairing) to one account.
pub struct SoftwareDevice {
    /// The device key.
    pub key: Arc<SoftwareKey>,
    /// The project's SDK key.
    pub sdk_key: String,
    /// `X-Tapprove-SDK` sent on every call.
    pub sdk_header: String,
    /// The pairing, once paired.
    pub pairing: Option<PairResponse>,
    /// A `push` registration to send at pairing.
    pub push: Option<Value>,
    /// A `key_protection` to report at pairing (`"hardware"`, `"software"`, …).
    pub key_protection: Option<&'static str>,
    /// A `push_key` (X25519, base64url) to send at pairing; without one the service pushes
    /// readable payloads, as to an older app.
    pub push_key: Option<String>,
}

/// A random URL-safe string (96 bits), e.g. for `jti`s.
pub fn rand_suffix() -> String {
    let mut b = [0u8; 12];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    URL_SAFE_NO_PAD.encode(b)
}

impl SoftwareDevice {
    /// A fresh key for a project with `sdk_key`.
    pub fn new(sdk_key: &str) -> Self {
        Self {
            key: Arc::new(SoftwareKey::generate().unwrap()),
            sdk_key: sdk_key.to_owned(),
            sdk_header: "rust/0.1.0".into(),
            pairing: None,
            push: None,
            key_protection: None,
            push_key: None,
        }
    }

    /// The public key as sent at pairing (base64url).
    pub fn key_b64(&self) -> String {
        self.key.public_key().to_base64url()
    }

    /// The device with `pairing` kept (the answer of a successful [`Self::pair`]).
    pub fn with_pairing(mut self, pairing: PairResponse) -> Self {
        self.pairing = Some(pairing);
        self
    }

    /// The account id; panics unless paired.
    pub fn account_id(&self) -> &str {
        &self.pairing.as_ref().expect("paired").account_id
    }

    /// `POST /v1/device/pair` as `user` with `code`. The answer is not kept (keep it with
    /// [`Self::with_pairing`]), so a refused or repeated pairing leaves the device as it was.
    pub async fn pair(
        &self,
        at: &impl ServiceEndpoint,
        user: &str,
        code: &str,
    ) -> (StatusCode, Value) {
        let mut body = json!({"user": user, "pairing_code": code,
                              "public_key": self.key_b64(),
                              "device_name": "test device"});
        if let Some(p) = &self.push {
            body["push"] = p.clone();
        }
        if let Some(k) = self.key_protection {
            body["key_protection"] = json!(k);
        }
        if let Some(k) = &self.push_key {
            body["push_key"] = json!(k);
        }
        let r = at
            .http()
            .post(at.url("/v1/device/pair"))
            .header("x-tapprove-sdk-key", &self.sdk_key)
            .header("x-tapprove-sdk", &self.sdk_header)
            .json(&body)
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    /// An `Authorization` proof for one call.
    pub fn proof(&self, method: &str, path: &str, body: &[u8]) -> String {
        let jti = format!("jti-{}", rand_suffix());
        RequestProof::authorization(
            self.account_id(),
            method,
            path,
            body,
            crate::now(),
            &jti,
            self.key.as_ref(),
        )
        .unwrap()
    }

    /// An authenticated device API call.
    pub async fn call(
        &self,
        at: &impl ServiceEndpoint,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let bytes = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        let auth = self.proof(method, path, &bytes);
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = at
            .http()
            .request(m, at.url(path))
            .header("authorization", auth)
            .header("x-tapprove-sdk", &self.sdk_header);
        if !bytes.is_empty() {
            req = req.header("content-type", "application/json").body(bytes);
        }
        status_json(req.send().await.unwrap()).await
    }

    /// Pending challenges (token, verified challenge).
    pub async fn pending(&self, at: &impl ServiceEndpoint) -> Vec<(String, Challenge)> {
        let (status, body) = self.call(at, "GET", "/v1/device/pending", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let p: PendingResponse = serde_json::from_value(body).expect("pending");
        p.challenges
            .into_iter()
            .map(|t| {
                let c = self.verify(&t);
                (t, c)
            })
            .collect()
    }

    /// Verifies a challenge with the pinned service key; panics otherwise.
    pub fn verify(&self, token: &str) -> Challenge {
        let key = &self.pairing.as_ref().expect("paired").service_key;
        let c = Challenge::verify(token, key, crate::now(), 60)
            .expect("challenge verifies with the pinned key");
        assert_eq!(c.account_id, self.account_id());
        c
    }

    /// The one pending challenge of `session_id`.
    pub async fn challenge_for(&self, at: &impl ServiceEndpoint, session_id: &str) -> Challenge {
        self.pending(at)
            .await
            .into_iter()
            .map(|(_, c)| c)
            .find(|c| c.session_id == session_id)
            .expect("challenge pending for this device")
    }

    /// A signed answer to `c`.
    pub fn sign_answer(
        &self,
        c: &Challenge,
        decision: Decision,
        presence: Option<&str>,
        deny: Option<DenyReason>,
    ) -> String {
        Answer {
            uv: None,
            ver: PROTOCOL_VERSION,
            session_id: c.session_id.clone(),
            account_id: self.account_id().to_owned(),
            decision,
            presence_answer: presence.map(str::to_owned),
            deny_reason: deny,
            iat: crate::now(),
            nonce: c.nonce.clone(),
        }
        .sign(self.key.as_ref())
        .unwrap()
    }

    /// `POST /v1/device/answers` with a signed answer.
    pub async fn send_answer(&self, at: &impl ServiceEndpoint, token: &str) -> (StatusCode, Value) {
        let r = at
            .http()
            .post(at.url("/v1/device/answers"))
            .header("x-tapprove-sdk", &self.sdk_header)
            .json(&json!({"answer": token}))
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    /// Signs and sends an answer.
    pub async fn answer(
        &self,
        at: &impl ServiceEndpoint,
        c: &Challenge,
        decision: Decision,
        presence: Option<&str>,
        deny: Option<DenyReason>,
    ) -> (StatusCode, Value) {
        let token = self.sign_answer(c, decision, presence, deny);
        self.send_answer(at, &token).await
    }

    /// Signs and sends `POST /v1/device/shown`: this device showed `c`'s code (a `display`
    /// challenge) to a user it verified with `uv`.
    pub async fn shown(
        &self,
        at: &impl ServiceEndpoint,
        c: &Challenge,
        uv: tapprove_protocol::UvMethod,
    ) -> (StatusCode, Value) {
        let token = tapprove_protocol::CodeShown {
            ver: PROTOCOL_VERSION,
            session_id: c.session_id.clone(),
            account_id: self.account_id().to_owned(),
            uv,
            iat: crate::now(),
            nonce: c.nonce.clone(),
        }
        .sign(self.key.as_ref())
        .unwrap();
        let r = at
            .http()
            .post(at.url("/v1/device/shown"))
            .header("x-tapprove-sdk", &self.sdk_header)
            .json(&json!({"shown": token}))
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    /// Opens `GET /v1/device/events`.
    pub async fn events(&self, at: &impl ServiceEndpoint) -> SseReader {
        let auth = self.proof("GET", "/v1/device/events", b"");
        let r = at
            .http()
            .get(at.url("/v1/device/events"))
            .header("authorization", auth)
            .header("x-tapprove-sdk", &self.sdk_header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap_or_default();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        SseReader {
            stream: Box::pin(r.bytes_stream()),
            buf: String::new(),
        }
    }
}

/// Reads server-sent events (`event` name, `data`).
pub struct SseReader {
    stream: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buf: String,
}

impl SseReader {
    /// Next event or comment block within `timeout`: (event name or `"comment"`, data).
    pub async fn next_raw(&mut self, timeout: Duration) -> Option<(String, String)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..pos + 2).collect();
                let mut event = String::from("message");
                let mut data = Vec::new();
                let mut comment = None;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        v.clone_into(&mut event);
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push(v.to_owned());
                    } else if let Some(v) = line.strip_prefix(':') {
                        comment = Some(v.trim().to_owned());
                    }
                }
                if data.is_empty() {
                    if let Some(c) = comment {
                        return Some(("comment".into(), c));
                    }
                    continue;
                }
                return Some((event, data.join("\n")));
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??
                .ok()?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Whether the stream ends within `timeout`; `Err` with an event it sent first (comments
    /// are skipped).
    pub async fn ends_within(&mut self, timeout: Duration) -> Result<bool, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..pos + 2).collect();
                if block.lines().any(|l| l.starts_with("data:")) {
                    return Err(block);
                }
                continue;
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Ok(false),
                Ok(None | Some(Err(_))) => return Ok(true),
                Ok(Some(Ok(chunk))) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
            }
        }
    }

    /// Next real event (comments skipped) within `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<(String, String)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (name, data) = self.next_raw(left).await?;
            if name != "comment" {
                return Some((name, data));
            }
        }
    }
}

/// The option equal to the code the login page shows (asserting it is offered).
pub fn right_option(c: &Challenge, code: &str) -> String {
    assert!(
        c.presence.options.iter().any(|o| o == code),
        "code among the options"
    );
    code.to_owned()
}

/// An option that is not the code.
pub fn wrong_option(c: &Challenge, code: &str) -> String {
    c.presence
        .options
        .iter()
        .find(|o| *o != code)
        .expect("a decoy")
        .clone()
}
