//! Extractors that turn every rejection into a PROTOCOL.md §10 error body, and the two
//! authentication schemes: relying-party API key and device request proof.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use tapprove_protocol::SDK_VERSION_HEADER;
use tapprove_protocol::api::ErrorCode;
use tapprove_protocol::request_auth::RequestProof;

use crate::SKEW_SECONDS;
use crate::domain::credentials;
use crate::domain::ratelimit;
use crate::error::ApiError;
use crate::http::sdk;
use crate::service::state::AppState;
use crate::store::{AccountRow, ProjectRow};

/// JSON body; a bad body is `400 invalid_request`.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(r: &JsonRejection) -> ApiError {
    let message = match r {
        JsonRejection::MissingJsonContentType(_) => {
            "Send the body as JSON with `Content-Type: application/json`.".to_owned()
        }
        JsonRejection::JsonSyntaxError(_) => {
            format!("The body is not valid JSON: {}", r.body_text())
        }
        JsonRejection::JsonDataError(_) => {
            format!(
                "The JSON body does not have the expected fields: {}",
                r.body_text()
            )
        }
        _ => format!("Could not read the request body: {}", r.body_text()),
    };
    ApiError::invalid_request(message)
}

/// Query string; bad parameters are `400 invalid_request`.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|r: QueryRejection| {
                ApiError::invalid_request(format!("Bad query parameters: {}", r.body_text()))
            })
    }
}

/// Path parameters; bad ones are `400 invalid_request`.
pub(crate) struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Self(v))
            .map_err(|r: PathRejection| {
                ApiError::invalid_request(format!("Bad path: {}", r.body_text()))
            })
    }
}

/// The project whose API key (`X-API-Key` or `Authorization: Bearer`) authenticated the call.
pub(crate) struct RpProject(pub ProjectRow);

impl FromRequestParts<AppState> for RpProject {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = api_key(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized(
                "Missing API key: send it as `X-API-Key: <key>` or `Authorization: Bearer <key>`.",
            )
        })?;
        let invalid = || {
            ApiError::unauthorized(
                "Invalid API key: check the key printed when the project was created (or last \
                 rotated); a rotated-out key stops working when its grace period ends.",
            )
        };
        let hash = credentials::api_key_hash(key).ok_or_else(invalid)?;
        let (project, matched) = state
            .0
            .store
            .project_by_api_key(&hash, crate::now())
            .await?
            .ok_or_else(invalid)?;
        // Looked up on every call, not cached: a revoked or retired key stops working at once
        // on every instance. The lookup is by hash; compare again in constant time as a belt-and-braces check.
        if !credentials::api_key_matches(&matched, &hash) {
            return Err(invalid());
        }
        Ok(Self(project))
    }
}

fn api_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    let auth = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// `426 update_required` when the device's SDK is older than `min_sdk_version`.
pub(crate) fn check_sdk(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(min) = state.0.config.min_sdk_version.as_deref() else {
        return Ok(());
    };
    let header = headers
        .get(SDK_VERSION_HEADER)
        .and_then(|v| v.to_str().ok());
    if sdk::is_supported(header, min) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UPGRADE_REQUIRED,
        ErrorCode::UpdateRequired,
        format!(
            "This version of the app is no longer supported (Tapprove SDK {} or newer is \
             required). Please update the app, then try again.",
            min
        ),
    ))
}

/// A device API call authenticated by a request proof (PROTOCOL.md §5): the paired account
/// and the raw body the proof covers.
pub(crate) struct DeviceCall {
    pub account: AccountRow,
    pub body: Bytes,
}

impl FromRequest<AppState> for DeviceCall {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        check_sdk(state, req.headers())?;
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let authorization = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "Missing request proof: send `Authorization: Tapprove <jws>`.",
                )
            })?;
        let body = Bytes::from_request(req, state).await.map_err(|r| {
            ApiError::invalid_request(format!("Could not read the body: {}", r.body_text()))
        })?;
        let account_id = RequestProof::peek_account_id(&authorization).map_err(|e| {
            ApiError::unauthorized(format!("The request proof is not usable: {e}."))
        })?;
        let account = state.0.store.account(&account_id).await?;
        let account = match account {
            // A revoked account's proof is verified too: only its key's holder learns it.
            Some(a) if a.unpaired_at.is_none() || a.revoked_at.is_some() => a,
            _ => return Err(ApiError::not_paired()),
        };
        let key = state.0.keys.parse(&account)?;
        let now = crate::now();
        let proof = RequestProof::verify(
            &authorization,
            &key,
            &method,
            &path,
            &body,
            now,
            SKEW_SECONDS,
        )
        .map_err(|e| {
            tracing::info!(account_id = %account.id, code = e.code(), "request proof refused");
            ApiError::unauthorized(format!(
                "The request proof was refused ({}); check the device clock and retry.",
                e.code()
            ))
        })?;
        if let Some(revoked_at) = account.revoked_at {
            return Err(ApiError::revoked(revoked_at));
        }
        let proof_id = format!("{}:{}", account.id, proof.jti);
        if !ratelimit::first_use(&state.0.store, &proof_id, proof.iat + SKEW_SECONDS + 1).await? {
            return Err(ApiError::unauthorized(
                "This request proof was already used; sign a new one for each request.",
            ));
        }
        // `last_used_at` is shown to the site with minute precision: one write a minute at most.
        if account.last_used_at.is_none_or(|t| t + 60 <= now) {
            state.0.store.touch_account(&account.id, now).await?;
        }
        Ok(Self { account, body })
    }
}

/// Parses a JSON body already read as bytes (device calls), as `400 invalid_request` on error.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_request(format!(
            "The JSON body does not have the expected fields: {e}"
        ))
    })
}
