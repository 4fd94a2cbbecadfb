//! The paired accounts: records in the [`SecureStore`] under `account/<id>`, cached in memory.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tracing::warn;

use crate::error::{CoreError, StoreError};
use crate::model::{ACCOUNT_PREFIX, Account, AccountRecord};
use crate::secret::SecretBytes;
use crate::store::SecureStore;

pub(super) struct Accounts {
    store: Arc<dyn SecureStore>,
    by_id: RwLock<HashMap<String, Arc<AccountRecord>>>,
}

impl Accounts {
    /// The accounts already in `store`.
    pub(super) fn load(store: Arc<dyn SecureStore>) -> Result<Self, CoreError> {
        let accounts = Self {
            store,
            by_id: RwLock::new(HashMap::new()),
        };
        accounts.reload()?;
        Ok(accounts)
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Arc<AccountRecord>>> {
        self.by_id.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, Arc<AccountRecord>>> {
        self.by_id.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-reads every `account/*` record (another process, e.g. the app while this is the
    /// notification extension, may have paired or unpaired). Unreadable records are skipped
    /// and logged, so one broken record cannot hide the others.
    pub(super) fn reload(&self) -> Result<(), CoreError> {
        let mut map = HashMap::new();
        for key in self.store.list_keys(ACCOUNT_PREFIX)? {
            let Some(bytes) = self.store.get(&key)? else {
                continue;
            };
            match serde_json::from_slice::<AccountRecord>(bytes.expose_secret()) {
                Ok(r) => {
                    map.insert(r.id.clone(), Arc::new(r));
                }
                Err(e) => warn!(key = %key, error = %e, "skipping unreadable account record"),
            }
        }
        *self.write() = map;
        Ok(())
    }

    /// The account `id`, re-reading the store once if it is not known yet.
    pub(super) fn get(&self, id: &str) -> Result<Arc<AccountRecord>, CoreError> {
        if let Some(a) = self.cached(id) {
            return Ok(a);
        }
        self.reload()?;
        self.cached(id).ok_or_else(|| CoreError::UnknownAccount {
            account_id: id.to_owned(),
        })
    }

    /// The account `id` if it is in memory; no store read.
    pub(super) fn cached(&self, id: &str) -> Option<Arc<AccountRecord>> {
        self.read().get(id).cloned()
    }

    /// Every account in memory, sorted by pairing time.
    pub(super) fn all(&self) -> Vec<Arc<AccountRecord>> {
        let mut list: Vec<_> = self.read().values().cloned().collect();
        list.sort_by(|a, b| (a.paired_at, &a.id).cmp(&(b.paired_at, &b.id)));
        list
    }

    /// Every account the service has not revoked, sorted by pairing time.
    pub(super) fn active(&self) -> Vec<Arc<AccountRecord>> {
        let mut list = self.all();
        list.retain(|a| a.revoked_at.is_none());
        list
    }

    /// The store itself (pairing keeps its in-doubt entries there).
    pub(super) fn store(&self) -> &dyn SecureStore {
        self.store.as_ref()
    }

    pub(super) fn len(&self) -> usize {
        self.read().len()
    }

    /// Stores `record` (replacing one with the same id) and returns its public view.
    pub(super) fn save(&self, record: AccountRecord) -> Result<Account, CoreError> {
        let json = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt {
            key: record.store_key(),
            message: e.to_string(),
        })?;
        self.store
            .set(&record.store_key(), SecretBytes::new(json))?;
        let account = record.account();
        self.write().insert(record.id.clone(), Arc::new(record));
        Ok(account)
    }

    /// Deletes `account`'s record.
    pub(super) fn remove(&self, account: &AccountRecord) -> Result<(), CoreError> {
        self.store.delete(&account.store_key())?;
        self.write().remove(&account.id);
        Ok(())
    }
}
