//! Rust implementations of the foreign traits, as Kotlin/Swift apps would write them.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use tapprove_ffi::*;

/// A HashMap store; `fail` makes every call fail like a locked keychain, and a `get` of a key
/// in `unreadable` fails like a value sealed with a Keystore key that is gone.
#[derive(Default)]
pub struct MapStore {
    pub map: Mutex<HashMap<String, Vec<u8>>>,
    pub fail: AtomicBool,
    pub calls: AtomicUsize,
    pub unreadable: Mutex<Vec<String>>,
}

impl MapStore {
    fn check(&self) -> Result<(), AuthError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(AuthError::Platform {
                detail: "keychain is locked".into(),
            });
        }
        Ok(())
    }
}

impl SecureStore for MapStore {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, AuthError> {
        self.check()?;
        if self.unreadable.lock().unwrap().contains(&key) {
            return Err(AuthError::Platform {
                detail: "javax.crypto.AEADBadTagException: the sealing key is gone".into(),
            });
        }
        Ok(self.map.lock().unwrap().get(&key).cloned())
    }
    fn set(&self, key: String, value: Vec<u8>) -> Result<(), AuthError> {
        self.check()?;
        self.map.lock().unwrap().insert(key, value);
        Ok(())
    }
    fn delete(&self, key: String) -> Result<(), AuthError> {
        self.check()?;
        self.map.lock().unwrap().remove(&key);
        Ok(())
    }
    fn list_keys(&self, prefix: String) -> Result<Vec<String>, AuthError> {
        self.check()?;
        Ok(self
            .map
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect())
    }
}

/// How the test signer misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerMode {
    /// Raw public keys, DER signatures (like Android Keystore / SecKey).
    Normal,
    /// Every call fails (hardware gone).
    Fail,
    /// Signs something else than the message.
    WrongSignature,
}

/// P-256 keys in memory (ring), DER signatures like a platform key store.
pub struct MemSigner {
    keys: Mutex<HashMap<String, EcdsaKeyPair>>,
    pub mode: Mutex<SignerMode>,
    rng: ring::rand::SystemRandom,
}

impl MemSigner {
    pub fn new(mode: SignerMode) -> Self {
        Self {
            keys: Mutex::default(),
            mode: Mutex::new(mode),
            rng: ring::rand::SystemRandom::new(),
        }
    }

    fn mode(&self) -> SignerMode {
        *self.mode.lock().unwrap()
    }

    fn fail(&self) -> Result<(), AuthError> {
        if self.mode() == SignerMode::Fail {
            return Err(AuthError::Platform {
                detail: "secure hardware unavailable".into(),
            });
        }
        Ok(())
    }
}

impl DeviceSigner for MemSigner {
    fn key_protection(&self) -> Result<KeyProtection, AuthError> {
        // Stands in for a platform key store.
        Ok(KeyProtection::Hardware)
    }

    fn create_key(&self, alias: String) -> Result<Vec<u8>, AuthError> {
        self.fail()?;
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref(), &self.rng)
                .unwrap();
        let public = pair.public_key().as_ref().to_vec();
        self.keys.lock().unwrap().insert(alias, pair);
        Ok(public)
    }
    fn public_key(&self, alias: String) -> Result<Option<Vec<u8>>, AuthError> {
        self.fail()?;
        Ok(self
            .keys
            .lock()
            .unwrap()
            .get(&alias)
            .map(|k| k.public_key().as_ref().to_vec()))
    }
    fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, AuthError> {
        self.fail()?;
        let keys = self.keys.lock().unwrap();
        let key = keys.get(&alias).ok_or_else(|| AuthError::Platform {
            detail: format!("no key {alias}"),
        })?;
        let msg = if self.mode() == SignerMode::WrongSignature {
            b"other".to_vec()
        } else {
            message
        };
        Ok(key.sign(&self.rng, &msg).unwrap().as_ref().to_vec())
    }
    fn delete_key(&self, alias: String) -> Result<(), AuthError> {
        self.fail()?;
        self.keys.lock().unwrap().remove(&alias);
        Ok(())
    }
}

/// A clock the test sets.
pub struct TestClock(pub AtomicI64);

impl Clock for TestClock {
    fn now_unix(&self) -> Result<i64, AuthError> {
        Ok(self.0.load(Ordering::SeqCst))
    }
}

/// The SDK key format the core checks (`tap_sdk_` + 22 base64url characters).
pub const SDK_KEY: &str = "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA";

/// A loopback URL where nothing listens (a port we bound and released).
pub fn dead_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

pub fn config(server_url: &str) -> ServiceConfig {
    ServiceConfig {
        server_url: server_url.into(),
        sdk_key: SDK_KEY.into(),
        device_name: Some("test device".into()),
    }
}

pub struct Fixture {
    pub auth: Arc<Authenticator>,
    pub store: Arc<MapStore>,
    pub signer: Arc<MemSigner>,
    pub clock: Arc<TestClock>,
}

/// An authenticator with the test implementations, at time `now`, against `server_url`.
pub fn fixture(server_url: &str, now: i64) -> Fixture {
    let store = Arc::new(MapStore::default());
    let signer = Arc::new(MemSigner::new(SignerMode::Normal));
    let clock = Arc::new(TestClock(AtomicI64::new(now)));
    let auth = Authenticator::with_clock(
        config(server_url),
        store.clone(),
        signer.clone(),
        clock.clone(),
    )
    .unwrap();
    Fixture {
        auth,
        store,
        signer,
        clock,
    }
}

/// Imports the shared vectors' account (`acc_01JDEMO…`) pinned to `service_key`.
pub fn import_vector_account(f: &Fixture, server_url: &str, service_key: &str) -> Account {
    f.signer.create_key("vector-key".into()).unwrap();
    f.auth
        .import_account(AccountImport {
            id: VECTOR_ACCOUNT.into(),
            project_id: "prj_demo".into(),
            project_name: "Demo Bank".into(),
            user: "alice".into(),
            server_url: server_url.into(),
            sdk_key: SDK_KEY.into(),
            service_key: service_key.into(),
            key_alias: "vector-key".into(),
            paired_at: 1_799_999_000,
        })
        .unwrap()
}

pub const VECTOR_ACCOUNT: &str = "acc_01JDEMO0000000000000000000";

pub fn apns(token: &str) -> String {
    serde_json::json!({"aps": {"alert": {"title": "Log in?", "body": "Someone is signing in."}, "category": "TAPPROVE_LOGIN", "mutable-content": 1}, "tapprove": token}).to_string()
}

pub fn fcm(token: &str) -> String {
    serde_json::json!({"tapprove": token, "title": "Log in?", "body": "Someone is signing in."})
        .to_string()
}

pub fn vectors_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

pub fn read_vector(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(vectors_dir().join(name)).unwrap()).unwrap()
}
