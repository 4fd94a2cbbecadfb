//! The trust webhook `POST /users/trust`: the service asks whether a device presenting a
//! pairing code may be trusted for a user.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::{info, warn};

use super::super::store::CodeVerdict;
use super::web::internal;
use super::{Shared, now};

pub(super) async fn trust_webhook(
    State(site): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match site.cfg.webhook.verify_trust(&headers, &body, now()) {
        Ok(call) => call.body,
        Err(e @ tapprove_rp::WebhookRejection::Body(_)) => {
            warn!(error = %e, "trust webhook: unexpected body");
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(
                    json!({"trusted": false, "error": "expected {\"user\", \"challenge\"}"}),
                ),
            )
                .into_response();
        }
        Err(e) => {
            warn!(error = %e, "trust webhook refused");
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"trusted": false, "error": e.to_string()})),
            )
                .into_response();
        }
    };
    let user = req.user.trim().to_ascii_lowercase();
    let challenge = zeroize::Zeroizing::new(req.challenge);
    match site.store.check_pairing(&user, &challenge, now()) {
        Ok(CodeVerdict::Trusted) => {
            info!(user = %user, "trust webhook: device trusted");
            axum::Json(json!({"trusted": true})).into_response()
        }
        Ok(outcome) => {
            let reason = match outcome {
                CodeVerdict::WrongCode { .. } => "wrong code",
                CodeVerdict::Used => "code already used",
                CodeVerdict::Expired => "code expired",
                CodeVerdict::Voided => "code void after too many wrong tries",
                CodeVerdict::NoCode | CodeVerdict::Trusted => "no pairing code for this user",
            };
            info!(user = %user, reason, "trust webhook: pairing refused");
            (
                StatusCode::FORBIDDEN,
                axum::Json(json!({"trusted": false, "error": reason})),
            )
                .into_response()
        }
        Err(e) => internal(&e),
    }
}
