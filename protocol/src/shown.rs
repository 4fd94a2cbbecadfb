//! The signed acknowledgement that the phone showed a `display` challenge's code after
//! verifying its user: under a policy that requires user verification the service accepts the
//! code typed at the login prompt only after one (docs/PROTOCOL.md §7a). Signed with the
//! account's device key, like an answer, but with its own `typ`, so neither can stand in for
//! the other.

use serde::{Deserialize, Serialize};

use crate::ProtocolError;
use crate::answer::UvMethod;
use crate::challenge::invalid;
use crate::jws;
use crate::keys::{Es256Signer, PublicKey, SignError};

/// JWS `typ` of a code-shown acknowledgement.
pub const SHOWN_TYP: &str = "tapprove-shown+jwt";

/// "I showed this session's code to a verified user."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeShown {
    /// Protocol version.
    pub ver: u32,
    /// The `display` session whose code was shown.
    pub session_id: String,
    /// The acknowledging account; its stored public key verifies this token.
    pub account_id: String,
    /// How the phone verified its user before showing the code (required: an
    /// acknowledgement without verification proves nothing the challenge did not).
    pub uv: UvMethod,
    /// When the code was shown, Unix seconds (device clock, corrected by the service's Date).
    pub iat: i64,
    /// The challenge's nonce, echoed.
    pub nonce: String,
}

impl jws::DeviceClaims for CodeShown {
    fn account_id(&self) -> &str {
        &self.account_id
    }
    fn iat(&self) -> i64 {
        self.iat
    }
    fn validate(&self) -> Result<(), ProtocolError> {
        if self.session_id.is_empty() || self.account_id.is_empty() || self.nonce.is_empty() {
            return Err(invalid(
                "session_id, account_id and nonce must not be empty",
            ));
        }
        Ok(())
    }
}

impl CodeShown {
    /// Signs with the account's device key; `kid` is the account id.
    pub fn sign(&self, signer: &dyn Es256Signer) -> Result<String, SignError> {
        jws::sign(self, SHOWN_TYP, &self.account_id, signer)
    }

    /// Verifies with the device's stored public key: signature, version, fields, `kid` equal
    /// to `account_id`, and `iat` within `skew_seconds` of `now` (the answer's rules).
    pub fn verify(
        token: &str,
        device_key: &PublicKey,
        now: i64,
        skew_seconds: i64,
    ) -> Result<Self, ProtocolError> {
        jws::verify_device_token(token, SHOWN_TYP, device_key, now, skew_seconds)
    }

    /// The (session id, account id) a token claims, unverified: used to look up the key.
    pub fn peek_ids(token: &str) -> Result<(String, String), ProtocolError> {
        jws::peek_device_ids(token, SHOWN_TYP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PROTOCOL_VERSION;
    use crate::{Answer, Decision, SoftwareKey};

    fn shown() -> CodeShown {
        CodeShown {
            ver: PROTOCOL_VERSION,
            session_id: "ses_1".into(),
            account_id: "acc_1".into(),
            uv: UvMethod::Biometric,
            iat: 1000,
            nonce: "n".into(),
        }
    }

    #[test]
    fn verifies_and_is_not_an_answer() {
        let key = SoftwareKey::generate().expect("key");
        let token = shown().sign(&key).expect("sign");
        let back = CodeShown::verify(&token, &key.public_key(), 1010, 60).expect("valid");
        assert_eq!(back, shown());
        assert!(CodeShown::verify(&token, &key.public_key(), 2000, 60).is_err());
        assert!(Answer::verify(&token, &key.public_key(), 1010, 60).is_err());
        let answer = Answer {
            ver: PROTOCOL_VERSION,
            session_id: "ses_1".into(),
            account_id: "acc_1".into(),
            decision: Decision::Approve,
            presence_answer: None,
            deny_reason: None,
            uv: Some(UvMethod::Biometric),
            iat: 1000,
            nonce: "n".into(),
        };
        let token = answer.sign(&key).expect("sign");
        assert!(CodeShown::verify(&token, &key.public_key(), 1010, 60).is_err());
    }
}
