//! Code to phone (`display` requests, PROTOCOL.md §7a): the code is shown in the app after the
//! user is verified when the policy asks, and the service is told with a signed
//! acknowledgement (`POST /v1/device/shown`), without which it refuses the code under a policy
//! that requires user verification.

use tapprove_protocol::api::{AnswerResponse, ShownRequest};
use tapprove_protocol::{CodeShown, PROTOCOL_VERSION, PresenceMode, UvMethod};
use tracing::info;

use super::Inner;
use super::requests::Known;
use crate::clock::SKEW_SECONDS;
use crate::error::CoreError;
use crate::model::{AccountRecord, LoginRequest};
use crate::user_verification;

impl Inner {
    pub(super) fn show_code(&self, request_id: &str) -> Result<String, CoreError> {
        let cached = match self.requests.lookup(request_id, self.api.device_now())? {
            Known::Pending(c) => c,
            Known::Ended(e) => return Err(CoreError::RequestEnded { status: e.status }),
            Known::Unknown => self.look_up_with_the_service(request_id)?,
        };
        let request = &cached.request;
        let code = match (request.presence_mode, &request.display_code) {
            (PresenceMode::Display, Some(code)) => code.clone(),
            _ => return Err(CoreError::NoCodeToShow),
        };
        let account = self.accounts.get(&request.account_id)?;
        self.check_usable(&account)?;
        if self.api.now_for(&account) > request.expires_at.saturating_add(SKEW_SECONDS) {
            return Err(CoreError::Expired);
        }
        let verifier = self
            .verifier
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let reason = format!(
            "Show the code for signing in to {} as {}",
            account.project_name, account.user
        );
        let uv =
            user_verification::verify_for(request.user_verification, verifier.as_deref(), &reason)?;
        // Without verification there is nothing to acknowledge: the service asks for one only
        // under a policy that requires verification, and then `verify_for` did not pass.
        if let Some(uv) = uv {
            self.acknowledge_shown(&account, request, &cached.nonce, uv)?;
        }
        Ok(code)
    }

    fn acknowledge_shown(
        &self,
        account: &AccountRecord,
        request: &LoginRequest,
        nonce: &str,
        uv: UvMethod,
    ) -> Result<(), CoreError> {
        let shown = CodeShown {
            ver: PROTOCOL_VERSION,
            session_id: request.id.clone(),
            account_id: account.id.clone(),
            uv,
            iat: self.api.now_for(account),
            nonce: nonce.to_owned(),
        };
        let result = self.post_signed(
            account,
            "/v1/device/shown",
            |signer| shown.sign(signer),
            |shown| ShownRequest { shown },
        );
        let response: AnswerResponse = self.settle(account, result)?.json()?;
        info!(request_id = %request.id, status = response.status.as_str(), "code shown to a verified user");
        Ok(())
    }
}
