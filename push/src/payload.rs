//! Push payloads exactly as docs/PROTOCOL.md §11 says, kept within [`MAX_PAYLOAD_BYTES`].
//!
//! The signed challenge is what the phone trusts and shows; the notification title and body are
//! display text only. So when a payload is too large, the body (then the title) is shortened
//! with an ellipsis; the challenge is never touched. A challenge that alone does not fit fails.
//!
//! A message with a sealed challenge (the device gave a push key) carries nothing readable
//! about the login: the sealed challenge, the account id and a generic alert.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{APNS_CATEGORY, MAX_PAYLOAD_BYTES, PushMessage, SEALED_ALERT_BODY, SEALED_ALERT_TITLE};

#[derive(Serialize)]
struct ApnsPayload<'a> {
    aps: Aps<'a>,
    #[serde(flatten)]
    content: Content<'a>,
}

/// The challenge member(s): in the clear, or sealed with the account id beside it.
#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Plain {
        tapprove: &'a str,
    },
    Sealed {
        tapprove_sealed: &'a str,
        account: &'a str,
    },
}

impl<'a> Content<'a> {
    fn of(message: &'a PushMessage) -> Self {
        match &message.sealed {
            Some(s) => Self::Sealed {
                tapprove_sealed: &s.sealed,
                account: &s.account_id,
            },
            None => Self::Plain {
                tapprove: &message.challenge,
            },
        }
    }
}

/// The visible title and body: the session's, or the generic ones of a sealed push.
fn visible(message: &PushMessage) -> (&str, &str) {
    match message.sealed {
        Some(_) => (SEALED_ALERT_TITLE, SEALED_ALERT_BODY),
        None => (&message.title, &message.body),
    }
}

#[derive(Serialize)]
struct Aps<'a> {
    alert: Alert<'a>,
    category: &'static str,
    #[serde(rename = "mutable-content")]
    mutable_content: u8,
}

#[derive(Serialize)]
struct Alert<'a> {
    title: &'a str,
    body: &'a str,
}

/// The APNs `userInfo` JSON:
/// `{"aps": {"alert": {"title", "body"}, "category": "TAPPROVE_LOGIN", "mutable-content": 1},
/// "tapprove": "<jws>"}`.
/// Sealed: `{"aps": {…the generic alert…}, "tapprove_sealed": "<b64url>", "account": "<id>"}`.
pub(crate) fn apns(message: &PushMessage) -> Result<Vec<u8>, String> {
    let (title, body) = visible(message);
    let (bytes, _, _) = fit(title, body, |title, body| {
        serde_json::to_vec(&ApnsPayload {
            aps: Aps {
                alert: Alert { title, body },
                category: APNS_CATEGORY,
                mutable_content: 1,
            },
            content: Content::of(message),
        })
    })?;
    Ok(bytes)
}

/// The FCM data map (all values strings): `{"tapprove": "<jws>", "title", "body"}`; sealed:
/// `{"tapprove_sealed": "<b64url>", "account": "<id>", "title", "body"}` with the generic text.
pub(crate) fn fcm_data(message: &PushMessage) -> Result<BTreeMap<&'static str, String>, String> {
    data_map(message, MAX_PAYLOAD_BYTES).map(|(_, map)| map)
}

/// The Web Push plaintext: the FCM data map as JSON (the app hands it to the core as it does
/// an FCM message), within `limit` bytes (what fits 4096 once encrypted).
pub(crate) fn webpush(message: &PushMessage, limit: usize) -> Result<Vec<u8>, String> {
    data_map(message, limit).map(|(bytes, _)| bytes)
}

/// The data map and its JSON, text shortened to fit `limit` bytes.
fn data_map(
    message: &PushMessage,
    limit: usize,
) -> Result<(Vec<u8>, BTreeMap<&'static str, String>), String> {
    let data = |title: &str, body: &str| {
        let mut map = BTreeMap::from([("title", title.to_owned()), ("body", body.to_owned())]);
        match &message.sealed {
            Some(s) => {
                map.insert("tapprove_sealed", s.sealed.clone());
                map.insert("account", s.account_id.clone());
            }
            None => {
                map.insert("tapprove", message.challenge.clone());
            }
        }
        map
    };
    let (title, body) = visible(message);
    let (bytes, title, body) =
        fit_within(limit, title, body, |t, b| serde_json::to_vec(&data(t, b)))?;
    Ok((bytes, data(&title, &body)))
}

/// Renders with `title`/`body`, shortening body then title until the result fits.
fn fit(
    title: &str,
    body: &str,
    render: impl Fn(&str, &str) -> Result<Vec<u8>, serde_json::Error>,
) -> Result<(Vec<u8>, String, String), String> {
    fit_within(MAX_PAYLOAD_BYTES, title, body, render)
}

/// [`fit`] within `limit` bytes.
fn fit_within(
    limit: usize,
    title: &str,
    body: &str,
    render: impl Fn(&str, &str) -> Result<Vec<u8>, serde_json::Error>,
) -> Result<(Vec<u8>, String, String), String> {
    let (mut title, mut body) = (title.to_owned(), body.to_owned());
    // Each round removes at least the excess, so a handful of rounds always suffices.
    for _ in 0..16 {
        let bytes =
            render(&title, &body).map_err(|e| format!("could not serialise the payload: {e}"))?;
        let Some(excess) = bytes.len().checked_sub(limit).filter(|e| *e > 0) else {
            return Ok((bytes, title, body));
        };
        if !body.is_empty() {
            body = shorten(&body, excess);
        } else if !title.is_empty() {
            title = shorten(&title, excess);
        } else {
            return Err(format!(
                "the challenge alone makes a {}-byte payload, over the provider's {limit}-byte limit",
                bytes.len()
            ));
        }
    }
    Err("could not shorten the notification text to fit the payload limit".into())
}

/// Drops at least `excess` bytes (plus room for the ellipsis) from the end, on a char boundary.
fn shorten(text: &str, excess: usize) -> String {
    const ELLIPSIS: char = '…';
    let keep = text.len().saturating_sub(excess + ELLIPSIS.len_utf8());
    let cut = (0..=keep)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    if cut == 0 {
        return String::new();
    }
    let mut out = text[..cut].to_owned();
    out.push(ELLIPSIS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(title: &str, body: &str, challenge_len: usize) -> PushMessage {
        PushMessage {
            collapse_id: "c1".into(),
            title: title.into(),
            body: body.into(),
            challenge: "x".repeat(challenge_len),
            expires_at: 1_800_000_000,
            sealed: None,
        }
    }

    #[test]
    fn sealed_payloads_carry_no_login_text() {
        let mut msg = message("Log in to Demo Bank as alice?", "Firefox, 203.0.113.9", 10);
        msg.sealed = Some(crate::SealedChallenge {
            account_id: "acc_1".into(),
            sealed: "c2VhbGVk".into(),
        });
        let bytes = apns(&msg).expect("fits");
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(
            value,
            serde_json::json!({"aps": {"alert": {"title": SEALED_ALERT_TITLE, "body": SEALED_ALERT_BODY},
                "category": "TAPPROVE_LOGIN", "mutable-content": 1},
                "tapprove_sealed": "c2VhbGVk", "account": "acc_1"})
        );
        let data = fcm_data(&msg).expect("fits");
        let text = serde_json::to_string(&data).expect("json");
        assert_eq!(
            text,
            format!(
                r#"{{"account":"acc_1","body":"{SEALED_ALERT_BODY}","tapprove_sealed":"c2VhbGVk","title":"{SEALED_ALERT_TITLE}"}}"#
            )
        );
        for leak in ["alice", "Demo Bank", "Firefox", "203.0.113.9", "xxxxxxxxxx"] {
            assert!(!String::from_utf8_lossy(&bytes).contains(leak), "{leak}");
            assert!(!text.contains(leak), "{leak}");
        }
    }

    #[test]
    fn apns_payload_has_the_protocol_shape() {
        let bytes = apns(&message("Log in?", "Someone \"is\" signing in", 10)).expect("fits");
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(
            value,
            serde_json::json!({"aps": {"alert": {"title": "Log in?", "body": "Someone \"is\" signing in"},
                "category": "TAPPROVE_LOGIN", "mutable-content": 1}, "tapprove": "xxxxxxxxxx"})
        );
    }

    #[test]
    fn oversized_text_is_shortened_never_the_challenge() {
        // Worst case the protocol allows: 3072-byte challenge, 120-char title, 500-char body of
        // 4-byte characters, some needing JSON escapes.
        let body = "😀\"".repeat(250);
        let title = "😀".repeat(120);
        let msg = message(&title, &body, 3072);
        let bytes = apns(&msg).expect("fits after shortening");
        assert!(bytes.len() <= MAX_PAYLOAD_BYTES, "{} bytes", bytes.len());
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(value["tapprove"].as_str(), Some(msg.challenge.as_str()));
        let shown = value["aps"]["alert"]["body"].as_str().expect("body");
        assert!(shown.ends_with('…') || shown.is_empty());

        let data = fcm_data(&msg).expect("fits");
        assert!(serde_json::to_vec(&data).expect("json").len() <= MAX_PAYLOAD_BYTES);
        assert_eq!(data["tapprove"], msg.challenge);
    }

    #[test]
    fn a_challenge_too_large_on_its_own_fails() {
        let err = apns(&message("t", "b", MAX_PAYLOAD_BYTES)).expect_err("cannot fit");
        assert!(err.contains("challenge alone"), "{err}");
    }

    #[test]
    fn shorten_respects_char_boundaries() {
        assert_eq!(shorten("héllo wörld", 4), "héllo…");
        assert_eq!(shorten("héllo wörld", 3), "héllo …");
        assert_eq!(shorten("ab", 10), "");
    }
}
