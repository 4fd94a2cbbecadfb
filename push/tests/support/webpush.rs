//! A loopback push service (RFC 8030) enforcing the UnifiedPush server contract, as a
//! distributor's endpoint does: `POST /push/<id>` over TLS (HTTP/1.1 or HTTP/2), VAPID
//! (RFC 8292: ES256 JWT signed by the `k` key, `aud` = this origin, `exp` within 24 h, a
//! contact `sub`; 401 otherwise, 403 when the subscription was made with another key), `TTL`,
//! `Urgency` and `Topic` in their RFC 8030 forms, `Content-Encoding: aes128gcm`, a body of at
//! most 4096 bytes (413 otherwise) that decrypts with the subscription's private key (RFC 8291,
//! decrypted here independently of the sender). Accepted requests are recorded with their
//! plaintext, then answered from a per-subscription script (default 201 Created).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::Request;
use hyper::body::Incoming;
use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::agreement::{self, ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey};
use ring::hkdf::{HKDF_SHA256, KeyType, Salt};
use ring::rand::{SecureRandom as _, SystemRandom};
use serde_json::{Value, json};
use tapprove_protocol::PublicKey;
use tapprove_protocol::api::PushPlatform;
use tapprove_push::{PushTarget, WebPushConfig};

use super::{Body, Handler, TestPki, bind, read_body, respond, serve, unix_now};

/// A scripted answer to one push.
#[derive(Debug, Clone)]
pub enum WpReply {
    /// This status, no `Retry-After`.
    Status(u16),
    /// 429 (or any status) with `Retry-After: secs`.
    RetryAfter(u16, u64),
    /// 301 to this path of the same server (a sender must not follow it).
    Redirect(&'static str),
}

/// A subscription as a UnifiedPush connector makes it: a P-256 key pair and an auth secret.
#[derive(Clone)]
pub struct TestSubscription {
    pub id: String,
    pub endpoint: String,
    /// The registration token the device sends (`{"endpoint","keys":{"p256dh","auth"}}`).
    pub token: String,
    private: [u8; 32],
    public: [u8; 65],
    auth: [u8; 16],
    /// The VAPID key the app registered with (`None`: any key).
    vapid_key: Option<String>,
}

impl TestSubscription {
    pub fn target(&self, device: &str) -> PushTarget {
        PushTarget {
            device_id: device.into(),
            platform: PushPlatform::Webpush,
            token: self.token.clone(),
            environment: None,
            registered_at: unix_now() - 60,
        }
    }

    /// The private key (32-byte scalar), for independent decrypters.
    pub fn private_key(&self) -> [u8; 32] {
        self.private
    }

    pub fn auth(&self) -> [u8; 16] {
        self.auth
    }

    /// Decrypts an `aes128gcm` body sent to this subscription (RFC 8291 §3.4, RFC 8188).
    pub fn decrypt(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        decrypt(body, &self.private, &self.public, &self.auth)
    }
}

/// One accepted push.
#[derive(Debug, Clone)]
pub struct WpRecord {
    pub id: String,
    pub ttl: i64,
    pub urgency: Option<String>,
    pub topic: Option<String>,
    pub content_type: Option<String>,
    /// The `Authorization` header, as sent.
    pub authorization: String,
    /// The encrypted body, as sent.
    pub body: Vec<u8>,
    /// The decrypted message (the FCM data map as JSON).
    pub plaintext: Value,
}

#[derive(Default)]
struct State {
    origin: String,
    subs: Mutex<HashMap<String, TestSubscription>>,
    scripts: Mutex<HashMap<String, VecDeque<WpReply>>>,
    records: Mutex<Vec<WpRecord>>,
    requests: Mutex<HashMap<String, usize>>,
    /// Requests refused before the script (bad VAPID, headers, size, ciphertext): why.
    refusals: Mutex<Vec<(u16, String)>>,
    total: AtomicUsize,
    record: bool,
}

pub struct MockWebPush {
    pub url: String,
    state: Arc<State>,
}

impl MockWebPush {
    pub fn start(pki: &TestPki) -> Self {
        Self::start_on(&tokio::runtime::Handle::current(), pki, true)
    }

    /// On `runtime`; `record: false` keeps no records (the benchmark).
    pub fn start_on(runtime: &tokio::runtime::Handle, pki: &TestPki, record: bool) -> Self {
        let (listener, addr) = bind();
        let url = format!("https://127.0.0.1:{}", addr.port());
        let state = Arc::new(State {
            origin: url.clone(),
            record,
            ..State::default()
        });
        let handler_state = state.clone();
        let handler: Handler = Arc::new(move |req| {
            let state = handler_state.clone();
            Box::pin(async move { handle(&state, req).await })
        });
        runtime.spawn(serve(
            listener,
            pki.acceptor(&[b"h2", b"http/1.1"]),
            handler,
            Arc::new(AtomicUsize::new(0)),
            false,
            Arc::new(tokio::sync::Notify::new()),
        ));
        Self { url, state }
    }

    /// A new subscription on this server (any VAPID key accepted).
    pub fn subscribe(&self) -> TestSubscription {
        self.subscribe_for(None)
    }

    /// A new subscription bound to `vapid_key` (what a connector registers with).
    pub fn subscribe_for(&self, vapid_key: Option<&str>) -> TestSubscription {
        let rng = SystemRandom::new();
        let (private, public) = loop {
            let mut private = [0u8; 32];
            rng.fill(&mut private).expect("random");
            if let Some(public) = public_of(&private) {
                break (private, public);
            }
        };
        let mut auth = [0u8; 16];
        rng.fill(&mut auth).expect("random");
        let mut id = [0u8; 12];
        rng.fill(&mut id).expect("random");
        let id = URL_SAFE_NO_PAD.encode(id);
        let endpoint = format!("{}/push/{id}", self.url);
        let token = json!({"endpoint": endpoint, "keys": {
            "p256dh": URL_SAFE_NO_PAD.encode(public), "auth": URL_SAFE_NO_PAD.encode(auth)}})
        .to_string();
        let sub = TestSubscription {
            id: id.clone(),
            endpoint,
            token,
            private,
            public,
            auth,
            vapid_key: vapid_key.map(str::to_owned),
        };
        self.state
            .subs
            .lock()
            .expect("lock")
            .insert(id, sub.clone());
        sub
    }

    /// Forgets a subscription: its endpoint answers 410 Gone from now on.
    pub fn unsubscribe(&self, sub: &TestSubscription) {
        self.state.subs.lock().expect("lock").remove(&sub.id);
    }

    pub fn script(&self, sub: &TestSubscription, replies: Vec<WpReply>) {
        self.state
            .scripts
            .lock()
            .expect("lock")
            .insert(sub.id.clone(), replies.into());
    }

    pub fn records(&self) -> Vec<WpRecord> {
        self.state.records.lock().expect("lock").clone()
    }

    pub fn records_for(&self, sub: &TestSubscription) -> Vec<WpRecord> {
        self.records()
            .into_iter()
            .filter(|r| r.id == sub.id)
            .collect()
    }

    /// Requests that reached `/push/<id>` (accepted or not).
    pub fn requests_for(&self, id: &str) -> usize {
        self.state
            .requests
            .lock()
            .expect("lock")
            .get(id)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_requests(&self) -> usize {
        self.state.total.load(Ordering::Relaxed)
    }

    pub fn refusals(&self) -> Vec<(u16, String)> {
        self.state.refusals.lock().expect("lock").clone()
    }
}

/// A `[push.webpush]` section with a fresh VAPID key written into `dir`, admitting loopback.
pub fn webpush_config(dir: &std::path::Path) -> (WebPushConfig, tapprove_protocol::SoftwareKey) {
    let key = tapprove_protocol::SoftwareKey::generate().expect("key");
    let path = dir.join("vapid.pem");
    std::fs::write(&path, super::pem("PRIVATE KEY", key.secret_pkcs8_der())).expect("write");
    (
        WebPushConfig {
            vapid_key_path: path,
            subject: "mailto:ops@example.com".into(),
            allow_addresses: vec!["127.0.0.0/8".into()],
        },
        key,
    )
}

fn public_of(private: &[u8; 32]) -> Option<[u8; 65]> {
    let key = fixed_key(private)?;
    let public = key.compute_public_key().ok()?;
    public.as_ref().try_into().ok()
}

/// ring makes ECDH keys only from its random source: a fixed source turns stored bytes back
/// into the same key (test code only).
#[allow(deprecated)]
fn fixed_key(private: &[u8; 32]) -> Option<EphemeralPrivateKey> {
    let rng = ring::test::rand::FixedSliceRandom { bytes: private };
    EphemeralPrivateKey::generate(&ECDH_P256, &rng).ok()
}

struct Len(usize);
impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf<const N: usize>(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> [u8; N] {
    let mut out = [0u8; N];
    Salt::new(HKDF_SHA256, salt)
        .extract(ikm)
        .expand(info, Len(N))
        .and_then(|okm| okm.fill(&mut out))
        .expect("hkdf");
    out
}

fn decrypt(
    body: &[u8],
    private: &[u8; 32],
    ua_public: &[u8; 65],
    auth: &[u8; 16],
) -> Result<Vec<u8>, String> {
    if body.len() < 21 {
        return Err("shorter than the aes128gcm header".into());
    }
    let salt = &body[..16];
    let rs = u32::from_be_bytes(body[16..20].try_into().expect("4"));
    let idlen = usize::from(body[20]);
    if idlen != 65 || body.len() < 21 + idlen {
        return Err(format!(
            "key id of {idlen} bytes; RFC 8291 needs the 65-byte sender key"
        ));
    }
    let as_public = &body[21..21 + idlen];
    let mut record = body[21 + idlen..].to_vec();
    if record.len() > rs as usize || rs < 18 {
        return Err(format!(
            "a {}-byte record with rs {rs}: more than one record",
            record.len()
        ));
    }
    let key = fixed_key(private).ok_or("bad subscription key")?;
    let ikm =
        agreement::agree_ephemeral(key, &UnparsedPublicKey::new(&ECDH_P256, as_public), |s| {
            hkdf::<32>(auth, s, &[b"WebPush: info\0", ua_public, as_public])
        })
        .map_err(|_| "the sender's key is not on P-256".to_owned())?;
    let cek = hkdf::<16>(salt, &ikm, &[b"Content-Encoding: aes128gcm\0"]);
    let nonce = hkdf::<12>(salt, &ikm, &[b"Content-Encoding: nonce\0"]);
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).expect("key"));
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut record,
        )
        .map_err(|_| "the record does not decrypt".to_owned())?;
    let end = plain
        .iter()
        .rposition(|b| *b != 0)
        .ok_or("no padding delimiter")?;
    if plain[end] != 2 {
        return Err("the only record must end with delimiter 0x02".into());
    }
    Ok(plain[..end].to_vec())
}

/// Checks `Authorization: vapid t=<jwt>, k=<key>`; the key on success.
fn check_vapid(state: &State, value: &str) -> Result<String, String> {
    let rest = value.strip_prefix("vapid ").ok_or("not the vapid scheme")?;
    let (mut t, mut k) = (None, None);
    for param in rest.split(',') {
        match param.trim().split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("k", v)) => k = Some(v),
            _ => return Err(format!("unknown parameter {param:?}")),
        }
    }
    let (t, k) = (t.ok_or("no t=")?, k.ok_or("no k=")?);
    let key = PublicKey::from_base64url(k).map_err(|_| "k is not a P-256 key")?;
    let parts: Vec<&str> = t.split('.').collect();
    if parts.len() != 3 {
        return Err("t is not a compact JWS".into());
    }
    let decode = |p: &str| {
        URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| "bad base64url".to_owned())
    };
    let header: Value = serde_json::from_slice(&decode(parts[0])?).map_err(|e| e.to_string())?;
    let claims: Value = serde_json::from_slice(&decode(parts[1])?).map_err(|e| e.to_string())?;
    if header["alg"] != "ES256" {
        return Err("alg must be ES256".into());
    }
    key.verify(
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &decode(parts[2])?,
    )
    .map_err(|_| "bad signature")?;
    if claims["aud"] != state.origin.as_str() {
        return Err(format!(
            "aud {} is not this origin {}",
            claims["aud"], state.origin
        ));
    }
    let exp = claims["exp"].as_i64().ok_or("no exp")?;
    let now = unix_now();
    if exp <= now || exp > now + 24 * 3600 {
        return Err(format!("exp {exp} is not within 24 h of now"));
    }
    let sub = claims["sub"].as_str().unwrap_or_default();
    if !(sub.starts_with("mailto:") || sub.starts_with("https://")) {
        return Err("sub must be a mailto: or https: contact".into());
    }
    Ok(k.to_owned())
}

fn refuse(state: &State, status: u16, why: String) -> hyper::Response<Body> {
    state
        .refusals
        .lock()
        .expect("lock")
        .push((status, why.clone()));
    respond(status, &[], json!({"error": why}))
}

async fn handle(state: &State, req: Request<Incoming>) -> hyper::Response<Body> {
    state.total.fetch_add(1, Ordering::Relaxed);
    let Some(id) = req.uri().path().strip_prefix("/push/").map(str::to_owned) else {
        return respond(404, &[], Value::Null);
    };
    *state
        .requests
        .lock()
        .expect("lock")
        .entry(id.clone())
        .or_default() += 1;
    if req.method() != hyper::Method::POST {
        return respond(405, &[], Value::Null);
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let Some(sub) = state.subs.lock().expect("lock").get(&id).cloned() else {
        return respond(410, &[], Value::Null);
    };
    let authorization = header("authorization").unwrap_or_default();
    let key = match check_vapid(state, &authorization) {
        Ok(key) => key,
        Err(why) => return refuse(state, 401, format!("VAPID: {why}")),
    };
    if sub.vapid_key.as_ref().is_some_and(|k| *k != key) {
        return refuse(
            state,
            403,
            "VAPID key differs from the subscription's".into(),
        );
    }
    let Some(ttl) = header("ttl")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|t| *t >= 0)
    else {
        return refuse(
            state,
            400,
            "TTL missing or not a non-negative integer".into(),
        );
    };
    let urgency = header("urgency");
    if let Some(u) = &urgency
        && !["very-low", "low", "normal", "high"].contains(&u.as_str())
    {
        return refuse(state, 400, format!("Urgency {u:?}"));
    }
    let topic = header("topic");
    if let Some(t) = &topic
        && (t.len() > 32
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return refuse(state, 400, format!("Topic {t:?}"));
    }
    if header("content-encoding").as_deref() != Some("aes128gcm") {
        return refuse(state, 400, "Content-Encoding must be aes128gcm".into());
    }
    let content_type = header("content-type");
    let Ok(body) = read_body(req).await else {
        return refuse(state, 400, "unreadable body".into());
    };
    if body.len() > 4096 {
        return refuse(state, 413, format!("{}-byte body", body.len()));
    }
    let plaintext = match sub.decrypt(&body) {
        Ok(p) => p,
        Err(why) => return refuse(state, 400, format!("aes128gcm: {why}")),
    };
    let Ok(plaintext) = serde_json::from_slice::<Value>(&plaintext) else {
        return refuse(state, 400, "the message is not the JSON data map".into());
    };
    if state.record {
        state.records.lock().expect("lock").push(WpRecord {
            id: id.clone(),
            ttl,
            urgency,
            topic,
            content_type,
            authorization,
            body: body.to_vec(),
            plaintext,
        });
    }
    let reply = state
        .scripts
        .lock()
        .expect("lock")
        .get_mut(&id)
        .and_then(VecDeque::pop_front);
    match reply {
        None => respond(201, &[("location", format!("/message/{id}"))], Value::Null),
        Some(WpReply::Status(status)) => respond(status, &[], Value::Null),
        Some(WpReply::RetryAfter(status, secs)) => {
            respond(status, &[("retry-after", secs.to_string())], Value::Null)
        }
        Some(WpReply::Redirect(path)) => respond(
            301,
            &[("location", format!("{}{path}", state.origin))],
            Value::Null,
        ),
    }
}
