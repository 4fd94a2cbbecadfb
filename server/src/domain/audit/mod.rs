//! The audit log: the one place that turns a security-relevant action into an
//! append-only `audit_log` row — time, project, actor, action, subject, outcome, source IP,
//! request id. Callers record where the action happens with a typed [`AuditEvent`]; the row's
//! text is decided here, so what can be recorded is fixed by the types and none of them
//! carries a secret (no codes, tokens, keys, passwords).
//!
//! The row is written after the action committed, as its own statement: the actions commit
//! in several modules' transactions and in the admin process, and one extra INSERT keeps them
//! as they are. An audit write that fails does not fail the user's request: it is logged at
//! ERROR with the whole row (no secrets by construction), so the log keeps the record.
//!
//! The request's id and source IP come from `http::origin::with_origin`, a middleware that puts them in a
//! task-local for the request (the id from `X-Request-Id` when the caller sent a usable one,
//! else a new `req_…`; echoed in the response). Work outside a request (the sweeper, the
//! delivery task, `tapprove admin`) has neither.

mod origin;
mod read;

use tapprove_protocol::api::SessionReason;

use origin::current_origin;
pub(crate) use origin::{Origin, scope as scope_origin};
pub use read::{AuditQuery, MAX_ADMIN_ROWS, read_audit};
pub(crate) use read::{DEFAULT_PAGE, MAX_PAGE, page, parse_cursor};

use crate::domain::bus::Outcome;
use crate::store::{AuditRow, SessionRow, Store};

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Actor {
    /// A device: paired (`device:<acc_…>`) or, before it has an account, `device`.
    Device(Option<String>),
    /// The relying party, with its API key (`rp`).
    RelyingParty,
    /// An operator, with `tapprove admin` (`operator`).
    Operator,
    /// The service itself: expiry, delivery, locks (`service`).
    Service,
}

impl Actor {
    fn stored(&self) -> String {
        match self {
            Self::Device(Some(id)) => format!("device:{id}"),
            Self::Device(None) => "device".to_owned(),
            Self::RelyingParty => "rp".to_owned(),
            Self::Operator => "operator".to_owned(),
            Self::Service => "service".to_owned(),
        }
    }
}

/// What was done (the stored `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Pairing,
    DeviceRevoked,
    DeviceUnpaired,
    SessionCreated,
    SessionDecided,
    FraudReportedLate,
    RateLimited,
    UserLocked,
    LockLifted,
    ApiKeyRotated,
    ApiKeyRevoked,
    WebhookRotated,
    ProjectCreated,
    ServiceKeyRotated,
}

impl Action {
    /// The stored name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pairing => "device.pairing",
            Self::DeviceRevoked => "device.revoked",
            Self::DeviceUnpaired => "device.unpaired",
            Self::SessionCreated => "session.created",
            Self::SessionDecided => "session.decided",
            Self::FraudReportedLate => "session.fraud_reported_late",
            Self::RateLimited => "rate_limited",
            Self::UserLocked => "user.locked",
            Self::LockLifted => "user.lock_lifted",
            Self::ApiKeyRotated => "api_key.rotated",
            Self::ApiKeyRevoked => "api_key.revoked",
            Self::WebhookRotated => "webhook.rotated",
            Self::ProjectCreated => "project.created",
            Self::ServiceKeyRotated => "service_key.rotated",
        }
    }
}

/// Which limit refused a request (the stored `reason` of `rate_limited`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    SessionsPerMinute,
    SessionsPerHour,
    Cooldown,
    FraudLock,
    PairingsPerIp,
    PairingsPerUser,
    EventStreams,
}

impl Limit {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::SessionsPerMinute => "sessions_per_minute",
            Self::SessionsPerHour => "sessions_per_hour",
            Self::Cooldown => "cooldown",
            Self::FraudLock => "fraud_lock",
            Self::PairingsPerIp => "pairings_per_minute_per_ip",
            Self::PairingsPerUser => "pairings_per_hour_per_user",
            Self::EventStreams => "max_event_streams_per_account",
        }
    }
}

/// One auditable action, with exactly what its row shows. No Debug: a session row holds the
/// presence code, which must not reach a log.
#[derive(Clone)]
pub(crate) enum AuditEvent<'a> {
    /// A device paired (a repeated request for the same pairing: `repeated`).
    Paired {
        project_id: &'a str,
        account_id: &'a str,
        user: &'a str,
        repeated: bool,
    },
    /// A pairing was refused (`reason`: the trust webhook's answer, or `key_in_use`).
    PairingRejected {
        project_id: &'a str,
        user: &'a str,
        reason: &'a str,
    },
    /// A device was revoked by the site or an operator.
    DeviceRevoked {
        project_id: &'a str,
        account_id: &'a str,
        user: &'a str,
        /// `rp` or `operator`.
        by: Actor,
    },
    /// A revocation found nothing left to revoke (`subject`: the device id or the user).
    NothingRevoked {
        project_id: &'a str,
        subject: &'a str,
        user: Option<&'a str>,
        /// `rp` or `operator`.
        by: Actor,
    },
    /// A device removed its own pairing.
    DeviceUnpaired {
        project_id: &'a str,
        account_id: &'a str,
        user: &'a str,
    },
    /// The site created a login request.
    SessionCreated {
        project_id: &'a str,
        session_id: &'a str,
        user: &'a str,
    },
    /// A login request reached a final status; `by_device`: the answering device.
    SessionDecided {
        session: &'a SessionRow,
        outcome: Outcome,
        by_device: Option<&'a str>,
        by_operator: bool,
    },
    /// A device reported a session that had already ended unanswered as "not me"; the
    /// session's outcome stays (`outcome`: its status, `reason`: its reason).
    FraudReportedLate {
        session: &'a SessionRow,
        by_device: &'a str,
    },
    /// A limit refused a request.
    RateLimited {
        project_id: &'a str,
        actor: Actor,
        /// The user (sessions), the device (event streams) or `pairing`.
        subject: &'a str,
        user: Option<&'a str>,
        limit: Limit,
    },
    /// Pushes to a user were blocked (`reason`: `fraud_reported` or `cooldown`).
    UserLocked {
        project_id: &'a str,
        user: &'a str,
        reason: &'a str,
    },
    /// The site lifted a user's lock (`was_blocked`: whether one was in force).
    LockLifted {
        project_id: &'a str,
        user: &'a str,
        was_blocked: bool,
    },
    /// An operator made a new API key; `revoked_old`: every old one stopped at once.
    ApiKeyRotated {
        project_id: &'a str,
        /// [`key_id`] of the new key.
        key_id: &'a str,
        revoked_old: bool,
    },
    /// An operator replaced a project's webhook password and secret.
    WebhookRotated { project_id: &'a str },
    /// An operator created a project.
    ProjectCreated { project_id: &'a str },
    /// An operator rotated the service's challenge-signing key (service-wide: no project).
    /// `subject` is the new key id; `reason` says whether the old one retired at once.
    ServiceKeyRotated { kid: &'a str, immediate: bool },
}

/// The public name of an API key in the log: `key_` + the first 12 hex digits of its stored
/// SHA-256 (48 bits of a hash of 256 random bits: it names the key, it does not reveal it).
pub(crate) fn key_id(api_key_hash: &str) -> String {
    format!("key_{}", api_key_hash.get(..12).unwrap_or(api_key_hash))
}

/// Whether a session reason is a device's answer (recorded by the answer, with its device).
pub(crate) fn answered(reason: SessionReason) -> bool {
    matches!(
        reason,
        SessionReason::Approved
            | SessionReason::WrongNumber
            | SessionReason::UserDenied
            | SessionReason::FraudReported
    )
}

struct Parts<'a> {
    project_id: Option<&'a str>,
    actor: Actor,
    action: Action,
    subject: &'a str,
    user: Option<&'a str>,
    outcome: &'a str,
    reason: Option<&'a str>,
}

impl AuditEvent<'_> {
    fn parts(&self) -> Parts<'_> {
        let p = |project_id, actor, action, subject, user, outcome, reason| Parts {
            project_id: Some(project_id),
            actor,
            action,
            subject,
            user,
            outcome,
            reason,
        };
        match self {
            Self::Paired {
                project_id,
                account_id,
                user,
                repeated,
            } => p(
                project_id,
                Actor::Device(Some((*account_id).to_owned())),
                Action::Pairing,
                account_id,
                Some(*user),
                "ok",
                repeated.then_some("repeated_request"),
            ),
            Self::PairingRejected {
                project_id,
                user,
                reason,
            } => p(
                project_id,
                Actor::Device(None),
                Action::Pairing,
                user,
                Some(*user),
                "rejected",
                Some(*reason),
            ),
            Self::DeviceRevoked {
                project_id,
                account_id,
                user,
                by,
            } => p(
                project_id,
                by.clone(),
                Action::DeviceRevoked,
                account_id,
                Some(*user),
                "ok",
                None,
            ),
            Self::NothingRevoked {
                project_id,
                subject,
                user,
                by,
            } => p(
                project_id,
                by.clone(),
                Action::DeviceRevoked,
                subject,
                *user,
                "noop",
                Some("nothing_left_to_revoke"),
            ),
            Self::DeviceUnpaired {
                project_id,
                account_id,
                user,
            } => p(
                project_id,
                Actor::Device(Some((*account_id).to_owned())),
                Action::DeviceUnpaired,
                account_id,
                Some(*user),
                "ok",
                None,
            ),
            Self::SessionCreated {
                project_id,
                session_id,
                user,
            } => p(
                project_id,
                Actor::RelyingParty,
                Action::SessionCreated,
                session_id,
                Some(*user),
                "ok",
                None,
            ),
            Self::SessionDecided {
                session,
                outcome,
                by_device,
                by_operator,
            } => {
                let actor = match (by_device, outcome.reason) {
                    (Some(id), _) => Actor::Device(Some((*id).to_owned())),
                    (None, SessionReason::DeviceRevoked) if *by_operator => Actor::Operator,
                    (
                        None,
                        SessionReason::CanceledByRelyingParty
                        | SessionReason::Superseded
                        | SessionReason::DeviceRevoked,
                    ) => Actor::RelyingParty,
                    // Without a device, an approval or wrong code is a `display` session's
                    // code, submitted by the relying party.
                    (None, SessionReason::Approved | SessionReason::WrongNumber) => {
                        Actor::RelyingParty
                    }
                    (None, _) => Actor::Service,
                };
                p(
                    &session.project_id,
                    actor,
                    Action::SessionDecided,
                    &session.id,
                    Some(&session.user_name),
                    outcome.status.as_str(),
                    Some(outcome.reason.as_str()),
                )
            }
            Self::FraudReportedLate { session, by_device } => p(
                &session.project_id,
                Actor::Device(Some((*by_device).to_owned())),
                Action::FraudReportedLate,
                &session.id,
                Some(&session.user_name),
                session.status.0.as_str(),
                session.reason.map(|r| r.0.as_str()),
            ),
            Self::RateLimited {
                project_id,
                actor,
                subject,
                user,
                limit,
            } => p(
                project_id,
                actor.clone(),
                Action::RateLimited,
                subject,
                *user,
                "refused",
                Some(limit.as_str()),
            ),
            Self::UserLocked {
                project_id,
                user,
                reason,
            } => p(
                project_id,
                Actor::Service,
                Action::UserLocked,
                user,
                Some(*user),
                "ok",
                Some(*reason),
            ),
            Self::LockLifted {
                project_id,
                user,
                was_blocked,
            } => p(
                project_id,
                Actor::RelyingParty,
                Action::LockLifted,
                user,
                Some(*user),
                if *was_blocked { "ok" } else { "noop" },
                None,
            ),
            Self::ApiKeyRotated {
                project_id,
                key_id,
                revoked_old,
            } => p(
                project_id,
                Actor::Operator,
                if *revoked_old {
                    Action::ApiKeyRevoked
                } else {
                    Action::ApiKeyRotated
                },
                key_id,
                None,
                "ok",
                None,
            ),
            Self::WebhookRotated { project_id } => p(
                project_id,
                Actor::Operator,
                Action::WebhookRotated,
                project_id,
                None,
                "ok",
                None,
            ),
            Self::ProjectCreated { project_id } => p(
                project_id,
                Actor::Operator,
                Action::ProjectCreated,
                project_id,
                None,
                "ok",
                None,
            ),
            Self::ServiceKeyRotated { kid, immediate } => Parts {
                project_id: None,
                actor: Actor::Operator,
                action: Action::ServiceKeyRotated,
                subject: kid,
                user: None,
                outcome: "ok",
                reason: Some(if *immediate {
                    "old_key_retired"
                } else {
                    "grace"
                }),
            },
        }
    }

    /// The row, at `now`, with the current request's id and source IP.
    fn row(&self, id: String, now: i64) -> AuditRow {
        let parts = self.parts();
        let origin = current_origin();
        AuditRow {
            id,
            at: now,
            project_id: parts.project_id.map(str::to_owned),
            actor: parts.actor.stored(),
            action: parts.action.as_str().to_owned(),
            subject: parts.subject.to_owned(),
            user_name: parts.user.map(str::to_owned),
            outcome: parts.outcome.to_owned(),
            reason: parts.reason.map(str::to_owned),
            source_ip: origin.as_ref().and_then(|o| o.source_ip.clone()),
            request_id: origin.map(|o| o.request_id),
        }
    }
}

/// The row of `event` at the request's `now`, to store in the transaction of the action it
/// records (so the two land together); `None`, logged, when no id could be made for it.
pub(crate) fn row_at(event: AuditEvent<'_>, now: i64) -> Option<AuditRow> {
    match crate::crypto::new_monotonic_id("aud_") {
        Ok(id) => Some(event.row(id, now)),
        Err(e) => {
            let row = event.row(String::new(), now);
            tracing::error!(?row, error = %e, "AUDIT LOG WRITE FAILED: no id for the row");
            None
        }
    }
}

/// Records `event`. Never fails the caller: a failed write is logged at ERROR with the row.
pub(crate) async fn record(store: &Store, event: AuditEvent<'_>) {
    let (id, no_id) = match crate::crypto::new_monotonic_id("aud_") {
        Ok(id) => (id, None),
        Err(e) => (String::new(), Some(e)),
    };
    let now = crate::now();
    let row = event.row(id, now);
    if matches!(event, AuditEvent::RateLimited { .. }) && !first_refusal_this_minute(&row, now) {
        return;
    }
    if let Some(e) = no_id {
        tracing::error!(?row, error = %e, "AUDIT LOG WRITE FAILED: no id for the row");
        return;
    }
    if let Err(e) = store.insert_audit(&row).await {
        tracing::error!(?row, error = %e, "AUDIT LOG WRITE FAILED: the action happened but its audit row is not stored");
    }
}

/// Refusals by a limit recorded in the last minute on this instance, by (project, limit,
/// subject, source IP): a refused request writes nothing else, so a flood of them must not
/// become a flood of audit rows. Bounded: entries older than a minute go when it is full.
static REFUSALS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, i64>>> =
    std::sync::LazyLock::new(Default::default);
const MAX_REFUSAL_KEYS: usize = 10_000;

/// Whether this refusal is the first of its kind in the last minute (then it is recorded).
fn first_refusal_this_minute(row: &AuditRow, now: i64) -> bool {
    let key = format!(
        "{}|{}|{}|{}",
        row.project_id.as_deref().unwrap_or_default(),
        row.reason.as_deref().unwrap_or_default(),
        row.subject,
        row.source_ip.as_deref().unwrap_or_default()
    );
    let mut seen = REFUSALS.lock().unwrap_or_else(|p| p.into_inner());
    if seen.get(&key).is_some_and(|at| now - at < 60) {
        return false;
    }
    if seen.len() >= MAX_REFUSAL_KEYS {
        seen.retain(|_, at| now - *at < 60);
        if seen.len() >= MAX_REFUSAL_KEYS {
            seen.clear();
        }
    }
    seen.insert(key, now);
    true
}

/// Records a session's final outcome, reading the session row for its project and user.
pub(crate) async fn session_decided(
    store: &Store,
    session_id: &str,
    outcome: Outcome,
    by_operator: bool,
) {
    match store.session(session_id).await {
        Ok(Some(session)) => {
            record(
                store,
                AuditEvent::SessionDecided {
                    session: &session,
                    outcome,
                    by_device: None,
                    by_operator,
                },
            )
            .await
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(session_id, error = %e, "AUDIT LOG WRITE FAILED: cannot read the session")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_key_is_named_by_a_short_hash_prefix() {
        assert_eq!(key_id(&"ab".repeat(32)), "key_abababababab");
    }
}
