//! The credential rules of a project: what the API key, SDK key and webhook secrets look like,
//! how they are made, stored and checked. `admin` makes them; the RP API checks the API key;
//! the trust webhook unseals its credentials.
//!
//! The API key (`tap_api_` + 43 base64url chars, 256 bits) is stored only as a SHA-256 hash
//! and shown once; the SDK key (`tap_sdk_` + 22 chars) is a public identifier; the webhook
//! password and HMAC secret are stored sealed (AES-256-GCM under the seal key) because the
//! service must use them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
pub use tapprove_protocol::credentials::{API_KEY_PREFIX, SDK_KEY_PREFIX};
pub use tapprove_protocol::webhook::SECRET_PREFIX as WEBHOOK_SECRET_PREFIX;
use tapprove_protocol::webhook::ct_eq;
use zeroize::Zeroizing;

use crate::crypto::{self, SealKey, SecretString};
use crate::error::ServiceError;
use crate::store::ProjectRow;

/// A new relying-party API key.
pub(crate) fn new_api_key() -> Result<SecretString, ServiceError> {
    Ok(SecretString::new(format!(
        "{API_KEY_PREFIX}{}",
        crypto::random_b64url(32)?
    )))
}

/// A new SDK key (128 bits: 22 base64url characters).
pub(crate) fn new_sdk_key() -> Result<String, ServiceError> {
    Ok(format!("{SDK_KEY_PREFIX}{}", crypto::random_b64url(16)?))
}

/// Whether an SDK key is worth looking up (the protocol's format).
pub(crate) fn is_well_formed_sdk_key(sdk_key: &str) -> bool {
    tapprove_protocol::credentials::is_well_formed_sdk_key(sdk_key)
}

/// How an API key is stored and looked up: lowercase hex SHA-256. `None` when the key does
/// not even have the API key's shape (no lookup needed).
pub(crate) fn api_key_hash(key: &str) -> Option<String> {
    key.starts_with(API_KEY_PREFIX)
        .then(|| crypto::sha256_hex(key.as_bytes()))
}

/// Whether a stored hash is the one of the presented key, in constant time.
pub(crate) fn api_key_matches(stored_hash: &str, presented_hash: &str) -> bool {
    ct_eq(stored_hash.as_bytes(), presented_hash.as_bytes())
}

/// Label of the key [`pairing_code_tag`] derives from the seal key.
const PAIRING_TAG_LABEL: &[u8] = b"tapprove pairing-code tag v1";

/// What a device account keeps of its pairing code, so that a repeated pairing (same device
/// key, same code, after a lost answer) is recognised: an HMAC-SHA-256 under a key derived
/// from the seal key (a pairing code is short, so a plain hash could be reversed by trying
/// them all).
pub(crate) fn pairing_code_tag(seal_key: &SealKey, project_id: &str, code: &str) -> String {
    let key = crypto::derived_hmac_key(seal_key, PAIRING_TAG_LABEL);
    let mut msg = Vec::with_capacity(32 + project_id.len() + code.len());
    msg.extend_from_slice(b"tapprove pairing code\0");
    msg.extend_from_slice(project_id.as_bytes());
    msg.push(0);
    msg.extend_from_slice(code.as_bytes());
    let tag = ring::hmac::sign(&key, &msg);
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a stored pairing-code tag is the presented one, in constant time.
pub(crate) fn pairing_code_matches(stored: &str, presented: &str) -> bool {
    ct_eq(stored.as_bytes(), presented.as_bytes())
}

/// A new webhook password and Standard Webhooks signing secret (`whsec_` + base64 of 32
/// random bytes).
pub(crate) fn new_webhook_secrets() -> Result<(SecretString, SecretString), ServiceError> {
    let password = SecretString::new(crypto::random_b64url(24)?);
    let mut key = Zeroizing::new([0u8; 32]);
    crypto::fill_random(key.as_mut_slice())?;
    let secret = SecretString::new(format!(
        "{WEBHOOK_SECRET_PREFIX}{}",
        STANDARD.encode(key.as_slice())
    ));
    Ok((password, secret))
}

fn password_aad(project_id: &str) -> String {
    format!("webhook_password:{project_id}")
}

fn secret_aad(project_id: &str) -> String {
    format!("webhook_secret:{project_id}")
}

/// The webhook password and secret sealed for storage in the project's row (bound to it).
pub(crate) fn seal_webhook_credentials(
    seal_key: &SealKey,
    project_id: &str,
    password: &SecretString,
    secret: &SecretString,
) -> Result<(String, String), ServiceError> {
    Ok((
        crypto::seal(
            seal_key,
            &password_aad(project_id),
            password.expose().as_bytes(),
        )?,
        crypto::seal(
            seal_key,
            &secret_aad(project_id),
            secret.expose().as_bytes(),
        )?,
    ))
}

/// The webhook credentials of a project, unsealed (for calling its trust webhook). Fails
/// with `SealKeyMismatch` when the seal key is not the one the database was made with.
pub(crate) fn unseal_webhook_credentials(
    seal_key: &SealKey,
    project: &ProjectRow,
) -> Result<(SecretString, SecretString), ServiceError> {
    let password = crypto::unseal(
        seal_key,
        &password_aad(&project.id),
        &project.webhook_password_sealed,
    )?;
    let secret = crypto::unseal(
        seal_key,
        &secret_aad(&project.id),
        &project.webhook_secret_sealed,
    )?;
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec())
            .map(SecretString::new)
            .map_err(|_| ServiceError::Database("a sealed webhook credential is not UTF-8".into()))
    };
    Ok((text(&password)?, text(&secret)?))
}

/// Device public keys parsed from their stored base64url form. Parsing checks that the point
/// is on the curve, which costs about as much as verifying a signature; the result depends
/// only on the string, so it is kept (bounded: cleared when full).
#[derive(Default)]
pub(crate) struct KeyCache(
    std::sync::Mutex<std::collections::HashMap<String, tapprove_protocol::PublicKey>>,
);

impl KeyCache {
    const MAX: usize = 10_000;

    /// The parsed key of an account (error: the stored key is invalid).
    pub(crate) fn parse(
        &self,
        account: &crate::store::AccountRow,
    ) -> Result<tapprove_protocol::PublicKey, crate::error::ApiError> {
        let lock = || self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = lock().get(&account.public_key) {
            return Ok(key.clone());
        }
        let key =
            tapprove_protocol::PublicKey::from_base64url(&account.public_key).map_err(|_| {
                tracing::error!(account_id = %account.id, "stored device key is invalid");
                crate::error::ApiError::internal()
            })?;
        let mut map = lock();
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(account.public_key.clone(), key.clone());
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HKDF-SHA-256 (RFC 5869) with an empty salt, by hand from HMAC, so the test does not
    /// reuse the code it checks.
    fn hkdf_by_hand(ikm: &[u8], info: &[u8]) -> Vec<u8> {
        let hmac = |key: &[u8], msg: &[u8]| {
            let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
            ring::hmac::sign(&k, msg).as_ref().to_vec()
        };
        let prk = hmac(&[0u8; 32], ikm);
        let mut t1 = info.to_vec();
        t1.push(1);
        hmac(&prk, &t1)
    }

    #[test]
    fn the_pairing_code_tag_key_is_derived_from_the_seal_key_not_the_seal_key() {
        let seal = SealKey::from_bytes([7u8; 32]);
        let msg = b"tapprove pairing code\0prj_1\0ABCD-1234";
        let tag = pairing_code_tag(&seal, "prj_1", "ABCD-1234");
        let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let under_seal_key = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[7u8; 32]),
            msg,
        );
        assert_ne!(tag, hex(under_seal_key.as_ref()));
        let derived = hkdf_by_hand(&[7u8; 32], PAIRING_TAG_LABEL);
        let expected = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &derived),
            msg,
        );
        assert_eq!(tag, hex(expected.as_ref()));
    }

    #[test]
    fn key_shapes() {
        let api = new_api_key().expect("api key");
        assert!(api.expose().starts_with(API_KEY_PREFIX));
        assert_eq!(api.expose().len(), API_KEY_PREFIX.len() + 43);
        let hash = api_key_hash(api.expose()).expect("shape");
        assert_eq!(hash.len(), 64);
        assert!(api_key_matches(&hash, &hash));
        assert!(api_key_hash("tap_sdk_x").is_none());
        let sdk = new_sdk_key().expect("sdk key");
        assert!(tapprove_protocol::credentials::is_well_formed_sdk_key(&sdk));
        let (_, secret) = new_webhook_secrets().expect("secrets");
        let b64 = secret
            .expose()
            .strip_prefix(WEBHOOK_SECRET_PREFIX)
            .expect("whsec_");
        assert_eq!(STANDARD.decode(b64).expect("base64").len(), 32);
    }
}
