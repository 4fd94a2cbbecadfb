//! Platform capabilities implemented in Kotlin/Swift, and the bridge structs that turn them into
//! the core's traits.
//!
//! Every foreign method returns `Result<_, AuthError>`: an exception thrown by app code comes back
//! to Rust as an error (see `From<UnexpectedUniFFICallbackError> for AuthError`), never a panic.
//!
//! **Re-entrancy:** the core may hold an internal lock while it calls these methods. An
//! implementation must not call back into the [`crate::Authenticator`] (directly or by blocking
//! on a task that does); doing so can deadlock.

use std::sync::Arc;

use tapprove_core::{
    self as core, PUBLIC_KEY_LEN, PublicKey, SIGNATURE_LEN, SecretBytes, SignerError, StoreError,
};

use crate::error::{AuthError, to_signer_error, to_store_error};
use crate::types::{KeyProtection, VerifyResult};

/// Secure storage for account metadata (the Keychain on iOS, Keystore-sealed preferences on
/// Android). Values are opaque bytes; keys are short names like `account/acc_…`. The SDK never
/// puts a private key here when the app supplies its own [`DeviceSigner`].
///
/// Read paths must not require user presence (biometrics): a Notification Service Extension
/// reads accounts in the background.
#[uniffi::export(foreign)]
pub trait SecureStore: Send + Sync {
    /// The value under `key`, or `None` if there is none.
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, AuthError>;
    /// Stores `value` under `key`, replacing any previous value.
    fn set(&self, key: String, value: Vec<u8>) -> Result<(), AuthError>;
    /// Removes `key`; removing a missing key is not an error.
    fn delete(&self, key: String) -> Result<(), AuthError>;
    /// Every key starting with `prefix`, in any order.
    fn list_keys(&self, prefix: String) -> Result<Vec<String>, AuthError>;
}

/// Device keys: one P-256 key per account, created and used inside the platform's key store
/// (Secure Enclave, StrongBox/TEE). Private keys never cross the FFI: this trait only returns
/// public keys and signatures.
#[uniffi::export(foreign)]
pub trait DeviceSigner: Send + Sync {
    /// Creates a new P-256 key under `alias` (replacing any key with that alias) and returns its
    /// public key: the 65-byte uncompressed point (`04 || X || Y`, e.g. iOS
    /// `SecKeyCopyExternalRepresentation`) or the X.509 SubjectPublicKeyInfo DER (e.g. Java
    /// `PublicKey.getEncoded()`).
    fn create_key(&self, alias: String) -> Result<Vec<u8>, AuthError>;
    /// The public key under `alias` (same encodings as `create_key`), or `None` if there is no
    /// such key.
    fn public_key(&self, alias: String) -> Result<Option<Vec<u8>>, AuthError>;
    /// An ECDSA P-256 / SHA-256 signature of `message` (the signer hashes): raw 64-byte
    /// `r || s`, or DER (`SHA256withECDSA`, `.ecdsaSignatureMessageX962SHA256`).
    fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, AuthError>;
    /// Deletes the key under `alias`; deleting a missing key is not an error.
    fn delete_key(&self, alias: String) -> Result<(), AuthError>;
    /// Where this signer keeps its keys, sent at pairing and shown to the site:
    /// [`KeyProtection::Hardware`] for Secure Enclave, StrongBox or TEE-backed Keystore keys,
    /// [`KeyProtection::Software`] otherwise. A thrown exception reports `Unknown`.
    fn key_protection(&self) -> Result<KeyProtection, AuthError>;
}

/// The current time. Only for tests and tools that must move time (for example to check
/// the shared test vectors); apps use [`crate::Authenticator::new`], which uses the system clock.
#[uniffi::export(foreign)]
pub trait Clock: Send + Sync {
    /// Unix seconds.
    fn now_unix(&self) -> Result<i64, AuthError>;
}

/// The user-verification prompt (docs/CORE.md "User verification"): Android
/// `BiometricPrompt` with `BIOMETRIC_STRONG or DEVICE_CREDENTIAL` (KeyguardManager before API
/// 30), iOS `LAContext.evaluatePolicy(.deviceOwnerAuthentication)`. Called on a background
/// thread, never on the main thread, and may block until the user answers: show the prompt on
/// the UI thread and wait for its callback. Return only the outcome; nothing else crosses the
/// FFI. A thrown exception counts as a failed verification (nothing is sent).
#[uniffi::export(foreign)]
pub trait UserVerifier: Send + Sync {
    /// Asks the user to confirm it is them; `reason` is the sentence to show.
    fn verify(&self, reason: String) -> Result<VerifyResult, AuthError>;
}

/// Turns a foreign [`UserVerifier`] into the core's.
pub(crate) struct VerifierBridge(pub(crate) Arc<dyn UserVerifier>);

impl core::UserVerifier for VerifierBridge {
    fn verify(&self, reason: &str) -> core::VerifyOutcome {
        match self.0.verify(reason.to_owned()) {
            Ok(VerifyResult::Verified { method }) => core::VerifyOutcome::Verified(method.into()),
            Ok(VerifyResult::Cancelled) => core::VerifyOutcome::Cancelled,
            Ok(VerifyResult::Unavailable) => core::VerifyOutcome::Unavailable,
            Err(e) => core::VerifyOutcome::Failed {
                message: e.to_string(),
            },
        }
    }
}

/// Turns a foreign [`SecureStore`] into the core's store.
pub(crate) struct StoreBridge(pub(crate) Arc<dyn SecureStore>);

impl core::SecureStore for StoreBridge {
    fn get(&self, key: &str) -> Result<Option<SecretBytes>, StoreError> {
        Ok(self
            .0
            .get(key.to_owned())
            .map_err(to_store_error)?
            .map(SecretBytes::new))
    }

    fn set(&self, key: &str, value: SecretBytes) -> Result<(), StoreError> {
        self.0
            .set(key.to_owned(), value.expose_secret().to_vec())
            .map_err(to_store_error)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.delete(key.to_owned()).map_err(to_store_error)
    }

    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.0.list_keys(prefix.to_owned()).map_err(to_store_error)
    }
}

/// Turns a foreign [`DeviceSigner`] into the core's signer, normalising key and signature
/// encodings and checking every signature before the core uses it.
pub(crate) struct SignerBridge(pub(crate) Arc<dyn DeviceSigner>);

impl core::DeviceSigner for SignerBridge {
    fn create_key(&self, alias: &str) -> Result<PublicKey, SignerError> {
        let bytes = self
            .0
            .create_key(alias.to_owned())
            .map_err(to_signer_error)?;
        parse_public_key(&bytes).map_err(SignerError::backend)
    }

    fn public_key(&self, alias: &str) -> Result<PublicKey, SignerError> {
        match self
            .0
            .public_key(alias.to_owned())
            .map_err(to_signer_error)?
        {
            Some(bytes) => parse_public_key(&bytes).map_err(SignerError::backend),
            None => Err(SignerError::KeyNotFound {
                alias: alias.to_owned(),
            }),
        }
    }

    fn sign(&self, alias: &str, msg: &[u8]) -> Result<[u8; SIGNATURE_LEN], SignerError> {
        let sig = self
            .0
            .sign(alias.to_owned(), msg.to_vec())
            .map_err(to_signer_error)?;
        let raw = parse_signature(&sig).map_err(SignerError::backend)?;
        // A wrong signature would only surface as the service's "bad signature"; catch a
        // misbehaving signer here with a message that says what to fix.
        let key = core::DeviceSigner::public_key(self, alias)?;
        key.verify(msg, &raw).map_err(|_| {
            SignerError::backend(
                "the app's DeviceSigner returned a signature that does not verify with its public key; sign the raw message with ECDSA P-256 SHA-256 (do not hash it first)",
            )
        })?;
        Ok(raw)
    }

    fn key_protection(&self) -> core::KeyProtection {
        match self.0.key_protection() {
            Ok(k) => k.into(),
            Err(e) => {
                tracing::warn!(error = %e, "the app's DeviceSigner could not say how it keeps keys");
                core::KeyProtection::Unknown
            }
        }
    }

    fn delete_key(&self, alias: &str) -> Result<(), SignerError> {
        self.0.delete_key(alias.to_owned()).map_err(to_signer_error)
    }
}

/// Turns a foreign [`Clock`] into the core's clock; falls back to the system clock (and logs)
/// if the foreign clock fails.
pub(crate) struct ClockBridge(pub(crate) Arc<dyn Clock>);

impl core::Clock for ClockBridge {
    fn now_unix(&self) -> i64 {
        self.0.now_unix().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the app's clock failed; using the system clock");
            core::SystemClock.now_unix()
        })
    }
}

/// DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1, BIT STRING of 66).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A P-256 public key from the 65-byte uncompressed point or a P-256 SubjectPublicKeyInfo DER.
pub(crate) fn parse_public_key(bytes: &[u8]) -> Result<PublicKey, String> {
    let point = match bytes.len() {
        PUBLIC_KEY_LEN => bytes,
        91 if bytes.starts_with(&P256_SPKI_PREFIX) => &bytes[P256_SPKI_PREFIX.len()..],
        n => {
            return Err(format!(
                "the app's DeviceSigner returned a {n}-byte public key; return the 65-byte uncompressed P-256 point or its X.509 SubjectPublicKeyInfo encoding"
            ));
        }
    };
    PublicKey::from_sec1(point).map_err(|_| {
        "the app's DeviceSigner returned a public key that is not a valid P-256 point".to_owned()
    })
}

/// A raw `r || s` signature from raw 64 bytes or a DER `ECDSA-Sig-Value`.
pub(crate) fn parse_signature(sig: &[u8]) -> Result<[u8; SIGNATURE_LEN], String> {
    if let Ok(raw) = <[u8; SIGNATURE_LEN]>::try_from(sig) {
        return Ok(raw);
    }
    der_to_raw(sig).ok_or_else(|| {
        format!(
            "the app's DeviceSigner returned a {}-byte signature that is neither raw r||s (64 bytes) nor DER ECDSA",
            sig.len()
        )
    })
}

/// Decodes `SEQUENCE { INTEGER r, INTEGER s }` (short-form lengths, as P-256 always has) into
/// two 32-byte big-endian halves.
fn der_to_raw(der: &[u8]) -> Option<[u8; SIGNATURE_LEN]> {
    let (&tag, rest) = der.split_first()?;
    let (&len, body) = rest.split_first()?;
    if tag != 0x30 || usize::from(len) != body.len() || len >= 0x80 {
        return None;
    }
    let (r, body) = der_integer(body)?;
    let (s, body) = der_integer(body)?;
    if !body.is_empty() {
        return None;
    }
    let mut out = [0u8; SIGNATURE_LEN];
    out[32 - r.len()..32].copy_from_slice(r);
    out[64 - s.len()..].copy_from_slice(s);
    Some(out)
}

/// One DER INTEGER of at most 32 significant bytes: (its magnitude, the rest).
fn der_integer(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let len = usize::from(len);
    if tag != 0x02 || len == 0 || len >= 0x80 || rest.len() < len {
        return None;
    }
    let (mut value, rest) = rest.split_at(len);
    while let [0, tail @ ..] = value {
        value = tail;
    }
    (value.len() <= 32).then_some((value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapprove_core::{DeviceSigner as _, MemoryStore, SoftwareSigner};

    #[test]
    fn accepts_raw_and_spki_public_keys() {
        let key = SoftwareSigner::new(Arc::new(MemoryStore::new()))
            .create_key("k")
            .expect("key");
        assert_eq!(parse_public_key(key.as_bytes()).expect("raw"), key);
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(key.as_bytes());
        assert_eq!(parse_public_key(&spki).expect("spki"), key);
        assert!(parse_public_key(&[4u8; 65]).is_err());
        assert!(
            parse_public_key(&[1, 2, 3])
                .expect_err("short")
                .contains("3-byte")
        );
    }

    #[test]
    fn der_signatures_become_raw() {
        let mut r = [0u8; 32];
        r[0] = 0x80; // high bit set: DER needs a leading zero
        r[31] = 1;
        let mut s = [0u8; 32];
        s[30] = 0x7f; // small value: DER drops leading zeros
        s[31] = 2;
        let mut der = vec![0x30, 0];
        der.extend([0x02, 33, 0]);
        der.extend(r);
        der.extend([0x02, 2, 0x7f, 2]);
        der[1] = u8::try_from(der.len() - 2).expect("short");
        let raw = parse_signature(&der).expect("der");
        assert_eq!(&raw[..32], &r);
        assert_eq!(&raw[32..], &s);
        assert!(parse_signature(&der[..der.len() - 1]).is_err());
        assert!(parse_signature(&[0u8; 10]).is_err());
        let sig = [7u8; 64];
        assert_eq!(parse_signature(&sig).expect("raw"), sig);
    }
}
