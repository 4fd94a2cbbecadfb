//! JSON bodies of the HTTP APIs. Times are Unix seconds everywhere.

use serde::{Deserialize, Serialize};

use crate::challenge::{Context, PresenceMode, UserVerification};
use crate::keys::PublicKey;

// ---------------------------------------------------------------- errors

/// Every error response: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and human message of an error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// A sentence for a human: what went wrong and what to do.
    pub message: String,
    /// With `locked`: when the user's lock ends, Unix seconds (service time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<i64>,
    /// With `revoked`: when the device was removed, Unix seconds (service time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
}

impl ErrorBody {
    /// Builds an error body.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
                locked_until: None,
                revoked_at: None,
            },
        }
    }

    /// The `423 locked` body: pushes to this user are locked until `locked_until`.
    pub fn locked(message: impl Into<String>, locked_until: i64) -> Self {
        let mut body = Self::new(ErrorCode::Locked, message);
        body.error.locked_until = Some(locked_until);
        body
    }

    /// The `403 revoked` body: the device was removed (by the site or an operator) at
    /// `revoked_at`.
    pub fn revoked(message: impl Into<String>, revoked_at: i64) -> Self {
        let mut body = Self::new(ErrorCode::Revoked, message);
        body.error.revoked_at = Some(revoked_at);
        body
    }
}

/// Stable error codes. Clients must treat unknown codes as [`ErrorCode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body or parameters are wrong.
    InvalidRequest,
    /// 401: missing or bad API key, or a bad device request proof.
    Unauthorized,
    /// 401: the SDK key is unknown or revoked.
    InvalidSdkKey,
    /// 404: no such session (or not yours).
    NotFound,
    /// 422: the user has no trusted device.
    NoDevice,
    /// 403: the relying party did not confirm the pairing code.
    PairingRejected,
    /// 401: this device is not (or no longer) paired.
    NotPaired,
    /// 429: slow down; see `Retry-After`.
    RateLimited,
    /// 426: this SDK version is too old for the service.
    UpdateRequired,
    /// 409/410: the session expired before the answer arrived.
    Expired,
    /// 409: the session was already decided (or canceled).
    AlreadyDecided,
    /// 400: the answer's signature or nonce does not verify.
    BadSignature,
    /// 423: pushes to this user are locked (the user reported a login as not theirs) until
    /// the body's `locked_until`, or until the relying party lifts the lock.
    Locked,
    /// 400: the session asks for a weaker presence check than the project's policy allows.
    PolicyNotMet,
    /// 403: the project requires user verification and the approval carries no `uv`; the
    /// session stays open: verify the user and approve again.
    UserVerificationRequired,
    /// 403: this device was removed from the user's account (by the site or an operator); it
    /// must stop using the account. The body carries `revoked_at`.
    Revoked,
    /// 400: the answer's `iat` is more than 60 s away from the service clock; correct the clock
    /// with the response's `Date` header and answer again.
    ClockSkew,
    /// 409: the session is not a `display` (code-to-phone) session: there is no code to submit.
    NotDisplaySession,
    /// 409: the project requires user verification and no phone has acknowledged showing the
    /// code to a verified user yet; the session stays open: ask the user to open the app,
    /// unlock it and read the code, then submit again.
    CodeNotShown,
    /// 500: the service failed; try again later.
    Internal,
    /// Any code this build does not know.
    #[serde(other)]
    Unknown,
}

crate::wire::wire_names!(ErrorCode {
    InvalidRequest => "invalid_request",
    Unauthorized => "unauthorized",
    InvalidSdkKey => "invalid_sdk_key",
    NotFound => "not_found",
    NoDevice => "no_device",
    PairingRejected => "pairing_rejected",
    NotPaired => "not_paired",
    RateLimited => "rate_limited",
    UpdateRequired => "update_required",
    Expired => "expired",
    AlreadyDecided => "already_decided",
    BadSignature => "bad_signature",
    Locked => "locked",
    PolicyNotMet => "policy_not_met",
    UserVerificationRequired => "user_verification_required",
    Revoked => "revoked",
    ClockSkew => "clock_skew",
    NotDisplaySession => "not_display_session",
    CodeNotShown => "code_not_shown",
    Internal => "internal",
    Unknown => "unknown",
});

// ---------------------------------------------------------------- device API

/// Response header on any device API call that carries a key update (a compact JWS
/// `tapprove-key-update+jwt`, docs/PROTOCOL.md §5a).
pub const KEY_UPDATE_HEADER: &str = "x-tapprove-key-update";

/// Event-stream event name that carries a key update (its `data` is the compact JWS).
pub const KEY_UPDATE_EVENT: &str = "key_update";

/// How long a pairing whose answer was lost can be retried, seconds (docs/PROTOCOL.md §6): the
/// service answers a repeat (same device key, same code) with the same account within this
/// window, and the device keeps its in-doubt key exactly as long (after it, the site's
/// single-use code is spent anyway: pair again with a new code).
pub const PAIRING_RETRY_WINDOW: i64 = 600;

/// Push platform of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushPlatform {
    /// Apple Push Notification service.
    Apns,
    /// Firebase Cloud Messaging.
    Fcm,
    /// No push: the device polls or listens on the event stream.
    None,
}

crate::wire::wire_names!(PushPlatform {
    Apns => "apns",
    Fcm => "fcm",
    None => "none",
});

/// APNs environment of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushEnvironment {
    /// App Store / TestFlight builds.
    Production,
    /// Development builds.
    Sandbox,
}

crate::wire::wire_names!(PushEnvironment {
    Production => "production",
    Sandbox => "sandbox",
});

/// How a device keeps its private key, as it reported at pairing (the optional
/// `key_protection` member of `POST /v1/device/pair`; absent = `unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyProtection {
    /// In a secure element (Secure Enclave, StrongBox, TEE-backed Keystore).
    Hardware,
    /// In software (a file or the OS keychain without hardware backing).
    Software,
    /// Not reported, or a value this build does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

crate::wire::wire_names!(KeyProtection {
    Hardware => "hardware",
    Software => "software",
    Unknown => "unknown",
});

/// Where to push a device. Body of `PUT /v1/device/push-token`, and part of pairing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRegistration {
    /// Platform.
    pub platform: PushPlatform,
    /// APNs device token (hex) or FCM registration token; empty for `none`.
    #[serde(default)]
    pub token: String,
    /// APNs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<PushEnvironment>,
}

/// `POST /v1/device/pair`, with header `X-Tapprove-SDK-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairRequest {
    /// The user name at the relying party.
    pub user: String,
    /// The one-time pairing code the site showed.
    pub pairing_code: String,
    /// The new account's device public key.
    pub public_key: PublicKey,
    /// Where to push, if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushRegistration>,
    /// A name for the device, shown to operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The device's X25519 key for sealed pushes (docs/PROTOCOL.md §11). Absent (older apps):
    /// the account's pushes carry the challenge in the clear, as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_key: Option<crate::sealed::PushPublicKey>,
    /// How the device keeps its private key (its signer: hardware or software). Absent =
    /// `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_protection: Option<KeyProtection>,
}

/// Answer to a successful pairing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairResponse {
    /// The new account (device registration) id.
    pub account_id: String,
    /// The project id.
    pub project_id: String,
    /// The project's display name.
    pub project_name: String,
    /// The user name, as stored.
    pub user: String,
    /// The service key that signs challenges: pin it.
    pub service_key: PublicKey,
    /// The service clock, Unix seconds.
    pub server_time: i64,
    /// The project's user-verification policy for this account: `required` means every
    /// approval must carry `uv`. Absent = not asked (a challenge may still ask).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_verification: Option<UserVerification>,
}

/// `GET /v1/device/pending`: challenges still waiting for this device's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingResponse {
    /// Compact JWS challenges, oldest first.
    pub challenges: Vec<String>,
    /// A key update (compact JWS `tapprove-key-update+jwt`) while the service rolls its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_update: Option<String>,
    /// The service holds no push token for this device (never sent, or dropped after the push
    /// provider refused it): the device sends its registration again. Absent = false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub push_token_missing: bool,
}

/// `POST /v1/device/answers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerRequest {
    /// The compact JWS answer; it authenticates itself.
    pub answer: String,
}

/// `POST /v1/device/shown`: the phone showed a `display` session's code to a verified user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShownRequest {
    /// The compact JWS acknowledgement (`tapprove-shown+jwt`); it authenticates itself.
    pub shown: String,
}

/// Result of an answer: the session's state after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerResponse {
    /// The session.
    pub session_id: String,
    /// Its status now.
    pub status: SessionStatus,
    /// Why, when not accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<SessionReason>,
}

/// Event-stream (`GET /v1/device/events`, SSE) event `decided`: a session this device was asked
/// about is over (answered here or elsewhere, canceled, expired), so the prompt can go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecidedEvent {
    /// The session.
    pub session_id: String,
    /// Its final status.
    pub status: SessionStatus,
}

// ---------------------------------------------------------------- relying-party API

/// Notification text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
}

/// `POST /v1/push/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSessionRequest {
    /// The user name.
    pub user: String,
    /// What the phone shows.
    pub notification: Notification,
    /// Where the login comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
    /// Presence mode; default `choose`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<PresenceMode>,
    /// Lifetime in seconds; default 120, at most 600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u32>,
    /// For a login side that retries the same login (a RADIUS client resending, a page
    /// reloaded): when the user has a pending session, answer with it instead of sending a new
    /// push. A new session supersedes the pending one, and an unanswered push counts toward
    /// the user's cooldown, so honest retries should join.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub join_pending: bool,
}

/// `POST /v1/push/sessions/{id}/code`: the code the user typed at the login prompt, read off
/// the phone (`display` sessions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitCodeRequest {
    /// The code as typed (surrounding spaces are ignored).
    pub code: String,
}

/// Status of a push session. Exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Waiting for the user.
    Sent,
    /// Approved with the right presence answer.
    Accepted,
    /// Denied, or wrong presence answer.
    Rejected,
    /// Nobody answered in time.
    Expired,
    /// Canceled by the site, or superseded by a newer session.
    Canceled,
    /// Could not be delivered.
    Error,
}

crate::wire::wire_names!(SessionStatus {
    Sent => "sent",
    Accepted => "accepted",
    Rejected => "rejected",
    Expired => "expired",
    Canceled => "canceled",
    Error => "error",
});

impl SessionStatus {
    /// Whether the session is over.
    pub fn is_final(self) -> bool {
        self != Self::Sent
    }
}

impl SessionReason {
    /// The status a session decided for this reason has: the one table of outcomes
    /// (docs/PROTOCOL.md §9). `Unknown` is never decided by a service; it reads as `error`.
    pub const fn status(self) -> SessionStatus {
        match self {
            Self::Approved => SessionStatus::Accepted,
            Self::WrongNumber | Self::UserDenied | Self::FraudReported => SessionStatus::Rejected,
            Self::Superseded | Self::CanceledByRelyingParty | Self::DeviceRevoked => {
                SessionStatus::Canceled
            }
            Self::Timeout => SessionStatus::Expired,
            Self::NoDevice | Self::DeliveryFailed | Self::Unknown => SessionStatus::Error,
        }
    }
}

/// Why a session ended the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionReason {
    /// Approved with the right presence answer.
    Approved,
    /// The user picked or typed the wrong code.
    WrongNumber,
    /// The user denied ("cancel").
    UserDenied,
    /// The user denied with "not me".
    FraudReported,
    /// A newer session for the same user replaced this one.
    Superseded,
    /// The site canceled it.
    CanceledByRelyingParty,
    /// Nobody answered in time.
    Timeout,
    /// The user has no trusted device.
    NoDevice,
    /// No device could be reached.
    DeliveryFailed,
    /// Every device it was sent to was removed (by the site or an operator) before an answer.
    DeviceRevoked,
    /// A reason this build does not know.
    #[serde(other)]
    Unknown,
}

crate::wire::wire_names!(SessionReason {
    Approved => "approved",
    WrongNumber => "wrong_number",
    UserDenied => "user_denied",
    FraudReported => "fraud_reported",
    Superseded => "superseded",
    CanceledByRelyingParty => "canceled_by_relying_party",
    Timeout => "timeout",
    NoDevice => "no_device",
    DeliveryFailed => "delivery_failed",
    DeviceRevoked => "device_revoked",
    Unknown => "unknown",
});

/// `201` answer to `POST /v1/push/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCreated {
    /// Session id.
    pub id: String,
    /// Always `sent` at creation.
    pub status: SessionStatus,
    /// The code the login page shows (absent in `none` mode, and in `display` mode, where the
    /// phone shows the code and the login side never learns it).
    pub presence_code: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// `GET /v1/push/sessions/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// Session id.
    pub id: String,
    /// Status.
    pub status: SessionStatus,
    /// Why, once final.
    pub reason: Option<SessionReason>,
    /// The code the login page shows.
    pub presence_code: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds, once final.
    pub decided_at: Option<i64>,
}

// ---------------------------------------------------------------- relying party: devices

/// One paired device in `GET /v1/users/{user}/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceView {
    /// The device's account id (`acc_…`), for `DELETE /v1/devices/{id}`.
    pub id: String,
    /// The name the device gave at pairing.
    pub name: Option<String>,
    /// Its push platform (`none` when it only listens on the event stream).
    pub platform: PushPlatform,
    /// Paired at, Unix seconds.
    pub created_at: i64,
    /// Its last authenticated call (answer, pending, events, push token), Unix seconds.
    pub last_used_at: Option<i64>,
    /// How it keeps its key, as it reported at pairing.
    pub key_protection: KeyProtection,
}

/// `GET /v1/users/{user}/devices`: the user's paired devices, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    /// The devices.
    pub devices: Vec<DeviceView>,
}

/// One row of the audit log (`GET /v1/audit`, `tapprove admin audit --json`). Never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Row id (`aud_…`).
    pub id: String,
    /// Unix seconds.
    pub at: i64,
    /// The project (`null`: a service-wide event).
    pub project_id: Option<String>,
    /// `device:<acc_…>`, `device` (not paired yet), `rp`, `operator` or `service`.
    pub actor: String,
    /// What was done, e.g. `device.pairing`, `session.decided`, `api_key.rotated`.
    pub action: String,
    /// What it was done to: an `acc_…`, `ses_…`, `key_…`, `prj_…` id or a user name.
    pub subject: String,
    /// The user concerned, if any.
    pub user: Option<String>,
    /// `ok`, `rejected`, `refused`, `noop`, or a session's final status.
    pub outcome: String,
    /// Why, when there is more to say (a session's reason, the limit that refused).
    pub reason: Option<String>,
    /// The caller's IP (the TCP peer), when the action came through the API.
    pub source_ip: Option<String>,
    /// The request id (the caller's `X-Request-Id` or one the service made).
    pub request_id: Option<String>,
}

/// `GET /v1/audit`: a page of the project's audit log, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The rows.
    pub events: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; `null` when this page is the last one so far.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_str_is_the_wire_form() {
        use SessionReason as R;
        for r in [
            R::Approved,
            R::WrongNumber,
            R::UserDenied,
            R::FraudReported,
            R::Superseded,
            R::CanceledByRelyingParty,
            R::Timeout,
            R::NoDevice,
            R::DeliveryFailed,
            R::DeviceRevoked,
            R::Unknown,
        ] {
            let wire = serde_json::to_value(r).expect("serialises");
            assert_eq!(wire.as_str(), Some(r.as_str()), "{r:?}");
        }
    }
}
