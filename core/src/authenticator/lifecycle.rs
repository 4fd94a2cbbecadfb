//! What the service's responses say about an account beyond their answer: the device was
//! revoked (`403 revoked`), the service clock moved (persisted for cold processes), or the
//! service rolls its signing key (a key update, docs/PROTOCOL.md §5a).

use std::sync::Arc;

use tapprove_protocol::KeyUpdate;
use tracing::{info, warn};

use super::Inner;
use crate::api_client::Body;
use crate::clock::SKEW_SECONDS;
use crate::error::CoreError;
use crate::model::{AccountRecord, RetiringKey};
use crate::net::Method;

/// An offset that moved more than this (seconds) is written to the account record, so a
/// process that starts cold (a Notification Service Extension, a notification action) judges
/// times with it before any network call.
pub(super) const PERSIST_OFFSET_ABOVE: i64 = 5;

impl Inner {
    /// A device API call with a request proof for `account`, settled (see [`Inner::settle`]).
    pub(super) fn call(
        &self,
        account: &AccountRecord,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Body, CoreError> {
        let result = self.api.call(account, method, path, body);
        self.settle(account, result)
    }

    /// Every response about `account` passes here: the clock offset is persisted when it
    /// moved, a key update in the response header is applied (a refused one is logged: the
    /// call's own outcome must not be hidden), and `revoked` marks the account.
    pub(super) fn settle(
        &self,
        account: &AccountRecord,
        result: Result<Body, CoreError>,
    ) -> Result<Body, CoreError> {
        self.persist_clock(&account.server_url);
        match result {
            Ok(body) => {
                if let Some(token) = &body.key_update
                    && let Err(e) = self.accept_key_update(&account.id, token)
                {
                    warn!(account_id = %account.id, error = %e, "refused the key update in a response header");
                }
                Ok(body)
            }
            Err(CoreError::Revoked { revoked_at, .. }) => {
                Err(self.mark_revoked(account, revoked_at))
            }
            Err(e) => Err(e),
        }
    }

    /// `Err(Revoked)` for an account the service revoked; such an account is never used.
    pub(super) fn check_usable(&self, account: &AccountRecord) -> Result<(), CoreError> {
        match account.revoked_at {
            Some(at) => Err(revoked_error(account, Some(at))),
            None => Ok(()),
        }
    }

    /// Records the revocation (the time the service gave, else now) and returns the error.
    pub(super) fn mark_revoked(
        &self,
        account: &AccountRecord,
        revoked_at: Option<i64>,
    ) -> CoreError {
        let at = revoked_at.unwrap_or_else(|| self.api.now_for(account));
        let current = self
            .accounts
            .cached(&account.id)
            .unwrap_or_else(|| Arc::new(account.clone()));
        if current.revoked_at.is_none() {
            let mut record = (*current).clone();
            record.revoked_at = Some(at);
            if let Err(e) = self.accounts.save(record) {
                warn!(account_id = %account.id, error = %e, "could not record the revocation");
            }
            warn!(account_id = %account.id, revoked_at = at, "the service revoked this device");
        }
        self.requests.forget_account(&account.id);
        revoked_error(account, Some(current.revoked_at.unwrap_or(at)))
    }

    /// Writes the offset learnt from `server` into its accounts' records when it moved more
    /// than [`PERSIST_OFFSET_ABOVE`] seconds from the stored one.
    pub(super) fn persist_clock(&self, server: &str) {
        let Some(offset) = self.api.offset(server) else {
            return;
        };
        for account in self.accounts.all() {
            if account.server_url == server
                && (account.clock_offset - offset).abs() > PERSIST_OFFSET_ABOVE
            {
                let mut record = (*account).clone();
                record.clock_offset = offset;
                match self.accounts.save(record) {
                    Ok(_) => {
                        info!(account_id = %account.id, offset, "stored the new service clock offset")
                    }
                    Err(e) => {
                        warn!(account_id = %account.id, error = %e, "could not store the clock offset")
                    }
                }
            }
        }
    }

    /// Verifies a key update with `account_id`'s pinned key and, if valid, pins the new key
    /// for every account of that service pinned to the same key, keeping the old one as the
    /// retiring key until `old_key_valid_until`. The same update seen again (the service repeats
    /// it during the grace period) is accepted without change. Anything else is
    /// [`CoreError::KeyUpdateRefused`] and the pinned key stays.
    pub(super) fn accept_key_update(
        &self,
        account_id: &str,
        token: &str,
    ) -> Result<AccountRecord, CoreError> {
        let account = self.accounts.get(account_id)?;
        self.check_usable(&account)?;
        let now = self.api.now_for(&account);
        let update = match KeyUpdate::verify(token, &account.service_key, now, SKEW_SECONDS) {
            Ok(u) => u,
            Err(e) => {
                let repeated = account.retiring_key.as_ref().is_some_and(|r| {
                    KeyUpdate::verify(token, &r.key, now, SKEW_SECONDS)
                        .is_ok_and(|u| u.new_key == account.service_key)
                });
                if repeated {
                    return Ok((*account).clone());
                }
                warn!(account_id, code = e.code(), error = %e, "refused a key update");
                return Err(CoreError::KeyUpdateRefused {
                    code: e.code().to_owned(),
                    reason: e.to_string(),
                });
            }
        };
        let old = account.service_key.clone();
        let mut updated = (*account).clone();
        for other in self.accounts.all() {
            if other.server_url != account.server_url || other.service_key != old {
                continue;
            }
            let mut record = (*other).clone();
            record.service_key = update.new_key.clone();
            record.retiring_key = Some(RetiringKey {
                key: old.clone(),
                valid_until: update.old_key_valid_until,
            });
            self.accounts.save(record.clone())?;
            info!(account_id = %record.id, new_kid = %update.new_key.key_id(), "pinned the service's new key");
            if record.id == account.id {
                updated = record;
            }
        }
        Ok(updated)
    }
}

pub(super) fn revoked_error(account: &AccountRecord, revoked_at: Option<i64>) -> CoreError {
    CoreError::Revoked {
        account_id: account.id.clone(),
        project_name: account.project_name.clone(),
        user: account.user.clone(),
        revoked_at,
    }
}
