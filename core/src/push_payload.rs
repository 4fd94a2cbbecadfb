//! Reading push payloads on the device (docs/PROTOCOL.md §11; the `tapprove-push` crate sends
//! them) without copying more than needed.

use std::borrow::Cow;

use serde::Deserialize;

use crate::error::CoreError;

/// Member of APNs `userInfo` and of the FCM data map that carries the challenge.
pub const PAYLOAD_KEY: &str = "tapprove";

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow, default)]
    tapprove: Option<Cow<'a, str>>,
}

/// The challenge token of a push payload: `Ok(None)` when the payload is not Tapprove's (valid
/// JSON without a `tapprove` member, or not a JSON object), `InvalidPayload` when it is not
/// JSON at all or its `tapprove` member is not a string.
///
/// Accepts the APNs `userInfo` (`{"aps": {...}, "tapprove": "<jws>"}`) and the FCM data map
/// (`{"tapprove": "<jws>", "title": ..., "body": ...}`); other members are skipped unparsed.
pub fn challenge_token(payload_json: &str) -> Result<Option<Cow<'_, str>>, CoreError> {
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
    Ok(p.tapprove)
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
