//! Reading push payloads on the device (docs/PROTOCOL.md §11; the `tapprove-push` crate sends
//! them) without copying more than needed.

use std::borrow::Cow;

use serde::Deserialize;

use crate::error::CoreError;

/// Member of APNs `userInfo` and of the FCM data map that carries the challenge.
pub const PAYLOAD_KEY: &str = "tapprove";
pub use tapprove_protocol::sealed::{SEALED_ACCOUNT_KEY, SEALED_PAYLOAD_KEY};

/// The members an app copies from an FCM data map before handing it to the core.
pub const PAYLOAD_KEYS: [&str; 3] = [PAYLOAD_KEY, SEALED_PAYLOAD_KEY, SEALED_ACCOUNT_KEY];

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow, default)]
    tapprove: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tapprove_sealed: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    account: Option<Cow<'a, str>>,
}

/// The challenge a Tapprove push carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushChallenge<'a> {
    /// The compact JWS in the clear (`tapprove`): devices paired without a push key.
    Plain(Cow<'a, str>),
    /// Sealed to the account's push key (`tapprove_sealed` + `account`).
    Sealed {
        /// The sealed challenge (base64url).
        sealed: Cow<'a, str>,
        /// The account whose key opens it.
        account: Cow<'a, str>,
    },
}

/// The challenge of a push payload: `Ok(None)` when the payload is not Tapprove's (valid
/// JSON without a `tapprove` or `tapprove_sealed` member, or not a JSON object),
/// `InvalidPayload` when it is not JSON at all, a member is not a string, or a sealed
/// challenge comes without its `account` (or together with a readable one).
///
/// Accepts the APNs `userInfo` (`{"aps": {...}, "tapprove": "<jws>"}` or
/// `{"aps": {...}, "tapprove_sealed": "<b64url>", "account": "<id>"}`) and the FCM data map
/// with the same members; other members are skipped unparsed.
pub fn challenge(payload_json: &str) -> Result<Option<PushChallenge<'_>>, CoreError> {
    if !payload_json.trim_start().starts_with('{') {
        return match serde_json::from_str::<serde::de::IgnoredAny>(payload_json) {
            Ok(_) => Ok(None),
            Err(e) => Err(CoreError::InvalidPayload {
                message: format!("not JSON: {e}"),
            }),
        };
    }
    let p: Payload<'_> =
        serde_json::from_str(payload_json).map_err(|e| CoreError::InvalidPayload {
            message: format!("bad push payload: {e}"),
        })?;
    match (p.tapprove, p.tapprove_sealed, p.account) {
        (None, None, _) => Ok(None),
        (Some(token), None, _) => Ok(Some(PushChallenge::Plain(token))),
        (None, Some(sealed), Some(account)) => Ok(Some(PushChallenge::Sealed { sealed, account })),
        (None, Some(_), None) => Err(CoreError::InvalidPayload {
            message: "a sealed login request without its `account`".into(),
        }),
        (Some(_), Some(_), _) => Err(CoreError::InvalidPayload {
            message: "both a readable and a sealed login request".into(),
        }),
    }
}

/// The readable challenge token of a push payload (see [`challenge`]); a sealed one is
/// `InvalidPayload` here (it needs the account's key: `Authenticator::handle_push`).
pub fn challenge_token(payload_json: &str) -> Result<Option<Cow<'_, str>>, CoreError> {
    match challenge(payload_json)? {
        None => Ok(None),
        Some(PushChallenge::Plain(token)) => Ok(Some(token)),
        Some(PushChallenge::Sealed { .. }) => Err(CoreError::InvalidPayload {
            message: "the login request is sealed; open it with Authenticator::handle_push".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_token_in_apns_and_fcm_shapes() {
        let apns = r#"{"aps":{"alert":{"title":"T","body":"B"},"category":"TAPPROVE_LOGIN","mutable-content":1},"tapprove":"a.b.c"}"#;
        assert_eq!(challenge_token(apns).expect("ok").as_deref(), Some("a.b.c"));
        let fcm = r#"{"tapprove":"a.b.c","title":"T","body":"B"}"#;
        assert_eq!(challenge_token(fcm).expect("ok").as_deref(), Some("a.b.c"));
    }

    #[test]
    fn finds_the_sealed_form() {
        let apns = r#"{"aps":{"alert":{"title":"Login request","body":"Open to review a sign-in"},"category":"TAPPROVE_LOGIN","mutable-content":1},"tapprove_sealed":"AQID","account":"acc_1"}"#;
        assert_eq!(
            challenge(apns).expect("ok"),
            Some(PushChallenge::Sealed {
                sealed: "AQID".into(),
                account: "acc_1".into()
            })
        );
        for p in [
            r#"{"tapprove_sealed":"AQID"}"#,
            r#"{"tapprove_sealed":"AQID","account":5}"#,
            r#"{"tapprove":"a.b.c","tapprove_sealed":"AQID","account":"acc_1"}"#,
        ] {
            assert!(
                matches!(challenge(p), Err(CoreError::InvalidPayload { .. })),
                "{p}"
            );
        }
        assert!(matches!(
            challenge_token(apns),
            Err(CoreError::InvalidPayload { .. })
        ));
    }

    #[test]
    fn other_notifications_are_not_ours() {
        for p in [
            r#"{"aps":{"alert":"hi"}}"#,
            "{}",
            "[]",
            "42",
            "\"tapprove\"",
            r#"["a.b.c"]"#,
            r#"{"tapprove":null}"#,
        ] {
            assert!(challenge_token(p).expect("ok").is_none(), "{p}");
        }
    }

    #[test]
    fn broken_payloads_are_typed_errors() {
        for p in [
            "",
            "{",
            "not json",
            r#"{"tapprove": 5}"#,
            r#"{"tapprove":"x","tapprove":"y"}"#,
        ] {
            assert!(
                matches!(challenge_token(p), Err(CoreError::InvalidPayload { .. })),
                "{p}"
            );
        }
    }
}
