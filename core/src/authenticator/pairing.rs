//! An account's life on this device: pairing (a new device key, the service key pinned),
//! push-token updates and unpairing.
//!
//! Pairing is retry-safe (docs/PROTOCOL.md §6 "Pairing"): the device key is the pairing's
//! identity. Before the request is sent, the key's alias is written under
//! `pairing/<digest of service, SDK key, user, code>`; when the outcome is unknown (the
//! connection broke, the service failed) the key is kept, so a retry sends the same public key
//! and the service returns the account it already created instead of a second one.
//!
//! Each pairing also makes a push key (X25519, docs/PROTOCOL.md §11): its public half goes in
//! the request as `push_key`, the private half stays in the secure store beside the device key
//! (`push_key/<alias>`, made before the request, so a retry sends the same one) and is deleted
//! with it.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tapprove_protocol::PublicKey;
use tapprove_protocol::api::{PairRequest, PairResponse, PushRegistration};
use tapprove_protocol::sealed::PushSecretKey;
use tracing::{info, warn};

use super::Inner;
use crate::api_client::{self, Auth};
use crate::config::Config;
use crate::error::CoreError;
use crate::model::{Account, AccountRecord};
use crate::net::Method;
use crate::secret::SecretBytes;

/// Store key prefix of pairings whose outcome is not known yet.
const PAIRING_PREFIX: &str = "pairing/";
/// In-doubt pairings older than this (seconds) are given up: their keys are deleted. The
/// service's repeat window, so a retry is never sent when it could no longer succeed.
const PAIRING_KEPT_FOR: i64 = tapprove_protocol::api::PAIRING_RETRY_WINDOW;

/// A pairing in doubt: which device key it sent, and when.
#[derive(Serialize, Deserialize)]
struct InDoubt {
    alias: String,
    created_at: i64,
}

impl Inner {
    pub(super) fn pair(
        &self,
        config: Config,
        user: &str,
        pairing_code: &str,
        push: Option<PushRegistration>,
    ) -> Result<Account, CoreError> {
        let user = user.trim();
        let code = pairing_code.trim();
        if user.is_empty() {
            return Err(CoreError::config(
                "enter your user name at the site to pair",
            ));
        }
        if code.is_empty() {
            return Err(CoreError::config(
                "enter the pairing code the site shows to pair",
            ));
        }
        self.forget_stale_pairings();
        let entry = in_doubt_key(&config, user, code);
        let (alias, device_key) = match self.in_doubt(&entry) {
            Some(found) => found,
            None => {
                let alias = format!("tapprove-{}", crate::random_id(16));
                let key = self.signer.create_key(&alias)?;
                let push_key = PushSecretKey::generate().map_err(|e| CoreError::Internal {
                    detail: e.to_string(),
                })?;
                self.accounts.save_push_key(&alias, &push_key)?;
                let record = InDoubt {
                    alias: alias.clone(),
                    created_at: self.api.device_now(),
                };
                let json = serde_json::to_vec(&record).map_err(|e| CoreError::Internal {
                    detail: e.to_string(),
                })?;
                self.accounts.store().set(&entry, SecretBytes::new(json))?;
                (alias, key)
            }
        };
        let mut result = self.pair_with_key(&config, user, code, push.clone(), &alias, &device_key);
        if matches!(result, Err(CoreError::Network { .. })) {
            // The answer may have been lost after the service paired: the same key again.
            warn!("pairing: no answer from the service; trying once more with the same key");
            result = self.pair_with_key(&config, user, code, push, &alias, &device_key);
        }
        let in_doubt = matches!(&result, Err(CoreError::Network { .. }))
            || matches!(&result, Err(CoreError::Service { status, .. }) if *status >= 500);
        if !in_doubt {
            if let Err(e) = self.accounts.store().delete(&entry) {
                warn!(error = %e, "could not clear the pairing entry");
            }
            if result.is_err() {
                if let Err(e) = self.signer.delete_key(&alias) {
                    warn!(error = %e, "could not delete the unused device key");
                }
                self.accounts.delete_push_key(&alias);
            }
        }
        result
    }

    /// The key of an in-doubt pairing with the same service, user and code, if it still exists.
    fn in_doubt(&self, entry: &str) -> Option<(String, PublicKey)> {
        let bytes = self.accounts.store().get(entry).ok()??;
        let record: InDoubt = serde_json::from_slice(bytes.expose_secret()).ok()?;
        let key = self.signer.public_key(&record.alias).ok()?;
        info!("pairing again with the device key of an unfinished pairing");
        Some((record.alias, key))
    }

    /// Deletes in-doubt pairings older than [`PAIRING_KEPT_FOR`] and their unused keys.
    fn forget_stale_pairings(&self) {
        let store = self.accounts.store();
        let Ok(keys) = store.list_keys(PAIRING_PREFIX) else {
            return;
        };
        let now = self.api.device_now();
        for key in keys {
            let Ok(Some(bytes)) = store.get(&key) else {
                continue;
            };
            let stale = match serde_json::from_slice::<InDoubt>(bytes.expose_secret()) {
                Ok(r) if now.saturating_sub(r.created_at) <= PAIRING_KEPT_FOR => continue,
                Ok(r) => Some(r.alias),
                Err(_) => None,
            };
            if let Some(alias) = stale
                && !self.accounts.all().iter().any(|a| a.key_alias == alias)
            {
                let _ = self.signer.delete_key(&alias);
                self.accounts.delete_push_key(&alias);
            }
            let _ = store.delete(&key);
        }
    }

    fn pair_with_key(
        &self,
        config: &Config,
        user: &str,
        code: &str,
        push: Option<PushRegistration>,
        alias: &str,
        device_key: &PublicKey,
    ) -> Result<Account, CoreError> {
        // Absent only for an in-doubt pairing begun by an app version without push keys.
        let push_key = self.accounts.push_key(alias)?.map(|k| k.public_key());
        let request = PairRequest {
            user: user.to_owned(),
            pairing_code: code.to_owned(),
            public_key: device_key.clone(),
            push: push.clone(),
            device_name: config.device_name().map(str::to_owned),
            push_key,
            key_protection: Some(self.signer.key_protection()),
        };
        let body = serde_json::to_vec(&request).map_err(|e| CoreError::InvalidPayload {
            message: e.to_string(),
        })?;
        let server = config.server_url();
        let req = api_client::request(
            server,
            Method::Post,
            "/v1/device/pair",
            Some(body),
            Auth::SdkKey(config.sdk_key()),
        )?;
        let resp = self.api.send(server, req)?;
        let pair: PairResponse = resp.json()?;
        if pair.account_id.is_empty() {
            return Err(CoreError::Service {
                status: resp.status,
                code: "invalid_response".into(),
                message: "the service returned an empty account id".into(),
            });
        }
        let clock_offset = pair.server_time.saturating_sub(self.api.device_now());
        self.api.set_offset(server, clock_offset);
        let record = AccountRecord {
            id: pair.account_id,
            project_id: pair.project_id,
            project_name: pair.project_name,
            user: pair.user,
            server_url: server.to_owned(),
            sdk_key: config.sdk_key().to_owned(),
            service_key: pair.service_key,
            key_alias: alias.to_owned(),
            device_key: device_key.clone(),
            clock_offset,
            paired_at: pair.server_time,
            user_verification: pair.user_verification,
            retiring_key: None,
            revoked_at: None,
            // Kept only when it is a P-256 point: the connector would refuse anything else.
            vapid_public_key: pair
                .vapid_public_key
                .filter(|k| tapprove_protocol::PublicKey::from_base64url(k).is_ok()),
        };
        // Accounts are (service, account id): never replace another service's account.
        self.accounts.reload()?;
        let previous = self.accounts.cached(&record.id);
        if let Some(existing) = previous.as_ref().filter(|p| p.server_url != server) {
            warn!(account_id = %record.id, "pairing refused: the id belongs to another service's account here");
            // Best effort: the service should not keep a device that will never answer.
            if let Err(e) = self.api.call(&record, Method::Delete, "/v1/device", None) {
                warn!(error = %e, "could not tell the service to forget the refused pairing");
            }
            return Err(CoreError::AccountIdCollision {
                account_id: record.id,
                existing_server: existing.server_url.clone(),
            });
        }
        let account = self.accounts.save(record)?;
        self.accounts.set_sent_push(&account.id, push.as_ref());
        if let Some(old) = previous.filter(|p| p.key_alias != alias) {
            let _ = self.signer.delete_key(&old.key_alias);
            self.accounts.delete_push_key(&old.key_alias);
        }
        info!(account_id = %account.id, project_id = %account.project_id, "paired");
        Ok(account)
    }

    pub(super) fn update_push_token(&self, push: &PushRegistration) -> Result<(), CoreError> {
        let body = serde_json::to_vec(push).map_err(|e| CoreError::InvalidPayload {
            message: e.to_string(),
        })?;
        let mut first_error = None;
        for account in self.accounts.active() {
            // Apps call this on every start and every token callback: only a change (or a
            // registration the service lost, see `resend_push`) costs a request.
            if self.accounts.sent_push(&account.id).as_ref() == Some(push) {
                continue;
            }
            if let Err(e) = self.send_push(&account, push, &body) {
                warn!(account_id = %account.id, error = %e, "push token update failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn send_push(
        &self,
        account: &AccountRecord,
        push: &PushRegistration,
        body: &[u8],
    ) -> Result<(), CoreError> {
        self.call(
            account,
            Method::Put,
            "/v1/device/push-token",
            Some(body.to_vec()),
        )?;
        self.accounts.set_sent_push(&account.id, Some(push));
        Ok(())
    }

    /// The service says it holds no push token for `account` (`push_token_missing`): sends
    /// the last registration again, if this device has one. Failures are logged; the next
    /// `pending` tries again.
    pub(super) fn resend_push(&self, account: &AccountRecord) {
        let Some(push) = self.accounts.sent_push(&account.id) else {
            return;
        };
        let result = serde_json::to_vec(&push)
            .map_err(|e| CoreError::Internal {
                detail: e.to_string(),
            })
            .and_then(|body| self.send_push(account, &push, &body));
        match result {
            Ok(()) => info!(account_id = %account.id, "push registration sent again"),
            Err(e) => {
                warn!(account_id = %account.id, error = %e, "could not send the push registration again")
            }
        }
    }

    pub(super) fn unpair(&self, account_id: &str) -> Result<(), CoreError> {
        let account = match self.accounts.get(account_id) {
            Err(CoreError::UnknownAccount { .. })
                if self
                    .accounts
                    .needing_repair()
                    .iter()
                    .any(|b| b.account_id == account_id) =>
            {
                // Without its record there is no service to tell: remove it here only.
                self.accounts.forget_record(account_id)?;
                return Err(CoreError::UnpairedLocallyOnly {
                    reason: "its stored record could not be read, so the service was not told"
                        .into(),
                });
            }
            other => other?,
        };
        // A revoked account: the service already forgot this device.
        let remote = match account.revoked_at {
            Some(_) => Ok(()),
            None => self
                .api
                .call(&account, Method::Delete, "/v1/device", None)
                .map(|_| ()),
        };
        self.remove_local(&account)?;
        match remote {
            Ok(()) | Err(CoreError::NotPaired) | Err(CoreError::Revoked { .. }) => {
                info!(account_id = %account.id, "unpaired");
                Ok(())
            }
            Err(e) => {
                warn!(account_id = %account.id, error = %e, "unpaired locally; the service could not be told");
                Err(CoreError::UnpairedLocallyOnly {
                    reason: e.to_string(),
                })
            }
        }
    }

    pub(super) fn remove_local(&self, account: &AccountRecord) -> Result<(), CoreError> {
        self.accounts.remove(account)?;
        if let Err(e) = self.signer.delete_key(&account.key_alias) {
            // The account is gone; a leftover key is harmless but worth a log line.
            warn!(account_id = %account.id, error = %e, "could not delete the device key");
        }
        self.accounts.delete_push_key(&account.key_alias);
        self.requests.forget_account(&account.id);
        Ok(())
    }
}

/// The store key of an in-doubt pairing: a digest, so the pairing code is not kept in clear.
fn in_doubt_key(config: &Config, user: &str, code: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [config.server_url(), config.sdk_key(), user, code] {
        ctx.update(part.as_bytes());
        ctx.update(&[0]);
    }
    let digest = ctx.finish();
    let short = digest.as_ref().get(..18).unwrap_or_default();
    format!(
        "{PAIRING_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(short)
    )
}
