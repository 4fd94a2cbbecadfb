//! Requests that ended unanswered, kept in the [`SecureStore`] under
//! `ended_request/<account id>/<session id>`: a late "not me" must be signed with the
//! challenge's nonce, and the app that shows the request as ended (or the terminal
//! authenticator's next command) is often not the process that learnt of the end.
//!
//! The store is written through: every change of the in-memory ended requests
//! ([`super::requests`]) is mirrored here, and a failed write is only logged (the request then
//! lives in memory only). A record that cannot be read is skipped; one that cannot be parsed,
//! or is past the window, is deleted.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tapprove_protocol::api::SessionStatus;
use tracing::warn;

use super::requests::{Cached, Ended, NOT_ME_WINDOW, ended_unanswered};
use crate::model::LoginRequest;
use crate::secret::SecretBytes;
use crate::store::SecureStore;

/// Store key prefix of ended requests.
pub(super) const ENDED_PREFIX: &str = "ended_request/";

/// The record's layout version: a newer layout is skipped (and deleted) by an older core.
const RECORD_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Record {
    v: u32,
    request: LoginRequest,
    nonce: String,
    status: SessionStatus,
    ended_at: i64,
}

fn account_prefix(account_id: &str) -> String {
    format!("{ENDED_PREFIX}{account_id}/")
}

fn key(account_id: &str, request_id: &str) -> String {
    format!("{}{request_id}", account_prefix(account_id))
}

/// The ended requests' side of the store.
pub(super) struct EndedStore {
    store: Arc<dyn SecureStore>,
}

impl EndedStore {
    pub(super) fn new(store: Arc<dyn SecureStore>) -> Self {
        Self { store }
    }

    /// Writes `ended` (replacing any record of the same request).
    pub(super) fn save(&self, ended: &Ended) {
        let request = &ended.cached.request;
        let record = Record {
            v: RECORD_VERSION,
            request: request.clone(),
            nonce: ended.cached.nonce.clone(),
            status: ended.status,
            ended_at: ended.ended_at,
        };
        let result = serde_json::to_vec(&record)
            .map_err(|e| e.to_string())
            .and_then(|json| {
                self.store
                    .set(
                        &key(&request.account_id, &request.id),
                        SecretBytes::new(json),
                    )
                    .map_err(|e| e.to_string())
            });
        if let Err(error) = result {
            // Still kept in memory: this process can report it, a new one cannot.
            warn!(request_id = %request.id, %error, "could not store an ended request");
        }
    }

    /// Deletes the record of `request_id` (absent is fine).
    pub(super) fn delete(&self, account_id: &str, request_id: &str) {
        self.delete_key(&key(account_id, request_id));
    }

    fn delete_key(&self, key: &str) {
        if let Err(error) = self.store.delete(key) {
            warn!(key, %error, "could not delete an ended request");
        }
    }

    /// Deletes every ended request of `account_id`, loaded or not.
    pub(super) fn delete_account(&self, account_id: &str) {
        match self.store.list_keys(&account_prefix(account_id)) {
            Ok(keys) => keys.iter().for_each(|k| self.delete_key(k)),
            Err(error) => warn!(account_id, %error, "could not list ended requests to delete"),
        }
    }

    /// Every stored ended request still inside the "not me" window at `now`. Records past the
    /// window and records that do not parse are deleted; records the store cannot read are
    /// skipped (a locked keychain may read them later). Never fails: the list is then shorter.
    pub(super) fn load(&self, now: i64) -> Vec<Ended> {
        let keys = match self.store.list_keys(ENDED_PREFIX) {
            Ok(keys) => keys,
            Err(error) => {
                warn!(%error, "could not list the stored ended requests");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for key in keys {
            let bytes = match self.store.get(&key) {
                Ok(Some(bytes)) => bytes,
                Ok(None) => continue,
                Err(error) => {
                    warn!(key, %error, "skipping an ended request the store cannot read");
                    continue;
                }
            };
            let record = match serde_json::from_slice::<Record>(bytes.expose_secret()) {
                Ok(r)
                    if r.v == RECORD_VERSION
                        && key == self::key(&r.request.account_id, &r.request.id) =>
                {
                    r
                }
                Ok(_) | Err(_) => {
                    warn!(key, "deleting an ended request that cannot be parsed");
                    self.delete_key(&key);
                    continue;
                }
            };
            if !ended_unanswered(record.status)
                || record.ended_at.saturating_add(NOT_ME_WINDOW) < now
            {
                self.delete_key(&key);
                continue;
            }
            out.push(Ended {
                cached: Cached {
                    request: record.request,
                    nonce: record.nonce,
                },
                status: record.status,
                ended_at: record.ended_at,
            });
        }
        out
    }
}
