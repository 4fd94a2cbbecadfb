//! The request's audit origin: its id (the caller's `X-Request-Id`, else a new `req_…`) and
//! source IP (the client behind trusted proxies), set for the domain's audit rows by the
//! [`with_origin`] middleware and the id echoed in the response.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::domain::audit;

/// The request-id header, read and echoed.
pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest request id kept from a caller; a longer or non-printable one is replaced.
const MAX_REQUEST_ID_CHARS: usize = 128;

/// A caller's request id if it is usable: 1–128 printable ASCII characters.
fn usable_request_id(value: Option<&HeaderValue>) -> Option<String> {
    let v = value?.to_str().ok()?.trim();
    let ok =
        !v.is_empty() && v.len() <= MAX_REQUEST_ID_CHARS && v.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| v.to_owned())
}

/// Middleware: gives the request its id (the caller's `X-Request-Id`, else a new `req_…`)
/// and source IP (the client behind trusted proxies, `client_ip`) for the audit rows it causes,
/// and echoes the id.
pub(crate) async fn with_origin(request: Request, next: Next) -> Response {
    let request_id = usable_request_id(request.headers().get(REQUEST_ID_HEADER))
        .or_else(|| crate::crypto::new_id("req_").ok())
        .unwrap_or_default();
    let source_ip = crate::http::client_ip::of(&request).map(|ip| ip.to_string());
    let origin = audit::Origin {
        request_id: request_id.clone(),
        source_ip,
    };
    let mut response = audit::scope_origin(origin, next.run(request)).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_from_callers_are_bounded_and_printable() {
        let hv = |s: &str| HeaderValue::from_str(s).expect("header");
        assert_eq!(
            usable_request_id(Some(&hv("abc-123"))).as_deref(),
            Some("abc-123")
        );
        assert_eq!(usable_request_id(Some(&hv("a b"))), None);
        assert_eq!(usable_request_id(Some(&hv(&"x".repeat(129)))), None);
        assert_eq!(usable_request_id(None), None);
    }
}
