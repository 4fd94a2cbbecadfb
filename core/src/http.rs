//! The HTTP side of docs/PROTOCOL.md §6: one reqwest client (rustls with ring), the SDK header,
//! request proofs, `Date`-based clock correction and error-body mapping.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, DATE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use tapprove_protocol::api::{ErrorBody, ErrorCode};
use tapprove_protocol::request_auth::RequestProof;
use tapprove_protocol::{SDK_KEY_HEADER, SDK_VERSION_HEADER};

use crate::error::CoreError;
use crate::model::AccountRecord;
use crate::signer::AliasSigner;

/// Value of the `X-Tapprove-SDK` header this build sends.
pub const SDK_VERSION: &str = concat!("rust/", env!("CARGO_PKG_VERSION"));

/// Timeout of ordinary device API calls (not the event stream).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the shared client. Installs ring as the process's rustls provider first (ignoring
/// "already installed"), since the workspace builds reqwest without a provider of its own.
pub(crate) fn client() -> Result<reqwest::Client, CoreError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut headers = HeaderMap::new();
    headers.insert(SDK_VERSION_HEADER, HeaderValue::from_static(SDK_VERSION));
    let builder = reqwest::Client::builder();
    #[cfg(target_os = "android")]
    let builder = builder.use_preconfigured_tls(android_tls_config());
    builder
        .default_headers(headers)
        .user_agent(SDK_VERSION)
        .connect_timeout(Duration::from_secs(10))
        // Device calls are never redirected: a redirect would break the request proof and
        // could send the SDK key elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| CoreError::config(format!("could not set up HTTPS: {e}")))
}

/// On Android, reqwest's default (rustls-platform-verifier) only works after a JNI
/// initialisation from the app's Java side; the Mozilla roots need none, so the SDK works from
/// any thread, including FirebaseMessagingService, with no setup call.
#[cfg(target_os = "android")]
fn android_tls_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

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

/// Builds a request to `server` + `path`.
pub(crate) fn request(
    http: &reqwest::Client,
    server: &str,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    auth: Auth<'_>,
) -> Result<reqwest::RequestBuilder, CoreError> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let mut rb = http.request(method.clone(), url);
    match auth {
        Auth::SdkKey(key) => rb = rb.header(SDK_KEY_HEADER, key),
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
            rb = rb.header(AUTHORIZATION, value);
        }
        Auth::None => {}
    }
    if let Some(body) = body {
        rb = rb.header(CONTENT_TYPE, "application/json").body(body);
    }
    Ok(rb)
}

/// The `Date` header of a response, if any.
pub(crate) fn date_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(DATE).and_then(|v| v.to_str().ok())
}

/// Maps a non-success response to a typed error (docs/PROTOCOL.md §10).
pub(crate) fn error_from_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> CoreError {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => (
            ErrorCode::Unknown,
            status
                .canonical_reason()
                .unwrap_or("unexpected answer")
                .to_owned(),
        ),
    };
    match (status.as_u16(), code) {
        (426, _) | (_, ErrorCode::UpdateRequired) => CoreError::UpdateRequired { message },
        (429, _) | (_, ErrorCode::RateLimited) => CoreError::RateLimited {
            retry_after_seconds: retry_after(headers),
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
fn retry_after(headers: &HeaderMap) -> Option<u64> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
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
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, HeaderValue::from_str(v).expect("value"));
        }
        error_from_response(
            StatusCode::from_u16(status).expect("status"),
            &h,
            body.as_bytes(),
        )
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
