//! Randomness, hashing, sealing (AES-256-GCM) and identifiers.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Deserializer, Serializer};
use zeroize::Zeroizing;

use crate::error::ServiceError;

/// A secret string (API key, webhook password, HMAC secret) shown once. It is
/// `secrecy::SecretString` (the secret type of the server and push crates: zeroized on drop,
/// Debug redacted, no `Serialize`), wrapped only to keep the short `expose()` its callers use.
/// A value that shows a secret to the operator marks that field
/// `#[serde(serialize_with = "show_once")]`: nothing serialises a secret by accident.
///
/// ```compile_fail
/// let key = tapprove_server::SecretString::new("tap_secret".into());
/// serde_json::to_string(&key).unwrap(); // no Serialize
/// ```
#[derive(Clone)]
pub struct SecretString(secrecy::SecretString);

impl SecretString {
    /// Wraps a secret.
    pub fn new(s: String) -> Self {
        Self(secrecy::SecretString::from(s))
    }

    /// The secret itself. Named so every use stands out.
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Serialises a secret's content: for the fields that show a secret to the operator once
/// (`#[serde(serialize_with = "show_once")]`).
pub fn show_once<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose())
}

/// The 32-byte key that seals secrets at rest (the service signing key, webhook passwords and
/// HMAC secrets) with AES-256-GCM. Debug never prints it; it is zeroized on drop.
///
/// In config and in `TAPPROVE_SEAL_KEY` it is 32 bytes in base64 (standard or URL-safe,
/// padding optional), e.g. from `openssl rand -base64 32`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey(Zeroizing<[u8; 32]>);

impl SealKey {
    /// Wraps 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Parses the base64 form (standard or URL-safe alphabet, padding optional).
    pub fn from_base64(text: &str) -> Result<Self, ServiceError> {
        let text = text.trim();
        let unpadded = text.trim_end_matches('=');
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(unpadded.replace('+', "-").replace('/', "_"))
                .map_err(|_| ServiceError::InvalidSealKey("it is not valid base64".into()))?,
        );
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            ServiceError::InvalidSealKey(format!("it decodes to {} bytes, not 32", bytes.len()))
        })?;
        Ok(Self::from_bytes(arr))
    }

    /// A fresh random key from the OS CSPRNG.
    pub fn generate() -> Result<Self, ServiceError> {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes)?;
        Ok(Self::from_bytes(bytes))
    }

    /// The base64 (standard, padded) form, for writing into a 0600 file or a secret store.
    /// Named so every use stands out.
    pub fn secret_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0.as_slice()))
    }

    /// The raw key bytes (crate-internal: only the sealing code needs them).
    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey([redacted])")
    }
}

impl<'de> Deserialize<'de> for SealKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        Self::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// Fills `buf` from the OS CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), ServiceError> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| ServiceError::Crypto("the OS random generator failed".into()))
}

/// `n` random bytes as base64url without padding.
pub(crate) fn random_b64url(n: usize) -> Result<String, ServiceError> {
    let mut buf = Zeroizing::new(vec![0u8; n]);
    fill_random(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(buf.as_slice()))
}

/// A uniformly random integer in `0..bound` (rejection sampling, no modulo bias).
pub(crate) fn random_below(bound: u32) -> Result<u32, ServiceError> {
    debug_assert!(bound > 0);
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let mut b = [0u8; 4];
        fill_random(&mut b)?;
        let v = u32::from_le_bytes(b);
        if v < zone {
            return Ok(v % bound);
        }
    }
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A ULID-style id with a prefix: 48-bit millisecond time + 80 random bits, Crockford base32
/// (26 characters), e.g. `ses_01JDEMO…`. Sorts by creation time.
pub(crate) fn new_id(prefix: &str) -> Result<String, ServiceError> {
    Ok(encode_id(prefix, ulid_value()?))
}

/// Like [`new_id`], but each id this process makes is greater than the one before (a ULID's
/// monotonic mode: within one millisecond the random part counts up), so rows written one
/// after the other sort in that order.
pub(crate) fn new_monotonic_id(prefix: &str) -> Result<String, ServiceError> {
    static LAST: std::sync::Mutex<u128> = std::sync::Mutex::new(0);
    let fresh = ulid_value()?;
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let value = if fresh > *last {
        fresh
    } else {
        last.saturating_add(1)
    };
    *last = value;
    Ok(encode_id(prefix, value))
}

fn ulid_value() -> Result<u128, ServiceError> {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut rand = [0u8; 10];
    fill_random(&mut rand)?;
    let mut value: u128 = (millis & 0xFFFF_FFFF_FFFF) << 80;
    for (i, b) in rand.iter().enumerate() {
        value |= (*b as u128) << (8 * (9 - i));
    }
    Ok(value)
}

fn encode_id(prefix: &str, value: u128) -> String {
    let mut out = String::with_capacity(prefix.len() + 26);
    out.push_str(prefix);
    for i in (0..26).rev() {
        let idx = ((value >> (5 * i)) & 0x1F) as usize;
        out.push(CROCKFORD[idx] as char);
    }
    out
}

/// Lowercase hex SHA-256 of `data` (how API keys are stored and looked up).
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

const SEAL_PREFIX: &str = "v1.";

/// Seals `plaintext` with AES-256-GCM under `key`, binding it to `aad` (what the value is and
/// which row it belongs to, so sealed values cannot be swapped between rows). Output:
/// An HMAC-SHA-256 key for one purpose, derived from the seal key with HKDF-SHA-256 and
/// `label`: the seal key itself only ever seals, and one purpose's tags say nothing about
/// another's.
pub(crate) fn derived_hmac_key(key: &SealKey, label: &[u8]) -> ring::hmac::Key {
    let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &[]).extract(key.secret_bytes());
    let info = [label];
    // `expand` fails only for an output longer than 255 hashes; one HMAC key never is.
    match prk.expand(&info, ring::hmac::HMAC_SHA256) {
        Ok(okm) => ring::hmac::Key::from(okm),
        Err(ring::error::Unspecified) => unreachable!("a 32-byte HKDF output is always valid"),
    }
}

/// `v1.` + base64url(nonce || ciphertext || tag).
pub(crate) fn seal(key: &SealKey, aad: &str, plaintext: &[u8]) -> Result<String, ServiceError> {
    let aead = aead_key(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    let mut buf = Zeroizing::new(plaintext.to_vec());
    aead.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad.as_bytes()),
        &mut *buf,
    )
    .map_err(|_| ServiceError::Crypto("sealing failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(format!("{SEAL_PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
}

/// Opens a value made by [`seal`] with the same `aad`.
pub(crate) fn unseal(
    key: &SealKey,
    aad: &str,
    sealed: &str,
) -> Result<Zeroizing<Vec<u8>>, ServiceError> {
    let raw = sealed
        .strip_prefix(SEAL_PREFIX)
        .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
        .filter(|r| r.len() >= NONCE_LEN + AES_256_GCM.tag_len())
        .ok_or_else(|| {
            ServiceError::Database("a sealed value in the database is corrupt".into())
        })?;
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| ServiceError::Crypto("bad nonce length".into()))?;
    let mut buf = Zeroizing::new(ct.to_vec());
    let aead = aead_key(key)?;
    let plain = aead
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut buf,
        )
        .map_err(|_| ServiceError::SealKeyMismatch)?;
    Ok(Zeroizing::new(plain.to_vec()))
}

fn aead_key(key: &SealKey) -> Result<LessSafeKey, ServiceError> {
    let unbound = UnboundKey::new(&AES_256_GCM, key.secret_bytes())
        .map_err(|_| ServiceError::Crypto("bad AES key".into()))?;
    Ok(LessSafeKey::new(unbound))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_binds_aad_and_key() {
        let key = SealKey::from_bytes([7u8; 32]);
        let sealed = seal(&key, "webhook_password:prj_1", b"hunter2").expect("seal");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(
            unseal(&key, "webhook_password:prj_1", &sealed)
                .expect("open")
                .as_slice(),
            b"hunter2"
        );
        assert!(matches!(
            unseal(&key, "webhook_password:prj_2", &sealed),
            Err(ServiceError::SealKeyMismatch)
        ));
        let other = SealKey::from_bytes([8u8; 32]);
        assert!(matches!(
            unseal(&other, "webhook_password:prj_1", &sealed),
            Err(ServiceError::SealKeyMismatch)
        ));
    }

    #[test]
    fn ids_and_randomness() {
        let a = new_id("ses_").expect("id");
        let b = new_id("ses_").expect("id");
        assert_eq!(a.len(), 30);
        assert_ne!(a, b);
        assert!(a[4..].chars().all(|c| CROCKFORD.contains(&(c as u8))));
        for _ in 0..200 {
            assert!(random_below(100).expect("rand") < 100);
        }
        assert_eq!(sha256_hex(b"").len(), 64);
    }

    #[test]
    fn secret_string_debug_is_redacted_and_shown_only_where_marked() {
        let s = SecretString::new("tap_api_secret".into());
        assert_eq!(format!("{s:?}"), "[redacted]");
        #[derive(serde::Serialize)]
        struct Shown {
            #[serde(serialize_with = "show_once")]
            key: SecretString,
        }
        assert_eq!(
            serde_json::to_string(&Shown { key: s }).expect("json"),
            r#"{"key":"tap_api_secret"}"#
        );
    }
}
