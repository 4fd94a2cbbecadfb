//! The values the app sees: accounts, login requests, decisions, outcomes and events.

use serde::{Deserialize, Serialize};

use tapprove_protocol::api::{SessionReason, SessionStatus};
use tapprove_protocol::{
    Challenge, Context, DenyReason, PresenceMode, PublicKey, UserVerification,
};

/// A paired account: one user at one project of one service. Holds no secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Account id (`acc_…`), given by the service at pairing.
    pub id: String,
    /// Project id (`prj_…`).
    pub project_id: String,
    /// The project's display name, e.g. "Demo Bank".
    pub project_name: String,
    /// The user name at the relying party.
    pub user: String,
    /// The service origin.
    pub server_url: String,
    /// When the pairing happened, Unix seconds (service time).
    pub paired_at: i64,
    /// The service key this account trusts now (base64url P-256 point; changes with a key
    /// rollover, docs/PROTOCOL.md §5a).
    pub service_key: PublicKey,
    /// When the site or an operator removed this device from the account (Unix seconds,
    /// service time). A revoked account stays listed so the app can say so, and is never used
    /// again: unpair it to remove it.
    pub revoked_at: Option<i64>,
    /// The service's VAPID public key (base64url P-256 point) when it sends Web Push: an app
    /// delivering over UnifiedPush registers with its distributor using it. `None` = the
    /// service has no Web Push.
    pub vapid_public_key: Option<String>,
}

/// An account whose stored record cannot be read (a backup restore brought the record back
/// without the key that unlocks the store, or the record is damaged). The app shows it as
/// needing re-pairing and removes it with [`crate::Authenticator::forget_account`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountNeedingRepair {
    /// The account id (from the record's store key; the record itself is unreadable).
    pub account_id: String,
    /// What is wrong with the record.
    pub cause: RepairCause,
}

/// Why an account record cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RepairCause {
    /// The store failed to read it (e.g. its encryption key is gone).
    Unreadable,
    /// It was read but is not an account record.
    Corrupt,
}

/// A service key still trusted during a key rollover (docs/PROTOCOL.md §5a).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiringKey {
    /// The previously pinned key.
    pub key: PublicKey,
    /// Challenges it signs are accepted until then (Unix seconds, service time).
    pub valid_until: i64,
}

/// Everything the core keeps about an account, stored as JSON in the [`crate::SecureStore`]
/// under `account/<id>`. Non-secret: the device private key stays behind the
/// [`crate::DeviceSigner`] under `key_alias`.
///
/// Public so that tests and tools can provision an account without a service (for example one
/// pinned to a test-vector key): store `serde_json::to_vec(&record)` under
/// [`AccountRecord::store_key`] before creating the [`crate::Authenticator`], or call
/// [`crate::Authenticator::import_account`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// Account id.
    pub id: String,
    /// Project id.
    pub project_id: String,
    /// Project name.
    pub project_name: String,
    /// User name.
    pub user: String,
    /// Service origin (validated like [`crate::Config`]).
    pub server_url: String,
    /// SDK key of the project.
    pub sdk_key: String,
    /// The pinned service key: challenges signed by any other key are refused.
    pub service_key: PublicKey,
    /// Alias of this account's key in the device signer.
    pub key_alias: String,
    /// This account's device public key.
    pub device_key: PublicKey,
    /// Service time − device time when last measured, seconds.
    #[serde(default)]
    pub clock_offset: i64,
    /// Pairing time, Unix seconds (service time).
    pub paired_at: i64,
    /// The project's user-verification policy, from pairing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_verification: Option<UserVerification>,
    /// The service key pinned before the last key rollover, still accepted for a while.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring_key: Option<RetiringKey>,
    /// Set when the service answered `revoked` (Unix seconds, service time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
    /// The service's VAPID public key from the pairing answer (Web Push), if it sends any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vapid_public_key: Option<String>,
}

/// Store key prefix of account records.
pub const ACCOUNT_PREFIX: &str = "account/";

impl AccountRecord {
    /// The store key of this record: `account/<id>`.
    pub fn store_key(&self) -> String {
        format!("{ACCOUNT_PREFIX}{}", self.id)
    }

    /// The public view.
    pub fn account(&self) -> Account {
        Account {
            id: self.id.clone(),
            project_id: self.project_id.clone(),
            project_name: self.project_name.clone(),
            user: self.user.clone(),
            server_url: self.server_url.clone(),
            paired_at: self.paired_at,
            service_key: self.service_key.clone(),
            revoked_at: self.revoked_at,
            vapid_public_key: self.vapid_public_key.clone(),
        }
    }

    /// Whether a challenge signature verifies with the pinned key, or with the retiring key
    /// while it is still valid at service time `now`.
    pub(crate) fn service_signed(&self, signing_input: &[u8], signature: &[u8], now: i64) -> bool {
        self.service_key.verify(signing_input, signature).is_ok()
            || self.retiring_key.as_ref().is_some_and(|r| {
                now <= r.valid_until && r.key.verify(signing_input, signature).is_ok()
            })
    }
}

/// A verified login request waiting for the user's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The request id (the service's session id, `ses_…`); pass it to
    /// [`crate::Authenticator::respond`].
    pub id: String,
    /// The account it is for.
    pub account_id: String,
    /// The user name.
    pub user: String,
    /// Notification title.
    pub title: String,
    /// Notification body.
    pub body: String,
    /// Where the login comes from (app, IP, location, browser).
    pub context: Context,
    /// How the user proves presence: choose one of `options`, type the code, or nothing.
    pub presence_mode: PresenceMode,
    /// For choose mode: the three options, in the order to show them. Empty otherwise.
    pub options: Vec<String>,
    /// For entry mode: how many digits the code has, when the service says (show that many
    /// boxes; [`crate::Authenticator::respond`] refuses another length).
    pub code_length: Option<u8>,
    /// For display mode (code to phone): the code to show for the user to type at the login
    /// prompt. Show it in the app only (never on the lock screen), through
    /// [`crate::Authenticator::show_code`], which verifies the user first when the policy asks
    /// and tells the service it was shown; offer "This wasn't me" beside it.
    pub display_code: Option<String>,
    /// Whether approving asks the app's [`crate::UserVerifier`] first (the challenge's or the
    /// account's policy, whichever asks more). Deny never asks.
    pub user_verification: Option<UserVerification>,
    /// Issued at, Unix seconds (service time).
    pub issued_at: i64,
    /// Expires at, Unix seconds (service time).
    pub expires_at: i64,
}

impl LoginRequest {
    /// The request of a verified challenge for an account whose policy is `account_policy`.
    pub(crate) fn from_challenge(c: Challenge, account_policy: Option<UserVerification>) -> Self {
        let user_verification = match (c.user_verification, account_policy) {
            (Some(UserVerification::Required), _) | (_, Some(UserVerification::Required)) => {
                Some(UserVerification::Required)
            }
            (a, b) => a.or(b),
        };
        Self {
            id: c.session_id,
            account_id: c.account_id,
            user: c.user,
            title: c.title,
            body: c.body,
            context: c.context,
            presence_mode: c.presence.mode,
            options: c.presence.options,
            code_length: c.presence.length,
            display_code: c.presence.code,
            user_verification,
            issued_at: c.iat,
            expires_at: c.exp,
        }
    }
}

/// The user's decision on a login request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// Approve. `presence_answer` is the option picked (choose mode) or the code typed (entry
    /// mode); it is ignored in `none` mode.
    Approve {
        /// The option picked or the code typed.
        presence_answer: Option<String>,
    },
    /// Deny: `NotMe` reports fraud, `Cancelled` is a change of mind.
    Deny {
        /// Why.
        reason: DenyReason,
    },
}

/// What the service decided after an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RespondOutcome {
    /// The request answered.
    pub request_id: String,
    /// The session's status now: `accepted` when the login goes through.
    pub status: SessionStatus,
    /// Why (e.g. `wrong_number`, `user_denied`, `fraud_reported`).
    pub reason: Option<SessionReason>,
}

impl RespondOutcome {
    /// Whether the login was approved (right code, approve).
    pub fn is_accepted(&self) -> bool {
        self.status == SessionStatus::Accepted
    }
}

/// A login request that ended before anyone answered it (superseded, canceled by the site,
/// expired), from [`crate::Authenticator::ended_requests`]. Show it as over, never as
/// approvable; its only action is "this wasn't me" (`Decision::Deny` with `DenyReason::NotMe`),
/// which the service accepts for 10 minutes after the end: the login stays as it ended, the
/// user's pushes are locked and the site is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedRequest {
    /// The request as it was shown.
    pub request: LoginRequest,
    /// How it ended: `canceled` (superseded or canceled by the site) or `expired`.
    pub status: SessionStatus,
    /// When this device learnt it ended, device clock, Unix seconds.
    pub ended_at: i64,
}

/// An event from [`crate::Authenticator::events`].
#[allow(clippy::large_enum_variant)] // a request is the common case; boxing buys nothing
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestEvent {
    /// A new login request (each id is delivered once per stream).
    Request(LoginRequest),
    /// A request is over (answered here or elsewhere, canceled, expired): dismiss its prompt.
    Decided {
        /// The request id.
        request_id: String,
        /// Its final status.
        status: SessionStatus,
    },
}
