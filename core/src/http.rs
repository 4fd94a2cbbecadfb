//! The HTTP side of docs/PROTOCOL.md §6: the SDK header, request proofs, `Date`-based clock
//! correction and error-body mapping, over the small client in `net.rs`.

use std::time::Duration;

use tapprove_protocol::api::{ErrorBody, ErrorCode};
use tapprove_protocol::request_auth::RequestProof;
use tapprove_protocol::{SDK_KEY_HEADER, SDK_VERSION_HEADER};

use crate::error::CoreError;
use crate::model::AccountRecord;
use crate::net::{Head, Method, Request};
use crate::signer::AliasSigner;

/// Value of the `X-Tapprove-SDK` header this build sends.
pub const SDK_VERSION: &str = concat!("rust/", env!("CARGO_PKG_VERSION"));

/// Timeout of ordinary device API calls (not the event stream).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How a request authenticates.
pub(crate) enum Auth<'a> {
    /// Pairing: `X-Tapprove-SDK-Key`.
    SdkKey(&'a str),
    /// A request proof signed by the account's device key.
    Proof {
        account: &'a AccountRecord,
        signer: &'a dyn crate::DeviceSigner,
        now: i64,
    },
    /// Nothing beyond the SDK header (answers authenticate themselves).
    None,
}

/// Builds a request to `server` + `path` (device calls are never redirected: a redirect would
/// break the request proof and could send the SDK key elsewhere; the client follows none).
pub(crate) fn request(
    server: &str,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    auth: Auth<'_>,
) -> Result<Request, CoreError> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let mut headers = vec![
        (SDK_VERSION_HEADER, SDK_VERSION.to_owned()),
        ("User-Agent", SDK_VERSION.to_owned()),
        ("Accept", "application/json".to_owned()),
    ];
    match auth {
        Auth::SdkKey(key) => headers.push((SDK_KEY_HEADER, key.to_owned())),
        Auth::Proof {
            account,
            signer,
            now,
        } => {
            let alias_signer = AliasSigner::new(signer, &account.key_alias, &account.device_key);
            let jti = crate::random_id(16);
            let value = RequestProof::authorization(
                &account.id,
                method.as_str(),
                path,
                body.as_deref().unwrap_or_default(),
                now,
                &jti,
                &alias_signer,
            )
            .map_err(|e| CoreError::Signer(alias_signer.take_error(e)))?;
            headers.push(("Authorization", value));
        }
        Auth::None => {}
    }
    if body.is_some() {
        headers.push(("Content-Type", "application/json".to_owned()));
    }
    Ok(Request {
        method,
        url,
        headers,
        body,
        timeout: REQUEST_TIMEOUT,
    })
}

/// Maps a non-success response to a typed error (docs/PROTOCOL.md §10).
pub(crate) fn error_from_response(head: &Head, body: &[u8]) -> CoreError {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => (
            ErrorCode::Unknown,
            if head.reason.is_empty() {
                format!("HTTP {}", head.status)
            } else {
                head.reason.clone()
            },
        ),
    };
    match (head.status, code) {
        (426, _) | (_, ErrorCode::UpdateRequired) => CoreError::UpdateRequired { message },
        (429, _) | (_, ErrorCode::RateLimited) => CoreError::RateLimited {
            retry_after_seconds: retry_after(head),
        },
        (_, ErrorCode::NotPaired) => CoreError::NotPaired,
        (_, ErrorCode::InvalidSdkKey) => CoreError::InvalidSdkKey,
        (_, ErrorCode::PairingRejected) => CoreError::PairingRejected { message },
        (409, _) | (_, ErrorCode::AlreadyDecided) => CoreError::AlreadyAnswered,
        (410, _) | (_, ErrorCode::Expired) => CoreError::Expired,
        (s, _) => CoreError::Service {
            status: s,
            code: if code == ErrorCode::Unknown {
                "unknown".to_owned()
            } else {
                code.as_str().to_owned()
            },
            message,
        },
    }
}

/// `Retry-After` as seconds (delta-seconds form; an HTTP date is converted with the local clock).
fn retry_after(head: &Head) -> Option<u64> {
    let v = head.header("retry-after")?;
    if let Ok(s) = v.parse::<u64>() {
        return Some(s);
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, body: &str, headers: &[(&'static str, &str)]) -> CoreError {
        let reason = if status == 502 { "Bad Gateway" } else { "" };
        error_from_response(&Head::new(status, reason, headers), body.as_bytes())
    }

    fn body(code: &str, message: &str) -> String {
        format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#)
    }

    #[test]
    fn maps_error_bodies() {
        match err(
            426,
            &body("update_required", "Update Demo Bank from the store."),
            &[],
        ) {
            CoreError::UpdateRequired { message } => {
                assert_eq!(message, "Update Demo Bank from the store.")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            err(429, &body("rate_limited", "slow"), &[("retry-after", "17")]),
            CoreError::RateLimited {
                retry_after_seconds: Some(17)
            }
        ));
        assert!(matches!(
            err(429, "", &[]),
            CoreError::RateLimited {
                retry_after_seconds: None
            }
        ));
        assert!(matches!(
            err(401, &body("not_paired", "x"), &[]),
            CoreError::NotPaired
        ));
        assert!(matches!(
            err(401, &body("invalid_sdk_key", "x"), &[]),
            CoreError::InvalidSdkKey
        ));
        match err(
            403,
            &body("pairing_rejected", "The site did not accept this code."),
            &[],
        ) {
            CoreError::PairingRejected { message } => assert!(message.contains("did not accept")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            err(409, &body("already_decided", "x"), &[]),
            CoreError::AlreadyAnswered
        ));
        assert!(matches!(
            err(410, &body("expired", "x"), &[]),
            CoreError::Expired
        ));
        match err(500, &body("internal", "boom"), &[]) {
            CoreError::Service {
                status,
                code,
                message,
            } => {
                assert_eq!(
                    (status, code.as_str(), message.as_str()),
                    (500, "internal", "boom")
                );
            }
            other => panic!("{other:?}"),
        }
        match err(418, &body("teapot_mode", "short and stout"), &[]) {
            CoreError::Service { code, .. } => assert_eq!(code, "unknown"),
            other => panic!("{other:?}"),
        }
        match err(502, "<html>bad gateway</html>", &[]) {
            CoreError::Service {
                status, message, ..
            } => assert_eq!((status, message.as_str()), (502, "Bad Gateway")),
            other => panic!("{other:?}"),
        }
    }
}
