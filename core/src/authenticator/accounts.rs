//! The paired accounts: records in the [`SecureStore`] under `account/<id>`, cached in memory,
//! and each account's push key (the private X25519 half that opens its sealed pushes) under
//! `push_key/<key alias>`: it lives and dies with the account's device key.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tapprove_protocol::api::PushRegistration;
use tapprove_protocol::sealed::PushSecretKey;
use tracing::warn;

use crate::error::{CoreError, StoreError};
use crate::model::{ACCOUNT_PREFIX, Account, AccountNeedingRepair, AccountRecord, RepairCause};
use crate::secret::SecretBytes;
use crate::store::SecureStore;

/// Store key prefix of push keys.
const PUSH_KEY_PREFIX: &str = "push_key/";
/// Store key prefix of the push registration each account's service last acknowledged.
const PUSH_SENT_PREFIX: &str = "push_sent/";

fn push_key_entry(key_alias: &str) -> String {
    format!("{PUSH_KEY_PREFIX}{key_alias}")
}

pub(super) struct Accounts {
    store: Arc<dyn SecureStore>,
    by_id: RwLock<HashMap<String, Arc<AccountRecord>>>,
    /// Records found at the last reload that could not be read, by id.
    broken: RwLock<Vec<AccountNeedingRepair>>,
}

impl Accounts {
    /// The accounts already in `store`. Never fails: an app must start even when its store
    /// cannot be listed (the next `accounts()` reports that) or one record cannot be read
    /// (reported by [`Accounts::needing_repair`]), e.g. after a backup restore without keys.
    pub(super) fn load(store: Arc<dyn SecureStore>) -> Self {
        let accounts = Self {
            store,
            by_id: RwLock::new(HashMap::new()),
            broken: RwLock::new(Vec::new()),
        };
        if let Err(e) = accounts.reload() {
            warn!(error = %e, "could not list the stored accounts");
        }
        accounts
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Arc<AccountRecord>>> {
        self.by_id.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, Arc<AccountRecord>>> {
        self.by_id.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-reads every `account/*` record (another process, e.g. the app while this is the
    /// notification extension, may have paired or unpaired). A record that cannot be read is
    /// skipped, logged and remembered as needing re-pairing, so one broken record can neither
    /// hide the others nor stop the app.
    pub(super) fn reload(&self) -> Result<(), CoreError> {
        let mut map = HashMap::new();
        let mut broken = Vec::new();
        for key in self.store.list_keys(ACCOUNT_PREFIX)? {
            let account_id = key.strip_prefix(ACCOUNT_PREFIX).unwrap_or(&key).to_owned();
            let bytes = match self.store.get(&key) {
                Ok(Some(bytes)) => bytes,
                Ok(None) => continue,
                Err(e) => {
                    warn!(key = %key, error = %e, "skipping an account record the store cannot read");
                    broken.push(AccountNeedingRepair {
                        account_id,
                        cause: RepairCause::Unreadable,
                    });
                    continue;
                }
            };
            match serde_json::from_slice::<AccountRecord>(bytes.expose_secret()) {
                Ok(r) => {
                    map.insert(r.id.clone(), Arc::new(r));
                }
                Err(e) => {
                    warn!(key = %key, error = %e, "skipping a corrupt account record");
                    broken.push(AccountNeedingRepair {
                        account_id,
                        cause: RepairCause::Corrupt,
                    });
                }
            }
        }
        broken.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        *self.write() = map;
        *self.broken.write().unwrap_or_else(|p| p.into_inner()) = broken;
        Ok(())
    }

    /// The records the last reload could not read.
    pub(super) fn needing_repair(&self) -> Vec<AccountNeedingRepair> {
        self.broken
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Deletes the record `account/<id>` whatever state it is in (readable or not). Its
    /// device key cannot be found without a readable record; after a restore it is gone
    /// anyway.
    pub(super) fn forget_record(&self, id: &str) -> Result<(), CoreError> {
        self.store.delete(&format!("{ACCOUNT_PREFIX}{id}"))?;
        self.set_sent_push(id, None);
        self.write().remove(id);
        self.broken
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|b| b.account_id != id);
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

    /// The push key kept with the device key `key_alias`, if there is one.
    pub(super) fn push_key(&self, key_alias: &str) -> Result<Option<PushSecretKey>, CoreError> {
        let Some(bytes) = self.store.get(&push_key_entry(key_alias))? else {
            return Ok(None);
        };
        PushSecretKey::from_secret_bytes(bytes.expose_secret())
            .map(Some)
            .map_err(|_| {
                StoreError::Corrupt {
                    key: push_key_entry(key_alias),
                    message: "a push key is not 32 or 64 bytes".into(),
                }
                .into()
            })
    }

    /// Stores `key` beside the device key `key_alias`.
    pub(super) fn save_push_key(
        &self,
        key_alias: &str,
        key: &PushSecretKey,
    ) -> Result<(), CoreError> {
        let bytes = key.stored_bytes();
        self.store
            .set(&push_key_entry(key_alias), SecretBytes::from_slice(&bytes))?;
        Ok(())
    }

    /// Deletes the push key beside `key_alias` (absent is fine). Logged, not returned: callers
    /// are removing an account, which goes on either way.
    pub(super) fn delete_push_key(&self, key_alias: &str) {
        if let Err(e) = self.store.delete(&push_key_entry(key_alias)) {
            warn!(error = %e, "could not delete a push key");
        }
    }

    /// The push registration `account_id`'s service last acknowledged, if known. An
    /// unreadable entry counts as unknown: the registration is then simply sent again.
    pub(super) fn sent_push(&self, account_id: &str) -> Option<PushRegistration> {
        let bytes = self
            .store
            .get(&format!("{PUSH_SENT_PREFIX}{account_id}"))
            .ok()??;
        serde_json::from_slice(bytes.expose_secret()).ok()
    }

    /// Remembers that `account_id`'s service acknowledged `push` (`None`: forget it, so the
    /// next registration is sent whatever it is).
    pub(super) fn set_sent_push(&self, account_id: &str, push: Option<&PushRegistration>) {
        let key = format!("{PUSH_SENT_PREFIX}{account_id}");
        let result = match push.map(serde_json::to_vec) {
            Some(Ok(json)) => self.store.set(&key, SecretBytes::new(json)),
            Some(Err(_)) | None => self.store.delete(&key),
        };
        if let Err(e) = result {
            // Only costs one extra request later.
            warn!(error = %e, "could not record the push registration sent");
        }
    }

    /// Deletes `account`'s record.
    pub(super) fn remove(&self, account: &AccountRecord) -> Result<(), CoreError> {
        self.store.delete(&account.store_key())?;
        self.set_sent_push(&account.id, None);
        self.write().remove(&account.id);
        Ok(())
    }
}
