//! Secure key-value storage: the [`SecureStore`] trait and three implementations.
//!
//! Keys are short ASCII names such as `account/acc_…` (account metadata, non-secret JSON) or
//! `device-key/<alias>` (a [`crate::SoftwareSigner`]'s PKCS#8). Values are [`SecretBytes`].
//!
//! - [`MemoryStore`]: in memory, for tests and throwaway use.
//! - [`FileStore`]: one file per key in a directory; 0600 files in a 0700 directory, atomic
//!   writes. For the terminal authenticator and tests.
//! - [`KeyringStore`]: a `keyring-core` credential store chosen by the app (Apple keychain,
//!   Android keystore, Linux keyutils / Secret Service, ...).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::StoreError;
use crate::secret::SecretBytes;

/// A key-value store for secret bytes. Implementations must be safe to call from several
/// threads. Swift/Kotlin apps implement it over the Keychain / Keystore through the bindings.
pub trait SecureStore: Send + Sync {
    /// The value stored under `key`, or `None`.
    fn get(&self, key: &str) -> Result<Option<SecretBytes>, StoreError>;
    /// Stores `value` under `key`, replacing any previous value.
    fn set(&self, key: &str, value: SecretBytes) -> Result<(), StoreError>;
    /// Removes `key`; removing a missing key is not an error.
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// All keys starting with `prefix`, in any order.
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a map half-updated in a harmful way.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------- memory

/// An in-memory store, for tests. Nothing is persisted.
#[derive(Default)]
pub struct MemoryStore {
    map: Mutex<BTreeMap<String, SecretBytes>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &lock(&self.map).len())
            .finish()
    }
}

impl SecureStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<SecretBytes>, StoreError> {
        Ok(lock(&self.map).get(key).cloned())
    }

    fn set(&self, key: &str, value: SecretBytes) -> Result<(), StoreError> {
        lock(&self.map).insert(key.to_owned(), value);
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        lock(&self.map).remove(key);
        Ok(())
    }

    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(lock(&self.map)
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
}

// ---------------------------------------------------------------- file

/// One file per key in a directory. On Unix the directory is made `0700` and each file `0600`;
/// writes go to a temporary file that is synced and then renamed over the old one, so a crash
/// never leaves a half-written value. File names are the key with every byte outside
/// `[A-Za-z0-9_-]` escaped as `%XX`, so any key maps to one safe file name.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    // Serialises writers inside one process (renames are atomic anyway).
    write_lock: Mutex<()>,
}

impl FileStore {
    /// Opens (creating if needed) the store directory and restricts it to the current user
    /// (`chmod 0700` on Unix, also when it already exists): give it a directory of its own,
    /// such as `~/.tapprove`, never a shared one.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        builder
            .create(&dir)
            .map_err(|e| io_err("create", &dir, &e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| io_err("restrict permissions of", &dir, &e))?;
        }
        Ok(Self {
            dir,
            write_lock: Mutex::new(()),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds `key`.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        if key.is_empty() || key.len() > 200 {
            return Err(StoreError::InvalidKey {
                key: key.to_owned(),
            });
        }
        Ok(self.dir.join(escape(key)))
    }
}

fn io_err(action: &str, path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Io {
        action: action.to_owned(),
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn escape(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 8);
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unescape(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = name.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl SecureStore for FileStore {
    fn get(&self, key: &str) -> Result<Option<SecretBytes>, StoreError> {
        let path = self.path_of(key)?;
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(SecretBytes::new(bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path, &e)),
        }
    }

    fn set(&self, key: &str, value: SecretBytes) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        let _guard = lock(&self.write_lock);
        // Temporary names start with '.', which `escape` never produces, so `list_keys` skips
        // them and they can never collide with a key.
        let tmp = self.dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            crate::random_id(8)
        ));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let result = (|| {
            let mut file = options.open(&tmp).map_err(|e| io_err("create", &tmp, &e))?;
            file.write_all(value.expose_secret())
                .map_err(|e| io_err("write", &tmp, &e))?;
            file.sync_all().map_err(|e| io_err("sync", &tmp, &e))?;
            fs::rename(&tmp, &path).map_err(|e| io_err("replace", &path, &e))?;
            #[cfg(unix)]
            if let Ok(d) = fs::File::open(&self.dir) {
                // Make the rename durable; failure here only weakens crash safety.
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        let _guard = lock(&self.write_lock);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("delete", &path, &e)),
        }
    }

    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let entries = fs::read_dir(&self.dir).map_err(|e| io_err("list", &self.dir, &e))?;
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_err("list", &self.dir, &e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            if let Some(key) = unescape(name)
                && key.starts_with(prefix)
            {
                keys.push(key);
            }
        }
        keys.sort();
        Ok(keys)
    }
}

// ---------------------------------------------------------------- keyring

/// A store over a [`keyring_core`] credential store, which the **app** chooses and creates:
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
    fn memory_store_works() {
        exercise(&MemoryStore::new());
    }

    #[test]
    fn file_store_works_and_persists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        exercise(&FileStore::open(&path).expect("open"));
        let again = FileStore::open(&path).expect("reopen");
        assert_eq!(
            again
                .get("account/b")
                .expect("get")
                .expect("some")
                .expose_secret(),
            b"two"
        );
        // Odd key names map to safe file names and back.
        let odd = "../etc/passwd .%x ünï";
        again
            .set(odd, SecretBytes::from_slice(b"v"))
            .expect("set odd");
        assert_eq!(again.list_keys("../").expect("list"), vec![odd.to_owned()]);
        assert!(again.path_of(odd).expect("path").starts_with(&path));
        assert!(matches!(
            again.path_of(""),
            Err(StoreError::InvalidKey { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn file_store_permissions_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        fs::create_dir(&path).expect("mkdir");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        let store = FileStore::open(&path).expect("open");
        store
            .set("device-key/k", SecretBytes::from_slice(b"secret"))
            .expect("set");
        let dir_mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        let file_mode = fs::metadata(store.path_of("device-key/k").expect("path"))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(file_mode, 0o600);
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(&path)
            .expect("ls")
            .map(|e| e.expect("e").file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn escape_round_trips() {
        for key in ["account/acc_1", "a.b", "%", "ü", "..", ""] {
            let e = escape(key);
            assert!(!e.contains('/') && !e.starts_with('.'));
            assert_eq!(unescape(&e).as_deref(), Some(key));
        }
        assert_eq!(unescape("%G0"), None);
        assert_eq!(unescape("%"), None);
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
