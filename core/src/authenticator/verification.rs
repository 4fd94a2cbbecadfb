//! Verifying login requests: a challenge token checked against its account's pinned service
//! key and the service's clock (docs/PROTOCOL.md §2), from a push, the pending list or the
//! event stream.

use serde::Deserialize;
use tapprove_protocol::api::PendingResponse;
use tapprove_protocol::challenge::CHALLENGE_TYP;
use tapprove_protocol::jws::Unverified;
use tapprove_protocol::sealed;
use tapprove_protocol::{Challenge, PROTOCOL_VERSION, ProtocolError};
use tracing::warn;

use super::Inner;
use crate::clock::SKEW_SECONDS;
use crate::error::CoreError;
use crate::model::{AccountRecord, LoginRequest};
use crate::net::Method;

#[derive(Deserialize)]
struct Route {
    /// Optional here so that a payload of a newer version with another schema can still be
    /// verified (with each pinned key) and reported as "update the app".
    #[serde(default)]
    account_id: Option<String>,
}

#[derive(Deserialize)]
struct VersionOnly {
    ver: u32,
}

impl Inner {
    /// Verifies a challenge token with its account's pinned key, checks its time with the
    /// corrected clock, and records it in the request cache. With `expected_account`, a
    /// challenge for another account is refused.
    ///
    /// The token is parsed once; the order of checks is the protocol's (§2).
    pub(super) fn accept_challenge(
        &self,
        token: &str,
        expected_account: Option<&str>,
    ) -> Result<LoginRequest, CoreError> {
        self.accept_challenge_from(token, expected_account, false)
    }

    /// [`Inner::accept_challenge`] for a push payload; `readable_push` when it came unsealed,
    /// which an account with a push key refuses: its service seals every push, so a readable
    /// one was made or downgraded by someone else (and would show the context to Apple and
    /// Google).
    pub(super) fn accept_challenge_from(
        &self,
        token: &str,
        expected_account: Option<&str>,
        readable_push: bool,
    ) -> Result<LoginRequest, CoreError> {
        let jws = Unverified::parse(token, CHALLENGE_TYP).map_err(CoreError::from_challenge)?;
        // Routing only: which pinned key to verify with. Trusted after the signature check.
        let route: Route = jws
            .payload_unverified()
            .map_err(CoreError::from_challenge)?;
        let account = match (route.account_id, expected_account) {
            (Some(id), Some(expected)) if id != expected => {
                return Err(CoreError::InvalidPayload {
                    message: format!(
                        "the service sent a request for account {id:?} to account {expected:?}"
                    ),
                });
            }
            (Some(id), _) => {
                let account = self.accounts.get(&id)?;
                self.check_usable(&account)?;
                let now = self.api.now_for(&account);
                if !account.service_signed(jws.signing_input(), jws.signature(), now) {
                    return Err(CoreError::BadSignature);
                }
                account
            }
            (None, expected) => {
                // No routable account id: accept only if a pinned key verifies it (the
                // version/schema checks below then say what is wrong with it).
                let candidates = match expected {
                    Some(id) => vec![self.accounts.get(id)?],
                    None => self.accounts.active(),
                };
                candidates
                    .into_iter()
                    .find(|a| {
                        a.revoked_at.is_none()
                            && a.service_signed(
                                jws.signing_input(),
                                jws.signature(),
                                self.api.now_for(a),
                            )
                    })
                    .ok_or_else(|| CoreError::InvalidPayload {
                        message: "it names no account of this device".into(),
                    })?
            }
        };
        if readable_push && self.accounts.push_key(&account.key_alias)?.is_some() {
            return Err(CoreError::InvalidPayload {
                message: "this account receives sealed pushes only; an unsealed one is refused"
                    .into(),
            });
        }
        let VersionOnly { ver } = jws
            .payload_unverified()
            .map_err(CoreError::from_challenge)?;
        if ver != PROTOCOL_VERSION {
            return Err(CoreError::from_challenge(
                ProtocolError::UnsupportedVersion(ver),
            ));
        }
        let challenge: Challenge = jws
            .payload_unverified()
            .map_err(CoreError::from_challenge)?;
        challenge.validate().map_err(CoreError::from_challenge)?;
        let now = self.api.now_for(&account);
        challenge
            .check_time(now, SKEW_SECONDS)
            .map_err(CoreError::from_challenge)?;

        let nonce = challenge.nonce.clone();
        let request = LoginRequest::from_challenge(challenge, account.user_verification);
        self.requests.record(&request, nonce, now)?;
        Ok(request)
    }

    /// Opens a sealed push for `account_id` with its push key (docs/PROTOCOL.md §11): the
    /// challenge token, still to be verified. Offline.
    pub(super) fn open_sealed(&self, account_id: &str, sealed: &str) -> Result<String, CoreError> {
        let account = self.accounts.get(account_id)?;
        self.check_usable(&account)?;
        let not_decryptable = |reason: &str| CoreError::NotDecryptable {
            account_id: account.id.clone(),
            reason: reason.to_owned(),
        };
        let Some(key) = self.accounts.push_key(&account.key_alias)? else {
            return Err(not_decryptable(
                "this device keeps no push key for the account",
            ));
        };
        sealed::open(&key, &account.id, sealed).map_err(|e| match e {
            ProtocolError::NotDecryptable => {
                not_decryptable("it was sealed to another key or account, or altered")
            }
            other => CoreError::from_challenge(other),
        })
    }

    /// `account`'s pending requests from the service (`GET /v1/device/pending`), verified;
    /// answered ones are left out, invalid ones logged and left out.
    pub(super) fn fetch_pending(
        &self,
        account: &AccountRecord,
    ) -> Result<Vec<LoginRequest>, CoreError> {
        let body = self.call(account, Method::Get, "/v1/device/pending", None)?;
        let pending: PendingResponse = body.json()?;
        // Before the challenges: they may already be signed with the new key.
        if let Some(token) = &pending.key_update {
            self.accept_key_update(&account.id, token)?;
        }
        if pending.push_token_missing {
            self.resend_push(account);
        }
        let mut out = Vec::new();
        for token in &pending.challenges {
            match self.accept_challenge(token, Some(&account.id)) {
                Ok(r) => out.push(r),
                Err(CoreError::AlreadyAnswered | CoreError::RequestEnded { .. }) => {}
                Err(e) => warn!(account_id = %account.id, error = %e, "ignoring a pending request"),
            }
        }
        Ok(out)
    }

    pub(super) fn pending(&self, account_id: Option<&str>) -> Result<Vec<LoginRequest>, CoreError> {
        let accounts = match account_id {
            Some(id) => {
                let account = self.accounts.get(id)?;
                self.check_usable(&account)?;
                vec![account]
            }
            None => self.accounts.active(),
        };
        let mut out = Vec::new();
        let mut first_error = None;
        let mut any_ok = accounts.is_empty();
        for account in &accounts {
            match self.fetch_pending(account) {
                Ok(list) => {
                    any_ok = true;
                    out.extend(list);
                }
                Err(e) => {
                    warn!(account_id = %account.id, error = %e, "could not read pending requests");
                    first_error.get_or_insert(e);
                }
            }
        }
        if let (false, Some(e)) = (any_ok, first_error) {
            return Err(e);
        }
        out.sort_by(|a, b| (a.issued_at, &a.id).cmp(&(b.issued_at, &b.id)));
        Ok(out)
    }
}
