//! Secure key-value storage: the [`SecureStore`] trait and two implementations (phones bring
//! their own, over the Keychain / Keystore, through the bindings).
//!
//! Keys are short ASCII names such as `account/acc_…` (account metadata, non-secret JSON) or
//! `device-key/<alias>` (a [`crate::SoftwareSigner`]'s PKCS#8). Values are [`SecretBytes`].
//!
//! - [`MemoryStore`]: in memory, for tests and throwaway use.
//! - [`FileStore`]: one file per key in a directory; 0600 files in a 0700 directory, atomic
//!   writes. For the terminal authenticator and tests.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

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
}
