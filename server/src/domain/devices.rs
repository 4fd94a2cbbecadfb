//! A relying party's paired devices: listing them, revoking them (by the site through the RP
//! API or by an operator), and recognising a repeated pairing. The one place that revokes:
//! it marks the accounts, ends their event streams and lets the session lifecycle end the
//! sessions left without a device.

use tapprove_protocol::api::{DeviceList, DeviceView};

use crate::crypto::SealKey;
use crate::domain::audit::{self, AuditEvent};
use crate::domain::context::Devices;
use crate::domain::credentials;
use crate::domain::sessions;
use crate::store::{AccountRow, Store};

pub(crate) use crate::store::REPEAT_PAIRING_WINDOW;

/// Who removed a device (stored in `accounts.revoked_by`, shown in the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RevokedBy {
    /// The site, through the RP API.
    RelyingParty,
    /// An operator, with `tapprove admin device revoke`.
    Operator,
}

impl RevokedBy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::RelyingParty => "relying_party",
            Self::Operator => "operator",
        }
    }

    /// Who it was, in the audit log.
    pub(crate) fn actor(self) -> audit::Actor {
        match self {
            Self::RelyingParty => audit::Actor::RelyingParty,
            Self::Operator => audit::Actor::Operator,
        }
    }
}

/// What to revoke.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// One device (account id).
    Device(String),
    /// Every device of a user.
    User(String),
}

/// Why a revocation did not happen.
#[derive(Debug)]
pub(crate) enum DeviceError {
    /// No such device in this project.
    NotFound,
    /// The database failed.
    Database(sqlx::Error),
}

impl From<sqlx::Error> for DeviceError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

/// What the relying party sees of a device.
pub(crate) fn view(a: &AccountRow) -> DeviceView {
    DeviceView {
        id: a.id.clone(),
        name: a.device_name.clone(),
        platform: a.push_platform.0,
        created_at: a.created_at,
        last_used_at: a.last_used_at,
        key_protection: a.key_protection.0,
    }
}

/// A user's paired devices, oldest first.
pub(crate) async fn list(
    store: &Store,
    project_id: &str,
    user: &str,
) -> Result<DeviceList, sqlx::Error> {
    let accounts = store.user_accounts(project_id, user).await?;
    Ok(DeviceList {
        devices: accounts.iter().map(view).collect(),
    })
}

/// Revokes on the database only: the accounts, and the sessions left without a device.
/// Idempotent: a device of this project revoked (or unpaired) before is fine. Returns the
/// accounts this call revoked and the sessions it ended.
pub(crate) async fn revoke_in(
    store: &Store,
    project_id: &str,
    target: &Target,
    by: RevokedBy,
    now: i64,
) -> Result<(Vec<String>, Vec<(String, crate::domain::bus::Outcome)>), DeviceError> {
    let accounts = match target {
        Target::Device(id) => match store.account(id).await? {
            Some(a) if a.project_id == project_id => vec![a],
            _ => return Err(DeviceError::NotFound),
        },
        Target::User(user) => store.user_accounts(project_id, user).await?,
    };
    let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
    let revoked = store
        .revoke_accounts(project_id, &ids, by.as_str(), now)
        .await?;
    for a in accounts.iter().filter(|a| revoked.contains(&a.id)) {
        tracing::info!(project_id, account_id = %a.id, by = by.as_str(), "device revoked");
        let event = AuditEvent::DeviceRevoked {
            project_id,
            account_id: &a.id,
            user: &a.user_name,
            by: by.actor(),
        };
        audit::record(store, event).await;
    }
    if revoked.is_empty() {
        let (subject, user) = match target {
            Target::Device(id) => (id.as_str(), accounts.first().map(|a| a.user_name.as_str())),
            Target::User(user) => (user.as_str(), Some(user.as_str())),
        };
        let event = AuditEvent::NothingRevoked {
            project_id,
            subject,
            user,
            by: by.actor(),
        };
        audit::record(store, event).await;
    }
    let ended = sessions::end_for_revoked_in(store, &revoked, now).await?;
    Ok((revoked, ended))
}

/// Revokes in the running service: as [`revoke_in`], then the devices' event streams end and
/// the ended sessions' long-polls wake at once.
pub(crate) async fn revoke(
    ctx: Devices<'_>,
    project_id: &str,
    target: &Target,
    by: RevokedBy,
    now: i64,
) -> Result<Vec<String>, DeviceError> {
    let (revoked, ended) = revoke_in(ctx.store, project_id, target, by, now).await?;
    for id in &revoked {
        ctx.bus
            .publish(crate::domain::bus::BusEvent::Unpaired {
                account_id: id.clone(),
            })
            .await;
    }
    sessions::announce_ended(ctx.sessions, &ended).await;
    Ok(revoked)
}

/// What a pairing request is, given the device key it carries.
#[derive(Debug)]
pub(crate) enum PairingKind {
    /// A key not paired in this project: ask the site.
    New,
    /// The same key and code as a pairing that succeeded within [`REPEAT_PAIRING_WINDOW`]
    /// (its answer was lost): that account is the answer, without asking the site again.
    Repeat(Box<AccountRow>),
    /// The key is already paired otherwise: a device key belongs to one account.
    KeyInUse,
}

/// Classifies a pairing request by its device key and code.
pub(crate) async fn pairing_kind(
    store: &Store,
    seal_key: &SealKey,
    project_id: &str,
    public_key: &str,
    code: &str,
    now: i64,
) -> Result<PairingKind, sqlx::Error> {
    let accounts = store.account_by_key(project_id, public_key).await?;
    if accounts.is_empty() {
        return Ok(PairingKind::New);
    }
    let tag = credentials::pairing_code_tag(seal_key, project_id, code);
    Ok(accounts
        .into_iter()
        .find(|a| {
            a.created_at + REPEAT_PAIRING_WINDOW >= now
                && a.pairing_code_hash
                    .as_deref()
                    .is_some_and(|stored| credentials::pairing_code_matches(stored, &tag))
        })
        .map_or(PairingKind::KeyInUse, |a| PairingKind::Repeat(Box::new(a))))
}
