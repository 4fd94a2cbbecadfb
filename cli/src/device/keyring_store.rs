//! A [`SecureStore`] over a `keyring-core` credential store, for desktop hosts of the terminal
//! authenticator. It lives here, not in the device core, so that the phone library does not
//! carry keyring-core: phones bring their own store (Keychain, Keystore) through the bindings.
//!
//! Not wired to a `tapprove device` option yet: the default store of the terminal
//! authenticator is the 0600 [`tapprove_core::FileStore`], and a keyring store needs a platform
//! backend crate chosen per OS (see below).

#![allow(dead_code)]

use std::sync::{Arc, Mutex, MutexGuard};

use tapprove_core::{SecretBytes, SecureStore, StoreError};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the index half-updated in a harmful way.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A store over a [`keyring_core`] credential store, which the host chooses and creates:
///
/// - iOS / macOS: `apple-native-keyring-store` (feature `protected` for the data-protection
///   keychain, which needs a signed app);
/// - Android: `android-native-keyring-store` (needs the NDK context initialised from Kotlin);
/// - Linux: `linux-keyutils-keyring-store` or `zbus-secret-service-keyring-store`;
/// - tests: `keyring_core::mock::Store`.
///
/// Each key is one credential with service = the `service` given here and user = the key.
/// Because not every platform store can enumerate credentials, the store keeps an index of its
/// keys in one more credential (user `__tapprove_index__`), used by [`SecureStore::list_keys`].
pub struct KeyringStore {
    store: Arc<keyring_core::CredentialStore>,
    service: String,
    index_lock: Mutex<()>,
}

const INDEX_USER: &str = "__tapprove_index__";

impl KeyringStore {
    /// Uses `store` with credentials named under `service` (e.g. your app's bundle id).
    pub fn new(store: Arc<keyring_core::CredentialStore>, service: &str) -> Self {
        Self {
            store,
            service: service.to_owned(),
            index_lock: Mutex::new(()),
        }
    }

    /// Uses the store set with `keyring_core::set_default_store`.
    pub fn with_default_store(service: &str) -> Result<Self, StoreError> {
        let store = keyring_core::get_default_store().ok_or_else(|| {
            StoreError::backend(
                "no keyring store was set; call keyring_core::set_default_store at startup",
            )
        })?;
        Ok(Self::new(store, service))
    }

    fn entry(&self, key: &str) -> Result<keyring_core::Entry, StoreError> {
        if key.is_empty() || key == INDEX_USER || key.contains('\n') {
            return Err(StoreError::InvalidKey {
                key: key.to_owned(),
            });
        }
        self.store
            .build(&self.service, key, None)
            .map_err(|e| keyring_err(key, e))
    }

    fn index_entry(&self) -> Result<keyring_core::Entry, StoreError> {
        self.store
            .build(&self.service, INDEX_USER, None)
            .map_err(|e| keyring_err(INDEX_USER, e))
    }

    fn read_index(&self) -> Result<Vec<String>, StoreError> {
        match self.index_entry()?.get_secret() {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| StoreError::Corrupt {
                    key: INDEX_USER.into(),
                    message: "index is not UTF-8".into(),
                })?;
                Ok(text
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect())
            }
            Err(keyring_core::Error::NoEntry) => Ok(Vec::new()),
            Err(e) => Err(keyring_err(INDEX_USER, e)),
        }
    }

    fn write_index(&self, keys: &[String]) -> Result<(), StoreError> {
        let entry = self.index_entry()?;
        if keys.is_empty() {
            return match entry.delete_credential() {
                Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
                Err(e) => Err(keyring_err(INDEX_USER, e)),
            };
        }
        entry
            .set_secret(keys.join("\n").as_bytes())
            .map_err(|e| keyring_err(INDEX_USER, e))
    }
}

impl std::fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringStore")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

fn keyring_err(key: &str, e: keyring_core::Error) -> StoreError {
    match e {
        keyring_core::Error::Invalid(..) | keyring_core::Error::TooLong(..) => {
            StoreError::InvalidKey {
                key: key.to_owned(),
            }
        }
        // BadEncoding/BadDataFormat carry the raw secret bytes: never format them.
        keyring_core::Error::BadEncoding(_) | keyring_core::Error::BadDataFormat(..) => {
            StoreError::Corrupt {
                key: key.to_owned(),
                message: "the platform store returned malformed data".into(),
            }
        }
        other => StoreError::backend(other.to_string()),
    }
}

impl SecureStore for KeyringStore {
    fn get(&self, key: &str) -> Result<Option<SecretBytes>, StoreError> {
        match self.entry(key)?.get_secret() {
            Ok(bytes) => Ok(Some(SecretBytes::new(bytes))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_err(key, e)),
        }
    }

    fn set(&self, key: &str, value: SecretBytes) -> Result<(), StoreError> {
        let entry = self.entry(key)?;
        let _guard = lock(&self.index_lock);
        entry
            .set_secret(value.expose_secret())
            .map_err(|e| keyring_err(key, e))?;
        let mut index = self.read_index()?;
        if !index.iter().any(|k| k == key) {
            index.push(key.to_owned());
            self.write_index(&index)?;
        }
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let entry = self.entry(key)?;
        let _guard = lock(&self.index_lock);
        match entry.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => {}
            Err(e) => return Err(keyring_err(key, e)),
        }
        let mut index = self.read_index()?;
        let before = index.len();
        index.retain(|k| k != key);
        if index.len() != before {
            self.write_index(&index)?;
        }
        Ok(())
    }

    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys: Vec<String> = self
            .read_index()?
            .into_iter()
            .filter(|k| k.starts_with(prefix))
            .collect();
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(store: &dyn SecureStore) {
        assert!(store.get("account/a").expect("get").is_none());
        store
            .set("account/a", SecretBytes::from_slice(b"one"))
            .expect("set");
        store
            .set("account/b", SecretBytes::from_slice(b"two"))
            .expect("set");
        store
            .set("device-key/x", SecretBytes::from_slice(b"three"))
            .expect("set");
        store
            .set("account/a", SecretBytes::from_slice(b"uno"))
            .expect("overwrite");
        assert_eq!(
            store
                .get("account/a")
                .expect("get")
                .expect("some")
                .expose_secret(),
            b"uno"
        );
        let mut keys = store.list_keys("account/").expect("list");
        keys.sort();
        assert_eq!(keys, vec!["account/a".to_owned(), "account/b".to_owned()]);
        assert_eq!(store.list_keys("").expect("list").len(), 3);
        store.delete("account/a").expect("delete");
        store.delete("account/a").expect("delete missing is fine");
        assert!(store.get("account/a").expect("get").is_none());
        assert_eq!(
            store.list_keys("account/").expect("list"),
            vec!["account/b".to_owned()]
        );
    }

    #[test]
    fn keyring_store_works_with_the_mock_store() {
        let mock: Arc<keyring_core::CredentialStore> =
            keyring_core::mock::Store::new().expect("mock");
        let store = KeyringStore::new(mock.clone(), "dev.tapprove.test");
        exercise(&store);
        // A second handle over the same platform store sees the same keys (the index persists).
        let again = KeyringStore::new(mock, "dev.tapprove.test");
        assert_eq!(again.list_keys("").expect("list").len(), 2);
        assert!(matches!(
            again.get(INDEX_USER),
            Err(StoreError::InvalidKey { .. })
        ));
        assert!(format!("{again:?}").contains("dev.tapprove.test"));
    }
}
