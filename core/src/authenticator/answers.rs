//! Answering a request: the decision checked against the presence mode, the answer signed
//! with the account's device key and sent (`POST /v1/device/answers`), at most once per request.

use tapprove_protocol::api::{AnswerRequest, AnswerResponse};
use tapprove_protocol::{Answer, PROTOCOL_VERSION, PresenceMode};
use tracing::{info, warn};

use super::Inner;
use super::requests::Cached;
use crate::api_client::{self, Auth};
use crate::clock::SKEW_SECONDS;
use crate::error::CoreError;
use crate::model::{AccountRecord, Decision, LoginRequest, RespondOutcome};
use crate::net::Method;
use crate::signer::AliasSigner;

impl Inner {
    pub(super) fn respond(
        &self,
        request_id: &str,
        decision: Decision,
    ) -> Result<RespondOutcome, CoreError> {
        let cached = match self.requests.lookup(request_id)? {
            Some(c) => c,
            None => self.look_up_with_the_service(request_id)?,
        };
        let request = &cached.request;
        let (proto_decision, presence_answer, deny_reason) = check_decision(request, decision)?;
        let account = self.accounts.get(&request.account_id)?;
        let now = self.api.now_for(&account);
        if now > request.expires_at.saturating_add(SKEW_SECONDS) {
            self.requests.forget(request_id);
            return Err(CoreError::Expired);
        }
        self.requests.reserve(request_id, request.expires_at)?;
        let result = self.send_answer(
            &account,
            request,
            &cached.nonce,
            proto_decision,
            presence_answer,
            deny_reason,
            now,
        );
        match &result {
            Ok(_) | Err(CoreError::AlreadyAnswered) | Err(CoreError::Expired) => {
                self.requests.forget(request_id);
            }
            // Nothing was decided: allow another try.
            Err(_) => self.requests.release(request_id),
        }
        result
    }

    /// A request not seen yet (e.g. the app was restarted): re-reads every account's pending
    /// requests and looks again.
    fn look_up_with_the_service(&self, request_id: &str) -> Result<Cached, CoreError> {
        for account in &self.accounts.all() {
            if let Err(e) = self.fetch_pending(account) {
                warn!(account_id = %account.id, error = %e, "could not read pending requests");
            }
        }
        self.requests
            .lookup(request_id)?
            .ok_or_else(|| CoreError::UnknownRequest {
                request_id: request_id.to_owned(),
            })
    }

    #[allow(clippy::too_many_arguments)]
    fn send_answer(
        &self,
        account: &AccountRecord,
        request: &LoginRequest,
        nonce: &str,
        decision: tapprove_protocol::Decision,
        presence_answer: Option<String>,
        deny_reason: Option<tapprove_protocol::DenyReason>,
        now: i64,
    ) -> Result<RespondOutcome, CoreError> {
        let answer = Answer {
            ver: PROTOCOL_VERSION,
            session_id: request.id.clone(),
            account_id: account.id.clone(),
            decision,
            presence_answer,
            deny_reason,
            iat: now,
            nonce: nonce.to_owned(),
        };
        let alias_signer = AliasSigner::new(
            self.signer.as_ref(),
            &account.key_alias,
            &account.device_key,
        );
        let token = answer
            .sign(&alias_signer)
            .map_err(|e| CoreError::Signer(alias_signer.take_error(e)))?;
        let body = serde_json::to_vec(&AnswerRequest { answer: token }).map_err(|e| {
            CoreError::InvalidPayload {
                message: e.to_string(),
            }
        })?;
        let req = api_client::request(
            &account.server_url,
            Method::Post,
            "/v1/device/answers",
            Some(body),
            Auth::None,
        )?;
        let resp = match self.api.send(&account.server_url, req) {
            Err(CoreError::Service { status: 404, .. }) => {
                return Err(CoreError::UnknownRequest {
                    request_id: request.id.clone(),
                });
            }
            other => other?,
        };
        let answer: AnswerResponse = resp.json()?;
        info!(request_id = %request.id, status = answer.status.as_str(), "answered");
        Ok(RespondOutcome {
            request_id: request.id.clone(),
            status: answer.status,
            reason: answer.reason,
        })
    }
}

/// Checks a decision against the request's presence mode; returns the wire fields.
fn check_decision(
    request: &LoginRequest,
    decision: Decision,
) -> Result<
    (
        tapprove_protocol::Decision,
        Option<String>,
        Option<tapprove_protocol::DenyReason>,
    ),
    CoreError,
> {
    match decision {
        Decision::Deny { reason } => Ok((tapprove_protocol::Decision::Deny, None, Some(reason))),
        Decision::Approve { presence_answer } => {
            let answer = presence_answer
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty());
            let answer = match request.presence_mode {
                PresenceMode::None => None,
                PresenceMode::Entry => Some(answer.ok_or(CoreError::PresenceAnswerRequired)?),
                PresenceMode::Choose => {
                    let a = answer.ok_or(CoreError::PresenceAnswerRequired)?;
                    if !request.options.contains(&a) {
                        return Err(CoreError::PresenceAnswerNotAmongOptions);
                    }
                    Some(a)
                }
            };
            Ok((tapprove_protocol::Decision::Approve, answer, None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapprove_protocol::{Context, DenyReason};

    fn request(mode: PresenceMode) -> LoginRequest {
        LoginRequest {
            id: "ses_1".into(),
            account_id: "acc_1".into(),
            user: "alice".into(),
            title: "t".into(),
            body: "b".into(),
            context: Context::default(),
            presence_mode: mode,
            options: if mode == PresenceMode::Choose {
                vec!["17".into(), "42".into(), "88".into()]
            } else {
                vec![]
            },
            issued_at: 0,
            expires_at: 100,
        }
    }

    fn approve(a: Option<&str>) -> Decision {
        Decision::Approve {
            presence_answer: a.map(str::to_owned),
        }
    }

    #[test]
    fn choose_mode_needs_one_of_the_options() {
        let r = request(PresenceMode::Choose);
        assert!(matches!(
            check_decision(&r, approve(None)),
            Err(CoreError::PresenceAnswerRequired)
        ));
        assert!(matches!(
            check_decision(&r, approve(Some("  "))),
            Err(CoreError::PresenceAnswerRequired)
        ));
        assert!(matches!(
            check_decision(&r, approve(Some("43"))),
            Err(CoreError::PresenceAnswerNotAmongOptions)
        ));
        let (d, a, reason) = check_decision(&r, approve(Some("42"))).expect("ok");
        assert_eq!(
            (d, a.as_deref(), reason),
            (tapprove_protocol::Decision::Approve, Some("42"), None)
        );
    }

    #[test]
    fn entry_mode_needs_a_code_and_none_mode_ignores_it() {
        let r = request(PresenceMode::Entry);
        assert!(matches!(
            check_decision(&r, approve(None)),
            Err(CoreError::PresenceAnswerRequired)
        ));
        let (_, a, _) = check_decision(&r, approve(Some(" 42 "))).expect("ok");
        assert_eq!(a.as_deref(), Some("42"));
        let r = request(PresenceMode::None);
        let (_, a, _) = check_decision(&r, approve(Some("42"))).expect("ok");
        assert_eq!(a, None);
    }

    #[test]
    fn deny_carries_the_reason_only() {
        for mode in [
            PresenceMode::Choose,
            PresenceMode::Entry,
            PresenceMode::None,
        ] {
            let (d, a, reason) = check_decision(
                &request(mode),
                Decision::Deny {
                    reason: DenyReason::NotMe,
                },
            )
            .expect("ok");
            assert_eq!(
                (d, a, reason),
                (
                    tapprove_protocol::Decision::Deny,
                    None,
                    Some(DenyReason::NotMe)
                )
            );
        }
    }
}
