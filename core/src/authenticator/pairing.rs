//! An account's life on this device: pairing (a new device key, the service key pinned),
//! push-token updates and unpairing.

use tapprove_protocol::PublicKey;
use tapprove_protocol::api::{PairRequest, PairResponse, PushRegistration};
use tracing::{info, warn};

use super::Inner;
use crate::api_client::{self, Auth};
use crate::config::Config;
use crate::error::CoreError;
use crate::model::{Account, AccountRecord};
use crate::net::Method;

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
        let alias = format!("tapprove-{}", crate::random_id(16));
        let device_key = self.signer.create_key(&alias)?;
        let result = self.pair_with_key(&config, user, code, push, &alias, &device_key);
        if result.is_err()
            && let Err(e) = self.signer.delete_key(&alias)
        {
            warn!(error = %e, "could not delete the unused device key");
        }
        result
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
        let request = PairRequest {
            user: user.to_owned(),
            pairing_code: code.to_owned(),
            public_key: device_key.clone(),
            push,
            device_name: config.device_name().map(str::to_owned),
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
        let previous = self.accounts.cached(&pair.account_id);
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
        };
        let account = self.accounts.save(record)?;
        if let Some(old) = previous.filter(|p| p.key_alias != alias) {
            let _ = self.signer.delete_key(&old.key_alias);
        }
        info!(account_id = %account.id, project_id = %account.project_id, "paired");
        Ok(account)
    }

    pub(super) fn update_push_token(&self, push: &PushRegistration) -> Result<(), CoreError> {
        let body = serde_json::to_vec(push).map_err(|e| CoreError::InvalidPayload {
            message: e.to_string(),
        })?;
        let mut first_error = None;
        for account in self.accounts.all() {
            let result = self.api.call(
                &account,
                Method::Put,
                "/v1/device/push-token",
                Some(body.clone()),
            );
            if let Err(e) = result {
                warn!(account_id = %account.id, error = %e, "push token update failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    pub(super) fn unpair(&self, account_id: &str) -> Result<(), CoreError> {
        let account = self.accounts.get(account_id)?;
        let remote = self.api.call(&account, Method::Delete, "/v1/device", None);
        self.remove_local(&account)?;
        match remote {
            Ok(_) | Err(CoreError::NotPaired) => {
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

    fn remove_local(&self, account: &AccountRecord) -> Result<(), CoreError> {
        self.accounts.remove(account)?;
        if let Err(e) = self.signer.delete_key(&account.key_alias) {
            // The account is gone; a leftover key is harmless but worth a log line.
            warn!(account_id = %account.id, error = %e, "could not delete the device key");
        }
        self.requests.forget_account(&account.id);
        Ok(())
    }
}
