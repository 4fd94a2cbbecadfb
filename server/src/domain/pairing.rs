//! Pairing (docs/PROTOCOL.md §6): the app's SDK key names the project, the per-address and
//! per-user limits, the request's bounds, a repeated request answered again, the site's trust
//! webhook and its canonical user name, then the stored device and its audit row.

use axum::http::StatusCode;
use tapprove_protocol::PublicKey;
use tapprove_protocol::api::{
    ErrorCode, KeyProtection, PairRequest, PushEnvironment, PushPlatform, PushRegistration,
};

use crate::crypto;
use crate::domain::audit::{self, Actor, AuditEvent, Limit};
use crate::domain::context::Pairing;
use crate::domain::credentials;
use crate::domain::devices::{self, PairingKind};
use crate::domain::trust_webhook::{self, TrustOutcome};
use crate::domain::{MAX_USER_CHARS, ratelimit};
use crate::error::ApiError;
use crate::store::{AccountRow, ProjectRow, Store, Stored};

const MAX_CODE_CHARS: usize = 128;
const MAX_DEVICE_NAME_CHARS: usize = 100;
const MAX_PUSH_TOKEN_CHARS: usize = 4096;

/// A device paired (or a repeated request answered again).
pub(crate) struct Paired {
    pub project: ProjectRow,
    pub account: AccountRow,
    /// The key the device pins: the one that signed at pairing (it may have rotated since).
    pub service_key: PublicKey,
}

/// The project an app's SDK key belongs to.
pub(crate) async fn project_for_sdk_key(
    ctx: Pairing<'_>,
    sdk_key: &str,
) -> Result<ProjectRow, ApiError> {
    let invalid_sdk_key = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidSdkKey,
            "The app's SDK key is missing or unknown to this service: check the SDK key the app \
             is configured with (X-Tapprove-SDK-Key).",
        )
    };
    if !credentials::is_well_formed_sdk_key(sdk_key) {
        return Err(invalid_sdk_key());
    }
    ctx.store
        .project_by_sdk_key(sdk_key)
        .await?
        .ok_or_else(invalid_sdk_key)
}

/// A refused pairing: the metric and the audit row, then the error with the wait.
async fn limited(ctx: Pairing<'_>, project: &ProjectRow, limit: Limit, retry: u64) -> ApiError {
    tracing::info!(project_id = %project.id, limit = limit.as_str(), "pairing rate limit hit");
    ratelimit::record_refusal(
        ctx.refusals,
        &project.id,
        Actor::Device(None),
        "pairing",
        None,
        limit,
    )
    .await;
    let minutes = retry.div_ceil(60).max(1);
    ApiError::rate_limited(
        format!(
            "Too many pairing attempts; try again in {minutes} minute(s) (check the user \
             name and the code the site shows)."
        ),
        retry,
    )
}

/// The per-address limit, counted before the body is read (`ip`: `client_ip::limit_key`).
pub(crate) async fn limit_address(
    ctx: Pairing<'_>,
    project: &ProjectRow,
    ip: &str,
    now: i64,
) -> Result<(), ApiError> {
    let limits = ctx.limits;
    let per_ip = format!("pair|{}|{ip}", project.id);
    let by_ip = ratelimit::take(
        ctx.store,
        &per_ip,
        limits.pairings_per_minute_per_ip,
        60,
        now,
    )
    .await?;
    match by_ip {
        Ok(()) => Ok(()),
        Err(retry) => Err(limited(ctx, project, Limit::PairingsPerIp, retry).await),
    }
}

/// Pairs a device with `project` (the per-address limit already taken) for a client at `ip`
/// (its limit key).
pub(crate) async fn pair(
    ctx: Pairing<'_>,
    project: ProjectRow,
    req: PairRequest,
    key_protection: KeyProtection,
    ip: &str,
    now: i64,
) -> Result<Paired, ApiError> {
    let limits = ctx.limits;
    let store = ctx.store;
    let user = checked_user(&req.user)?;
    // Per (address, user), not per user: a per-user budget is one anyone who knows the name can
    // spend, blocking the owner's phone replacement for an hour. Guessing a code from many
    // addresses stays hopeless without it: each address gets a few tries an hour at a code of
    // about 40 bits that the site expires within minutes and checks itself (docs/SECURITY.md).
    // After the body, which names the user; the case of the name does not make a new bucket.
    let per_user = format!("pair-user|{}|{ip}|{}", project.id, user.to_lowercase());
    let by_user = ratelimit::take(
        store,
        &per_user,
        limits.pairings_per_hour_per_user,
        3600,
        now,
    )
    .await?;
    if let Err(retry) = by_user {
        return Err(limited(ctx, &project, Limit::PairingsPerUser, retry).await);
    }
    if req.pairing_code.trim().is_empty() || req.pairing_code.chars().count() > MAX_CODE_CHARS {
        return Err(ApiError::invalid_request(format!(
            "`pairing_code` must be 1 to {MAX_CODE_CHARS} characters."
        )));
    }
    if req
        .device_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_DEVICE_NAME_CHARS)
    {
        return Err(ApiError::invalid_request(format!(
            "`device_name` must be at most {MAX_DEVICE_NAME_CHARS} characters."
        )));
    }
    if let Some(push) = &req.push {
        validate_push(push)?;
    }

    let code = req.pairing_code.trim();
    let public_key = req.public_key.to_base64url();
    match devices::pairing_kind(store, ctx.seal_key, &project.id, &public_key, code, now).await? {
        PairingKind::New => {}
        PairingKind::Repeat(account) => {
            tracing::info!(project_id = %project.id, account_id = %account.id, "repeated pairing: same account");
            audit_paired(ctx.store, &account, true).await;
            ctx.metrics.paired("repeated");
            return paired(ctx, project, *account, now).await;
        }
        PairingKind::KeyInUse => {
            audit_rejected(ctx.store, &project.id, &user, "key_in_use").await;
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::InvalidRequest,
                format!(
                    "This device key is already paired with {}: pair with a new device key.",
                    project.name
                ),
            ));
        }
    }
    let outcome = trust_webhook::ask_trust(ctx.webhooks, &project, &user, code, now).await;
    let TrustOutcome::Trusted(canonical) = outcome else {
        tracing::info!(project_id = %project.id, outcome = outcome.label(), "pairing rejected");
        audit_rejected(ctx.store, &project.id, &user, outcome.label()).await;
        ctx.metrics.paired(outcome.label());
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::PairingRejected,
            outcome.message(&project.name),
        ));
    };
    // One identity per user: the site's canonical name, if it gave one.
    let user = canonical.unwrap_or(user);
    let account_id = crypto::new_id("acc_").map_err(|_| ApiError::internal())?;
    // The device pins the key that signs now.
    let keys = ctx.keys.current().await?;
    let (platform, token, environment) = push_columns(req.push.as_ref());
    let account = AccountRow {
        id: account_id,
        project_id: project.id.clone(),
        user_name: user,
        public_key,
        device_name: req.device_name.clone(),
        push_platform: Stored(platform),
        push_token: token,
        push_environment: environment.map(Stored),
        push_registered_at: now,
        created_at: now,
        unpaired_at: None,
        key_protection: Stored(key_protection),
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
        pairing_code_hash: Some(credentials::pairing_code_tag(
            ctx.seal_key,
            &project.id,
            code,
        )),
        service_kid: Some(keys.signing.kid.clone()),
        // Validated (32 bytes, not a low-order point) when the body was parsed.
        push_key: req.push_key.as_ref().map(|k| k.to_base64url()),
    };
    store.insert_account(&account).await?;
    tracing::info!(project_id = %project.id, account_id = %account.id, sealed_push = account.push_key.is_some(), "device paired");
    audit_paired(ctx.store, &account, false).await;
    ctx.metrics.paired("paired");
    paired(ctx, project, account, now).await
}

/// The user a device pairs for: trimmed, 1 to [`MAX_USER_CHARS`].
pub(crate) fn checked_user(user: &str) -> Result<String, ApiError> {
    let user = user.trim().to_owned();
    if user.is_empty() || user.chars().count() > MAX_USER_CHARS {
        return Err(ApiError::invalid_request(format!(
            "`user` must be 1 to {MAX_USER_CHARS} characters."
        )));
    }
    Ok(user)
}

async fn paired(
    ctx: Pairing<'_>,
    project: ProjectRow,
    account: AccountRow,
    now: i64,
) -> Result<Paired, ApiError> {
    let keys = ctx.keys.current().await?;
    // A repeated pairing answers with the key the account was given (it may have rotated).
    let (_, service_key) = keys.pinned(account.service_kid.as_deref(), now);
    let service_key = service_key.clone();
    Ok(Paired {
        project,
        account,
        service_key,
    })
}

/// Records a pairing (`repeated`: the answer to a repeated request).
async fn audit_paired(store: &Store, account: &AccountRow, repeated: bool) {
    let event = AuditEvent::Paired {
        project_id: &account.project_id,
        account_id: &account.id,
        user: &account.user_name,
        repeated,
    };
    audit::record(store, event).await;
}

/// Records a refused pairing.
async fn audit_rejected(store: &Store, project_id: &str, user: &str, reason: &str) {
    let event = AuditEvent::PairingRejected {
        project_id,
        user,
        reason,
    };
    audit::record(store, event).await;
}

/// A push registration's bounds: a token for the platforms that need one.
pub(crate) fn validate_push(push: &PushRegistration) -> Result<(), ApiError> {
    match push.platform {
        PushPlatform::None => Ok(()),
        PushPlatform::Apns | PushPlatform::Fcm => {
            if push.token.trim().is_empty() {
                return Err(ApiError::invalid_request(
                    "`push.token` is required for apns and fcm.",
                ));
            }
            if push.token.len() > MAX_PUSH_TOKEN_CHARS {
                return Err(ApiError::invalid_request("`push.token` is too long."));
            }
            Ok(())
        }
    }
}

/// The stored columns of a push registration (none: no platform, no token).
pub(crate) fn push_columns(
    push: Option<&PushRegistration>,
) -> (PushPlatform, String, Option<PushEnvironment>) {
    match push {
        Some(p) if p.platform != PushPlatform::None => {
            (p.platform, p.token.trim().to_owned(), p.environment)
        }
        _ => (PushPlatform::None, String::new(), None),
    }
}
