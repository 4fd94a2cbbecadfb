//! VAPID (RFC 8292): the service identifies itself to push services with an ES256 JWT per
//! endpoint origin, `Authorization: vapid t=<jwt>,k=<public key>`. Distributors may bind a
//! subscription to the key the app registered with, so the public half is given to apps at
//! pairing (`PairResponse.vapid_public_key`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::HeaderValue;
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject as _;
use secrecy::ExposeSecret as _;
use serde::Serialize;
use tapprove_protocol::{Es256Signer as _, SoftwareKey};
use zeroize::Zeroizing;

use crate::PushConfigError;
use crate::config::read_file;

/// Token lifetime: RFC 8292 allows at most 24 h; half leaves room for clock skew.
const LIFETIME_SECS: i64 = 12 * 3600;
/// A cached token is used while it has at least this long left.
const REUSE_MARGIN_SECS: i64 = 11 * 3600;
/// Origins whose token is cached (endpoints come from devices: bounded).
const MAX_CACHED_ORIGINS: usize = 1024;

#[derive(Serialize)]
struct Header {
    typ: &'static str,
    alg: &'static str,
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    exp: i64,
    sub: &'a str,
}

/// The service's VAPID key and the tokens made with it.
pub(crate) struct Vapid {
    key: SoftwareKey,
    public: String,
    subject: String,
    cache: Mutex<HashMap<String, (i64, HeaderValue)>>,
}

impl Vapid {
    /// Loads the key (PKCS#8 PEM, P-256) and checks the contact `subject`.
    pub(crate) fn load(path: &Path, subject: &str) -> Result<Self, PushConfigError> {
        let bad = |detail: String| PushConfigError::BadVapidKey {
            path: path.to_owned(),
            detail,
        };
        let pem = read_file("VAPID key", "push.webpush.vapid_key_path", path)?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.expose_secret()).map_err(|e| {
            if String::from_utf8_lossy(pem.expose_secret()).contains("BEGIN EC PRIVATE KEY") {
                bad("it is a SEC1 `EC PRIVATE KEY`; convert it with `openssl pkcs8 -topk8 -nocrypt`".into())
            } else {
                bad(format!("no `-----BEGIN PRIVATE KEY-----` block ({e})"))
            }
        })?;
        let key = SoftwareKey::from_pkcs8(der.secret_pkcs8_der())
            .map_err(|_| bad("the PRIVATE KEY block is not a P-256 key".into()))?;
        if !(subject.starts_with("mailto:") || subject.starts_with("https://"))
            || subject.len() > 256
            || subject.chars().any(char::is_whitespace)
        {
            return Err(PushConfigError::Invalid {
                field: "push.webpush.subject",
                problem: "must be a contact URI: `mailto:ops@example.com` or `https://…`".into(),
            });
        }
        Ok(Self {
            public: URL_SAFE_NO_PAD.encode(key.public_key().as_bytes()),
            key,
            subject: subject.to_owned(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The public key, uncompressed P-256 in base64url: what apps register with.
    pub(crate) fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` value for a push to `origin` at `now` (Unix seconds):
    /// `vapid t=<jwt>,k=<key>`, without a space after the comma (valid HTTP, and what the
    /// reference libraries write and some verifiers insist on).
    pub(crate) fn authorization(&self, origin: &str, now: i64) -> Result<HeaderValue, String> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((exp, value)) = cache.get(origin)
            && exp - now >= REUSE_MARGIN_SECS
        {
            return Ok(value.clone());
        }
        let exp = now + LIFETIME_SECS;
        let jwt = self.sign(origin, exp)?;
        let mut value =
            HeaderValue::from_str(&format!("vapid t={},k={}", jwt.as_str(), self.public))
                .map_err(|_| "the VAPID header cannot be encoded".to_owned())?;
        value.set_sensitive(true);
        if cache.len() >= MAX_CACHED_ORIGINS {
            cache.clear();
        }
        cache.insert(origin.to_owned(), (exp, value.clone()));
        Ok(value)
    }

    fn sign(&self, aud: &str, exp: i64) -> Result<Zeroizing<String>, String> {
        let header = Header {
            typ: "JWT",
            alg: "ES256",
        };
        let claims = Claims {
            aud,
            exp,
            sub: &self.subject,
        };
        let mut jwt = Zeroizing::new(format!("{}.{}", part(&header)?, part(&claims)?));
        let signature = self.key.sign(jwt.as_bytes()).map_err(|e| e.to_string())?;
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(jwt)
    }
}

/// A JWT part: serialised, then base64url.
fn part<T: Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_vec(value)
        .map(|b| URL_SAFE_NO_PAD.encode(b))
        .map_err(|e| format!("could not serialise the VAPID token: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapprove_protocol::PublicKey;

    fn vapid(dir: &tempfile::TempDir) -> Vapid {
        let key = SoftwareKey::generate().expect("key");
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(key.secret_pkcs8_der())
        );
        let path = dir.path().join("vapid.pem");
        std::fs::write(&path, pem).expect("write");
        Vapid::load(&path, "mailto:ops@example.com").expect("load")
    }

    #[test]
    fn the_token_is_es256_for_the_origin_and_cached() {
        let dir = tempfile::tempdir().expect("dir");
        let v = vapid(&dir);
        let now = 1_800_000_000;
        let value = v
            .authorization("https://ntfy.example", now)
            .expect("header");
        assert!(value.is_sensitive());
        let text = value.to_str().expect("ascii");
        let (t, k) = text
            .strip_prefix("vapid t=")
            .and_then(|r| r.split_once(",k="))
            .expect("vapid t=…, k=…");
        assert_eq!(k, v.public_key());
        let parts: Vec<&str> = t.split('.').collect();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
        assert_eq!(claims["aud"], "https://ntfy.example");
        assert_eq!(claims["exp"], now + LIFETIME_SECS);
        assert_eq!(claims["sub"], "mailto:ops@example.com");
        let public = PublicKey::from_base64url(k).expect("public key");
        let signed = format!("{}.{}", parts[0], parts[1]);
        public
            .verify(
                signed.as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).expect("sig"),
            )
            .expect("valid ES256");
        // Reused within the hour, re-minted after.
        assert_eq!(
            v.authorization("https://ntfy.example", now + 600)
                .expect("h"),
            value
        );
        assert_ne!(
            v.authorization("https://ntfy.example", now + 3601)
                .expect("h"),
            value
        );
    }

    #[test]
    fn bad_settings_say_what_to_do() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("k.pem");
        std::fs::write(
            &path,
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        )
        .expect("write");
        let e = Vapid::load(&path, "mailto:a@b")
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("openssl pkcs8"), "{e}");
        let v = vapid(&dir);
        let good = dir.path().join("vapid.pem");
        let e = Vapid::load(&good, "ops@example.com")
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("push.webpush.subject"), "{e}");
        drop(v);
    }
}
