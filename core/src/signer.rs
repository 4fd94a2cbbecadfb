//! Device keys: the [`DeviceSigner`] trait (a platform can keep keys in the Secure Enclave or
//! Android Keystore, and the core never sees them) and [`SoftwareSigner`], a software
//! implementation keeping PKCS#8 keys in a [`SecureStore`].

use std::sync::{Arc, Mutex};

use tapprove_protocol::api::KeyProtection;
use tapprove_protocol::keys::SIGNATURE_LEN;
use tapprove_protocol::{Es256Signer, PublicKey, SignError, SoftwareKey};

use crate::error::SignerError;
use crate::secret::SecretBytes;
use crate::store::SecureStore;

/// Holds P-256 private keys by alias and signs with them. One key per account.
pub trait DeviceSigner: Send + Sync {
    /// Creates a new key under `alias` (replacing any key with that alias) and returns its
    /// public half.
    fn create_key(&self, alias: &str) -> Result<PublicKey, SignerError>;
    /// The public half of the key under `alias` ([`SignerError::KeyNotFound`] if none).
    fn public_key(&self, alias: &str) -> Result<PublicKey, SignerError>;
    /// A raw 64-byte `r || s` ES256 (ECDSA P-256, SHA-256) signature over `msg`.
    fn sign(&self, alias: &str, msg: &[u8]) -> Result<[u8; SIGNATURE_LEN], SignerError>;
    /// Deletes the key under `alias`; deleting a missing key is not an error.
    fn delete_key(&self, alias: &str) -> Result<(), SignerError>;
    /// Where this signer keeps its keys, reported at pairing (the site and operators see it).
    /// Platform signers over a secure element say [`KeyProtection::Hardware`].
    fn key_protection(&self) -> KeyProtection {
        KeyProtection::Software
    }
}

/// Software P-256 keys (ring), each stored as PKCS#8 in a [`SecureStore`] under
/// `device-key/<alias>`. For the terminal authenticator, tests, and platforms without key
/// hardware. Loaded keys are cached in memory (and wiped on drop).
pub struct SoftwareSigner {
    store: Arc<dyn SecureStore>,
    cache: Mutex<Vec<(String, Arc<SoftwareKey>)>>,
}

/// Store key prefix of software device keys.
pub const DEVICE_KEY_PREFIX: &str = "device-key/";

impl SoftwareSigner {
    /// Keeps keys in `store`.
    pub fn new(store: Arc<dyn SecureStore>) -> Self {
        Self {
            store,
            cache: Mutex::new(Vec::new()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Vec<(String, Arc<SoftwareKey>)>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn load(&self, alias: &str) -> Result<Arc<SoftwareKey>, SignerError> {
        if let Some((_, k)) = self.cache().iter().find(|(a, _)| a == alias) {
            return Ok(k.clone());
        }
        let der = self
            .store
            .get(&format!("{DEVICE_KEY_PREFIX}{alias}"))?
            .ok_or_else(|| SignerError::KeyNotFound {
                alias: alias.to_owned(),
            })?;
        let key = Arc::new(SoftwareKey::from_pkcs8(der.expose_secret()).map_err(|e| {
            SignerError::Backend {
                message: format!("stored key {alias:?} is unreadable: {}", e.0),
            }
        })?);
        let mut cache = self.cache();
        cache.retain(|(a, _)| a != alias);
        cache.push((alias.to_owned(), key.clone()));
        Ok(key)
    }
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("cached_keys", &self.cache().len())
            .finish_non_exhaustive()
    }
}

impl DeviceSigner for SoftwareSigner {
    fn create_key(&self, alias: &str) -> Result<PublicKey, SignerError> {
        let key = SoftwareKey::generate().map_err(|e| SignerError::Backend { message: e.0 })?;
        self.store.set(
            &format!("{DEVICE_KEY_PREFIX}{alias}"),
            SecretBytes::from_slice(key.secret_pkcs8_der()),
        )?;
        let public = key.public_key();
        let mut cache = self.cache();
        cache.retain(|(a, _)| a != alias);
        cache.push((alias.to_owned(), Arc::new(key)));
        Ok(public)
    }

    fn public_key(&self, alias: &str) -> Result<PublicKey, SignerError> {
        Ok(self.load(alias)?.public_key())
    }

    fn sign(&self, alias: &str, msg: &[u8]) -> Result<[u8; SIGNATURE_LEN], SignerError> {
        self.load(alias)?
            .sign(msg)
            .map_err(|e| SignerError::Backend { message: e.0 })
    }

    fn delete_key(&self, alias: &str) -> Result<(), SignerError> {
        self.cache().retain(|(a, _)| a != alias);
        self.store.delete(&format!("{DEVICE_KEY_PREFIX}{alias}"))?;
        Ok(())
    }
}

/// Adapts one alias of a [`DeviceSigner`] to the protocol crate's [`Es256Signer`], keeping the
/// typed error of a failed signature for the caller.
pub(crate) struct AliasSigner<'a> {
    pub(crate) signer: &'a dyn DeviceSigner,
    pub(crate) alias: &'a str,
    pub(crate) public: &'a PublicKey,
    pub(crate) error: Mutex<Option<SignerError>>,
}

impl<'a> AliasSigner<'a> {
    pub(crate) fn new(signer: &'a dyn DeviceSigner, alias: &'a str, public: &'a PublicKey) -> Self {
        Self {
            signer,
            alias,
            public,
            error: Mutex::new(None),
        }
    }

    /// The typed error behind a [`SignError`] this adapter returned.
    pub(crate) fn take_error(&self, fallback: SignError) -> SignerError {
        self.error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or(SignerError::Backend {
                message: fallback.0,
            })
    }
}

impl Es256Signer for AliasSigner<'_> {
    fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; SIGNATURE_LEN], SignError> {
        self.signer.sign(self.alias, message).map_err(|e| {
            let text = e.to_string();
            *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            SignError(text)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn software_signer_round_trip() {
        let store: Arc<dyn SecureStore> = Arc::new(MemoryStore::new());
        let signer = SoftwareSigner::new(store.clone());
        let public = signer.create_key("a").expect("create");
        let sig = signer.sign("a", b"msg").expect("sign");
        public.verify(b"msg", &sig).expect("verify");
        assert_eq!(signer.public_key("a").expect("public"), public);
        // A fresh signer over the same store finds the key.
        let other = SoftwareSigner::new(store.clone());
        let sig = other.sign("a", b"msg2").expect("sign");
        public.verify(b"msg2", &sig).expect("verify");
        other.delete_key("a").expect("delete");
        assert!(matches!(
            other.sign("a", b"x"),
            Err(SignerError::KeyNotFound { .. })
        ));
        assert!(store.list_keys(DEVICE_KEY_PREFIX).expect("list").is_empty());
        assert!(!format!("{other:?}").contains("pkcs8"));
    }

    #[test]
    fn corrupt_key_is_a_typed_error() {
        let store: Arc<dyn SecureStore> = Arc::new(MemoryStore::new());
        store
            .set("device-key/bad", SecretBytes::from_slice(b"not a key"))
            .expect("set");
        let signer = SoftwareSigner::new(store);
        assert!(matches!(
            signer.public_key("bad"),
            Err(SignerError::Backend { .. })
        ));
    }
}
