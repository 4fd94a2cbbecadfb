//! Limits shared by every instance, kept in the database: sliding-window counts (pairing
//! attempts) and the replay check of request-proof ids. The push budget is counted from the
//! sessions themselves (`sessions::create`).

use crate::store::Store;

/// Counts an attempt in `bucket` if fewer than `limit` happened in the last `window`
/// seconds; otherwise `Err(seconds until one is allowed again)`.
pub(crate) async fn take(
    store: &Store,
    bucket: &str,
    limit: u32,
    window: i64,
    now: i64,
) -> Result<Result<(), u64>, sqlx::Error> {
    let since = now - window;
    if store.take_rate(bucket, limit, since, now).await? {
        return Ok(Ok(()));
    }
    let oldest = store.oldest_rate_event(bucket, since).await?.unwrap_or(now);
    Ok(Err((oldest + window - now).max(1) as u64))
}

/// Whether this request-proof id is used for the first time (it is then remembered until
/// `expires_at`, when its proof is too old to be accepted anyway).
pub(crate) async fn first_use(
    store: &Store,
    proof_id: &str,
    expires_at: i64,
) -> Result<bool, sqlx::Error> {
    store.first_use_of_proof(proof_id, expires_at).await
}

/// What a refusal by a limit leaves behind, in one place so the two never disagree: the
/// `tapprove_rate_limited_total` series and the audit row (itself throttled, `audit` module).
pub(crate) async fn record_refusal(
    ctx: crate::domain::context::Refusals<'_>,
    project_id: &str,
    actor: crate::domain::audit::Actor,
    subject: &str,
    user: Option<&str>,
    limit: crate::domain::audit::Limit,
) {
    ctx.metrics.refused(limit.as_str());
    let event = crate::domain::audit::AuditEvent::RateLimited {
        project_id,
        actor,
        subject,
        user,
        limit,
    };
    crate::domain::audit::record(ctx.store, event).await;
}
