//! The signed answer: the phone's decision, signed with the account's device key.

use serde::{Deserialize, Serialize};

use crate::ProtocolError;
use crate::challenge::invalid;
use crate::jws;
use crate::keys::{Es256Signer, PublicKey, SignError};

/// JWS `typ` of an answer.
pub const ANSWER_TYP: &str = "tapprove-answer+jwt";

/// Approve or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The user approves the login.
    Approve,
    /// The user refuses it.
    Deny,
}

crate::wire::wire_names!(Decision {
    Approve => "approve",
    Deny => "deny",
});

/// Why the user denied. "Not me" is a fraud signal; "cancelled" is a change of mind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// The user did not try to log in: someone else has the password.
    NotMe,
    /// The user started the login but does not want it any more.
    Cancelled,
}

crate::wire::wire_names!(DenyReason {
    NotMe => "not_me",
    Cancelled => "cancelled",
});

/// How the phone verified its user before approving: the method class, never more (no
/// biometric data, no passphrase). Absent in an answer = the user was not verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UvMethod {
    /// Face or fingerprint, by the platform (BiometricPrompt class 3, LocalAuthentication).
    Biometric,
    /// The device's PIN, pattern or passcode, by the platform (KeyguardManager, LocalAuthentication).
    DeviceCredential,
    /// A passphrase the authenticator app itself checks (the terminal authenticator).
    AppPassphrase,
}

crate::wire::wire_names!(UvMethod {
    Biometric => "biometric",
    DeviceCredential => "device_credential",
    AppPassphrase => "app_passphrase",
});

/// An answer to a challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Protocol version.
    pub ver: u32,
    /// The session answered.
    pub session_id: String,
    /// The answering account; its stored public key verifies this answer.
    pub account_id: String,
    /// Approve or deny.
    pub decision: Decision,
    /// With approve: the option picked (choose) or the code typed (entry); absent for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_answer: Option<String>,
    /// With deny: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_reason: Option<DenyReason>,
    /// With approve: how the user was verified on the phone; absent = not verified. Deny never
    /// carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uv: Option<UvMethod>,
    /// When the user answered, Unix seconds (device clock, corrected by the service's Date).
    pub iat: i64,
    /// The challenge's nonce, echoed.
    pub nonce: String,
}

impl jws::DeviceClaims for Answer {
    fn account_id(&self) -> &str {
        &self.account_id
    }
    fn iat(&self) -> i64 {
        self.iat
    }
    fn validate(&self) -> Result<(), ProtocolError> {
        Answer::validate(self)
    }
}

impl Answer {
    /// Signs with the account's device key; `kid` is the account id.
    pub fn sign(&self, signer: &dyn Es256Signer) -> Result<String, SignError> {
        jws::sign(self, ANSWER_TYP, &self.account_id, signer)
    }

    /// Verifies an answer with the device's stored public key and checks its field rules and
    /// freshness (`iat` within `skew_seconds` of `now`).
    pub fn verify(
        token: &str,
        device_key: &PublicKey,
        now: i64,
        skew_seconds: i64,
    ) -> Result<Self, ProtocolError> {
        jws::verify_device_token(token, ANSWER_TYP, device_key, now, skew_seconds)
    }

    /// The (session id, account id) an answer claims, unverified: used to look up the key.
    pub fn peek_ids(token: &str) -> Result<(String, String), ProtocolError> {
        jws::peek_device_ids(token, ANSWER_TYP)
    }

    /// Field rules: approve carries no deny reason; deny carries a reason and no presence answer.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if self.session_id.is_empty() || self.account_id.is_empty() || self.nonce.is_empty() {
            return Err(invalid(
                "session_id, account_id and nonce must not be empty",
            ));
        }
        if self.decision == Decision::Deny && self.uv.is_some() {
            return Err(invalid("deny must not carry uv"));
        }
        match (self.decision, &self.presence_answer, &self.deny_reason) {
            (Decision::Approve, _, None) => Ok(()),
            (Decision::Deny, None, Some(_)) => Ok(()),
            (Decision::Approve, _, Some(_)) => Err(invalid("approve must not carry a deny reason")),
            (Decision::Deny, Some(_), _) => Err(invalid("deny must not carry a presence answer")),
            (Decision::Deny, None, None) => Err(invalid("deny needs a reason")),
        }
    }
}
