//! Answering a request: the decision checked against the presence mode, the user verified
//! when the policy asks, the answer signed with the account's device key and sent
//! (`POST /v1/device/answers`), at most once per request — and re-signed once with the
//! corrected clock if the service refused its time.

use tapprove_protocol::api::{AnswerRequest, AnswerResponse, SessionStatus};
use tapprove_protocol::{Answer, DenyReason, PROTOCOL_VERSION, PresenceMode, UvMethod};
use tracing::{debug, info, warn};

use super::Inner;
use super::requests::{Cached, Known};
use crate::api_client::{self, Auth};
use crate::clock::SKEW_SECONDS;
use crate::error::CoreError;
use crate::model::{AccountRecord, Decision, LoginRequest, RespondOutcome};
use crate::net::Method;
use crate::signer::AliasSigner;
use crate::user_verification;

/// An answer refused for its time is re-signed once when the corrected clock moved at least
/// this much (seconds) during the refused call.
const ANSWER_RETRY_CLOCK_MOVED: i64 = 5;

impl Inner {
    pub(super) fn respond(
        &self,
        request_id: &str,
        decision: Decision,
    ) -> Result<RespondOutcome, CoreError> {
        let (cached, ended) = match self.requests.lookup(request_id, self.api.device_now())? {
            Known::Pending(c) => (c, false),
            Known::Ended(e) => {
                // Over unanswered: only a late fraud report is still meaningful.
                if !is_not_me(&decision) {
                    return Err(CoreError::RequestEnded { status: e.status });
                }
                (e.cached, true)
            }
            Known::Unknown => (self.look_up_with_the_service(request_id)?, false),
        };
        let request = &cached.request;
        let (proto_decision, presence_answer, deny_reason) = check_decision(request, decision)?;
        let account = self.accounts.get(&request.account_id)?;
        self.check_usable(&account)?;
        let now = self.api.now_for(&account);
        if !ended && now > request.expires_at.saturating_add(SKEW_SECONDS) {
            self.requests
                .end(request_id, SessionStatus::Expired, self.api.device_now());
            return Err(CoreError::Expired);
        }
        self.requests.reserve(request_id, request.expires_at, now)?;
        let result = self
            .verify_user(&account, request, proto_decision)
            .and_then(|uv| {
                self.send_answer(
                    &account,
                    request,
                    &cached.nonce,
                    proto_decision,
                    presence_answer,
                    deny_reason,
                    uv,
                )
            });
        match &result {
            // Expired before the answer: "not me" may still report it.
            Err(CoreError::Expired) if !ended => {
                self.requests.release(request_id);
                self.requests
                    .end(request_id, SessionStatus::Expired, self.api.device_now());
            }
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
    /// When it is still unknown and a service could not be asked, that failure is the answer
    /// ("try again later" beats "not pending" while the service is down).
    pub(super) fn look_up_with_the_service(&self, request_id: &str) -> Result<Cached, CoreError> {
        let mut failure = None;
        for account in &self.accounts.active() {
            if let Err(e) = self.fetch_pending(account) {
                warn!(account_id = %account.id, error = %e, "could not read pending requests");
                failure.get_or_insert(e);
            }
        }
        match (
            self.requests.lookup(request_id, self.api.device_now())?,
            failure,
        ) {
            (Known::Pending(cached), _) => Ok(cached),
            (Known::Ended(e), _) => Err(CoreError::RequestEnded { status: e.status }),
            (Known::Unknown, Some(e)) => Err(e),
            (Known::Unknown, None) => Err(CoreError::UnknownRequest {
                request_id: request_id.to_owned(),
            }),
        }
    }

    /// Asks the app's verifier when approving a request whose policy wants it; the method for
    /// the answer's `uv`. Denying never asks.
    fn verify_user(
        &self,
        account: &AccountRecord,
        request: &LoginRequest,
        decision: tapprove_protocol::Decision,
    ) -> Result<Option<UvMethod>, CoreError> {
        if decision != tapprove_protocol::Decision::Approve {
            return Ok(None);
        }
        let verifier = self
            .verifier
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let reason = format!(
            "Approve signing in to {} as {}",
            account.project_name, account.user
        );
        user_verification::verify_for(request.user_verification, verifier.as_deref(), &reason)
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
        uv: Option<UvMethod>,
    ) -> Result<RespondOutcome, CoreError> {
        let mut answer = Answer {
            ver: PROTOCOL_VERSION,
            session_id: request.id.clone(),
            account_id: account.id.clone(),
            decision,
            presence_answer,
            deny_reason,
            uv,
            iat: self.api.now_for(account),
            nonce: nonce.to_owned(),
        };
        let mut retried = false;
        let resp = loop {
            let result = self.post_answer(account, &answer);
            match self.settle(account, result) {
                // Refused for its time (a cold process with a stale offset): the response's
                // Date corrected the clock; sign again with it, once. `bad_signature` is what
                // services before `clock_skew` answer.
                Err(CoreError::Service {
                    status: 400,
                    ref code,
                    ..
                }) if !retried
                    && (code == "clock_skew" || code == "bad_signature")
                    && (self.api.now_for(account) - answer.iat).abs()
                        >= ANSWER_RETRY_CLOCK_MOVED =>
                {
                    debug!(request_id = %request.id, "answer refused for its time; signing again with the corrected clock");
                    retried = true;
                    answer.iat = self.api.now_for(account);
                }
                Err(CoreError::Service { status: 404, .. }) => {
                    return Err(CoreError::UnknownRequest {
                        request_id: request.id.clone(),
                    });
                }
                other => break other?,
            }
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

impl Inner {
    fn post_answer(
        &self,
        account: &AccountRecord,
        answer: &Answer,
    ) -> Result<crate::api_client::Body, CoreError> {
        self.post_signed(
            account,
            "/v1/device/answers",
            |signer| answer.sign(signer),
            |answer| AnswerRequest { answer },
        )
    }

    /// Signs a device token with the account's key (`sign`) and posts it, wrapped in its
    /// request body (`body`), to `path`: the one way answers and acknowledgements leave.
    pub(super) fn post_signed<B: serde::Serialize>(
        &self,
        account: &AccountRecord,
        path: &str,
        sign: impl FnOnce(&AliasSigner<'_>) -> Result<String, tapprove_protocol::SignError>,
        body: impl FnOnce(String) -> B,
    ) -> Result<crate::api_client::Body, CoreError> {
        let alias_signer = AliasSigner::new(
            self.signer.as_ref(),
            &account.key_alias,
            &account.device_key,
        );
        let token =
            sign(&alias_signer).map_err(|e| CoreError::Signer(alias_signer.take_error(e)))?;
        let body = serde_json::to_vec(&body(token)).map_err(|e| CoreError::InvalidPayload {
            message: e.to_string(),
        })?;
        let req = api_client::request(
            &account.server_url,
            Method::Post,
            path,
            Some(body),
            Auth::None,
        )?;
        self.api.send(&account.server_url, req)
    }
}

fn is_not_me(decision: &Decision) -> bool {
    matches!(
        decision,
        Decision::Deny {
            reason: DenyReason::NotMe
        }
    )
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
                PresenceMode::Display => return Err(CoreError::ApprovedByCode),
                PresenceMode::None => None,
                PresenceMode::Entry => {
                    let code = answer.ok_or(CoreError::PresenceAnswerRequired)?;
                    // Format only: whether it is the right code is the service's decision.
                    if let Some(n) = request.code_length
                        && (code.len() != usize::from(n)
                            || !code.bytes().all(|b| b.is_ascii_digit()))
                    {
                        return Err(CoreError::InvalidCode { expected_digits: n });
                    }
                    Some(code)
                }
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
    use tapprove_protocol::Context;

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
            code_length: None,
            display_code: None,
            user_verification: None,
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
    fn entry_mode_with_a_length_needs_that_many_digits() {
        let mut r = request(PresenceMode::Entry);
        r.code_length = Some(6);
        for bad in ["12345", "1234567", "12345a", "12 456"] {
            assert!(
                matches!(
                    check_decision(&r, approve(Some(bad))),
                    Err(CoreError::InvalidCode { expected_digits: 6 })
                ),
                "{bad}"
            );
        }
        let (_, a, _) = check_decision(&r, approve(Some(" 123456 "))).expect("ok");
        assert_eq!(a.as_deref(), Some("123456"));
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
