//! Plain records and enums crossing the FFI, each converted from/to the core's type. None holds
//! a secret except [`PushRegistration::token`] (a push token: never logged).

use tapprove_core as core;

/// Where the service is and which project this app belongs to.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ServiceConfig {
    /// The service origin, `https://…` (plain `http://` only for loopback hosts, in tests).
    pub server_url: String,
    /// The project's SDK key, `tap_sdk_…` (ships in the app; not a secret).
    pub sdk_key: String,
    /// A name for this device shown to operators, e.g. "Alice's Pixel".
    #[uniffi(default)]
    pub device_name: Option<String>,
}

impl ServiceConfig {
    pub(crate) fn to_core(&self) -> Result<core::Config, core::CoreError> {
        let config = core::Config::new(&self.server_url, &self.sdk_key)?;
        Ok(match &self.device_name {
            Some(name) => config.with_device_name(name),
            None => config,
        })
    }
}

/// A paired account: one user at one project of one service. Holds no secrets.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Account {
    /// Account id (`acc_…`).
    pub id: String,
    /// Project id (`prj_…`).
    pub project_id: String,
    /// The project's display name, e.g. "Demo Bank".
    pub project_name: String,
    /// The user name at the relying party.
    pub user: String,
    /// The service origin.
    pub server_url: String,
    /// When the pairing happened, Unix seconds.
    pub paired_at: i64,
    /// The service key this account trusts now (base64url P-256 point); it changes when the
    /// service rolls its key.
    pub service_key: String,
    /// When the site or an operator removed this device (Unix seconds, service time): show
    /// "removed by {project_name} on …"; the account is no longer used. `None` = active.
    pub revoked_at: Option<i64>,
    /// The service's VAPID public key, for registering with a UnifiedPush distributor;
    /// `None` when the service sends no Web Push.
    pub vapid_public_key: Option<String>,
}

impl From<core::Account> for Account {
    fn from(a: core::Account) -> Self {
        Self {
            id: a.id,
            project_id: a.project_id,
            project_name: a.project_name,
            user: a.user,
            server_url: a.server_url,
            paired_at: a.paired_at,
            service_key: a.service_key.to_base64url(),
            revoked_at: a.revoked_at,
            vapid_public_key: a.vapid_public_key,
        }
    }
}

/// An account to add without a pairing round trip ([`crate::Authenticator::import_account`]):
/// provisioning, and tests pinned to the shared test-vector keys.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AccountImport {
    /// Account id (`acc_…`).
    pub id: String,
    /// Project id.
    pub project_id: String,
    /// Project display name.
    pub project_name: String,
    /// User name.
    pub user: String,
    /// Service origin.
    pub server_url: String,
    /// The project's SDK key.
    pub sdk_key: String,
    /// The service public key to pin (base64url of the 65-byte uncompressed P-256 point).
    pub service_key: String,
    /// Alias of this account's key in the app's [`crate::DeviceSigner`]; the key must exist.
    pub key_alias: String,
    /// Pairing time, Unix seconds.
    pub paired_at: i64,
}

/// Where the login comes from, as the site saw it. Every member is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct LoginContext {
    /// The application or site name.
    pub app: Option<String>,
    /// The client's IP address.
    pub ip: Option<String>,
    /// Approximate location, e.g. "Lyon, FR".
    pub location: Option<String>,
    /// The browser's user agent as the site received it: the attacker's own text, so show
    /// [`LoginContext::browser`] and [`LoginContext::os`] instead.
    pub user_agent: Option<String>,
    /// The browser's name (e.g. "Firefox"), as the service read it from the user agent.
    #[uniffi(default = None)]
    pub browser: Option<String>,
    /// The operating system's name (e.g. "Windows 10"), as the service read it.
    #[uniffi(default = None)]
    pub os: Option<String>,
}

impl From<core::Context> for LoginContext {
    fn from(c: core::Context) -> Self {
        Self {
            app: c.app,
            ip: c.ip,
            location: c.location,
            user_agent: c.user_agent,
            browser: c.browser,
            os: c.os,
        }
    }
}

/// How the user proves they are in front of the login page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PresenceMode {
    /// Pick the code the login page shows among [`LoginRequest::options`].
    Choose,
    /// Type the code the login page shows.
    Entry,
    /// No code: approve or deny only.
    None,
    /// Code to phone: show [`LoginRequest::display_code`] (through `showCode`, in the app,
    /// never on the lock screen) for the user to type at the login prompt; the app only denies.
    Display,
}

impl From<core::PresenceMode> for PresenceMode {
    fn from(m: core::PresenceMode) -> Self {
        match m {
            core::PresenceMode::Choose => Self::Choose,
            core::PresenceMode::Entry => Self::Entry,
            core::PresenceMode::None => Self::None,
            core::PresenceMode::Display => Self::Display,
        }
    }
}

/// A verified login request waiting for the user's decision.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LoginRequest {
    /// Request id (`ses_…`): pass it to [`crate::Authenticator::respond`].
    pub id: String,
    /// The account it is for.
    pub account_id: String,
    /// The user name.
    pub user: String,
    /// Notification title.
    pub title: String,
    /// Notification body.
    pub body: String,
    /// Where the login comes from.
    pub context: LoginContext,
    /// How to prove presence.
    pub presence_mode: PresenceMode,
    /// Choose mode: the three options to show, in this order. Empty otherwise.
    pub options: Vec<String>,
    /// Entry mode: the code has exactly this many digits (show a numeric field of that
    /// length); `None` when the service does not say. Pass the typed code as
    /// `Decision.Approve(presenceAnswer)`; a code of another form is `InvalidInput`.
    #[uniffi(default = None)]
    pub code_length: Option<u8>,
    /// Display mode: the code to show in the app (never on the lock screen: "Open Tapprove to
    /// see your sign-in code"); get it through `showCode`, which verifies the user first when
    /// the policy asks and tells the service it was shown.
    #[uniffi(default = None)]
    pub display_code: Option<String>,
    /// Whether approving runs the app's [`crate::UserVerifier`] first (see
    /// [`crate::Authenticator::set_user_verifier`]). Denying never does.
    #[uniffi(default = None)]
    pub user_verification: Option<UserVerification>,
    /// Issued at, Unix seconds (service time).
    pub issued_at: i64,
    /// Expires at, Unix seconds (service time).
    pub expires_at: i64,
}

impl From<core::LoginRequest> for LoginRequest {
    fn from(r: core::LoginRequest) -> Self {
        Self {
            id: r.id,
            account_id: r.account_id,
            user: r.user,
            title: r.title,
            body: r.body,
            context: r.context.into(),
            presence_mode: r.presence_mode.into(),
            options: r.options,
            code_length: r.code_length,
            display_code: r.display_code,
            user_verification: r.user_verification.map(Into::into),
            issued_at: r.issued_at,
            expires_at: r.expires_at,
        }
    }
}

/// A login request that ended before anyone answered it (superseded, canceled by the site,
/// expired), kept 10 minutes: show it as over, never approvable, with a "This wasn't me"
/// action (`Decision.Deny(DenyReason.NOT_ME)`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EndedRequest {
    /// The request as it was shown.
    pub request: LoginRequest,
    /// How it ended: `Canceled` (superseded or canceled by the site) or `Expired`.
    pub status: SessionStatus,
    /// When this device learnt it ended, Unix seconds (device clock).
    pub ended_at: i64,
}

impl From<core::EndedRequest> for EndedRequest {
    fn from(e: core::EndedRequest) -> Self {
        Self {
            request: e.request.into(),
            status: e.status.into(),
            ended_at: e.ended_at,
        }
    }
}

/// Whether a request asks to verify the user before approving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum UserVerification {
    /// Verify, or the approval cannot be sent.
    Required,
    /// Verify when the device can; approve without when it cannot.
    Preferred,
}

impl From<core::UserVerification> for UserVerification {
    fn from(u: core::UserVerification) -> Self {
        match u {
            core::UserVerification::Required => Self::Required,
            core::UserVerification::Preferred => Self::Preferred,
        }
    }
}

/// The class of method that verified the user; only this goes into the signed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum UvMethod {
    /// Face or fingerprint (BiometricPrompt BIOMETRIC_STRONG, LocalAuthentication biometrics).
    Biometric,
    /// The device PIN, pattern or passcode (DEVICE_CREDENTIAL, `.deviceOwnerAuthentication`).
    DeviceCredential,
    /// A passphrase the app itself checks.
    AppPassphrase,
}

impl From<UvMethod> for core::UvMethod {
    fn from(m: UvMethod) -> Self {
        match m {
            UvMethod::Biometric => Self::Biometric,
            UvMethod::DeviceCredential => Self::DeviceCredential,
            UvMethod::AppPassphrase => Self::AppPassphrase,
        }
    }
}

/// What the app's [`crate::UserVerifier`] reports. Nothing secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum VerifyResult {
    /// The user was verified with this class of method.
    Verified {
        /// How.
        method: UvMethod,
    },
    /// The user dismissed the prompt.
    Cancelled,
    /// The device cannot verify its user (no screen lock, no enrolled biometrics).
    Unavailable,
}

/// Why a user verification stopped an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum UvFailure {
    /// The user cancelled the prompt: the request can still be answered.
    Cancelled,
    /// The request requires verification and the device (or the app) cannot do it.
    Unavailable,
    /// The verifier failed (threw, or reported a failure).
    Failed,
}

/// Why the user denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum DenyReason {
    /// "Not me": the user did not try to log in (reported as fraud).
    NotMe,
    /// The user changed their mind.
    Cancelled,
}

/// The user's decision on a login request.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Decision {
    /// Approve, with the option picked (choose mode) or the code typed (entry mode); ignored in
    /// `none` mode.
    Approve {
        /// The option picked or the code typed.
        presence_answer: Option<String>,
    },
    /// Deny.
    Deny {
        /// Why.
        reason: DenyReason,
    },
}

impl From<Decision> for core::Decision {
    fn from(d: Decision) -> Self {
        match d {
            Decision::Approve { presence_answer } => Self::Approve { presence_answer },
            Decision::Deny {
                reason: DenyReason::NotMe,
            } => Self::Deny {
                reason: core::DenyReason::NotMe,
            },
            Decision::Deny {
                reason: DenyReason::Cancelled,
            } => Self::Deny {
                reason: core::DenyReason::Cancelled,
            },
        }
    }
}

/// Status of a login session at the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum SessionStatus {
    /// Waiting for the user.
    Sent,
    /// Approved with the right code: the login goes through.
    Accepted,
    /// Denied, or the wrong code.
    Rejected,
    /// Nobody answered in time.
    Expired,
    /// Canceled by the site or superseded by a newer request.
    Canceled,
    /// Delivery failed.
    Error,
}

impl From<core::SessionStatus> for SessionStatus {
    fn from(s: core::SessionStatus) -> Self {
        match s {
            core::SessionStatus::Sent => Self::Sent,
            core::SessionStatus::Accepted => Self::Accepted,
            core::SessionStatus::Rejected => Self::Rejected,
            core::SessionStatus::Expired => Self::Expired,
            core::SessionStatus::Canceled => Self::Canceled,
            core::SessionStatus::Error => Self::Error,
        }
    }
}

/// Why a session ended the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum SessionReason {
    /// Approved with the right code.
    Approved,
    /// Approved with a wrong code.
    WrongNumber,
    /// Denied ("cancel").
    UserDenied,
    /// Denied as "not me".
    FraudReported,
    /// A newer request replaced it.
    Superseded,
    /// The site canceled it.
    CanceledByRelyingParty,
    /// Nobody answered in time.
    Timeout,
    /// The user has no device.
    NoDevice,
    /// Push delivery failed.
    DeliveryFailed,
    /// The site or an operator removed this device while the request was open.
    DeviceRevoked,
    /// A reason this SDK version does not know (the service is newer).
    Unknown,
}

impl From<core::SessionReason> for SessionReason {
    fn from(r: core::SessionReason) -> Self {
        match r {
            core::SessionReason::Approved => Self::Approved,
            core::SessionReason::WrongNumber => Self::WrongNumber,
            core::SessionReason::UserDenied => Self::UserDenied,
            core::SessionReason::FraudReported => Self::FraudReported,
            core::SessionReason::Superseded => Self::Superseded,
            core::SessionReason::CanceledByRelyingParty => Self::CanceledByRelyingParty,
            core::SessionReason::Timeout => Self::Timeout,
            core::SessionReason::NoDevice => Self::NoDevice,
            core::SessionReason::DeliveryFailed => Self::DeliveryFailed,
            core::SessionReason::DeviceRevoked => Self::DeviceRevoked,
            core::SessionReason::Unknown => Self::Unknown,
        }
    }
}

/// What the service decided after an answer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RespondOutcome {
    /// The request answered.
    pub request_id: String,
    /// The session's status now ([`SessionStatus::Accepted`] when the login goes through).
    pub status: SessionStatus,
    /// Why, when the service said.
    pub reason: Option<SessionReason>,
}

impl From<core::RespondOutcome> for RespondOutcome {
    fn from(o: core::RespondOutcome) -> Self {
        Self {
            request_id: o.request_id,
            status: o.status.into(),
            reason: o.reason.map(Into::into),
        }
    }
}

/// Push platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PushPlatform {
    /// Apple Push Notification service.
    Apns,
    /// Firebase Cloud Messaging.
    Fcm,
    /// Web Push to a UnifiedPush distributor: `token` is the subscription JSON
    /// `{"endpoint","keys":{"p256dh","auth"}}`.
    Webpush,
    /// No push: the app polls ([`crate::Authenticator::pending`]) or listens.
    None,
}

/// APNs environment of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PushEnvironment {
    /// App Store / TestFlight builds.
    Production,
    /// Development builds.
    Sandbox,
}

/// Where to push this device.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct PushRegistration {
    /// Platform.
    pub platform: PushPlatform,
    /// APNs device token as lowercase hex, the FCM registration token, or the Web Push
    /// subscription JSON; empty for `None`.
    pub token: String,
    /// APNs only: which environment the token belongs to.
    #[uniffi(default)]
    pub environment: Option<PushEnvironment>,
}

impl std::fmt::Debug for PushRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushRegistration")
            .field("platform", &self.platform)
            .field("token", &"[redacted]")
            .field("environment", &self.environment)
            .finish()
    }
}

impl From<PushRegistration> for core::PushRegistration {
    fn from(p: PushRegistration) -> Self {
        Self {
            platform: match p.platform {
                PushPlatform::Apns => core::PushPlatform::Apns,
                PushPlatform::Fcm => core::PushPlatform::Fcm,
                PushPlatform::Webpush => core::PushPlatform::Webpush,
                PushPlatform::None => core::PushPlatform::None,
            },
            token: p.token,
            environment: p.environment.map(|e| match e {
                PushEnvironment::Production => core::PushEnvironment::Production,
                PushEnvironment::Sandbox => core::PushEnvironment::Sandbox,
            }),
        }
    }
}

/// What an enrollment link (pairing QR code) says, without its one-time code: show it before
/// pairing ("Pair alice with auth.example.com?").
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EnrollmentInfo {
    /// The service origin.
    pub server_url: String,
    /// The user name to pair.
    pub user: String,
}

/// How a [`crate::DeviceSigner`] keeps its keys; sent at pairing, shown to the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum KeyProtection {
    /// In a secure element: Secure Enclave, StrongBox, TEE-backed Android Keystore.
    Hardware,
    /// In software (a file, a keychain item without hardware backing).
    Software,
    /// The signer cannot say.
    Unknown,
}

impl From<KeyProtection> for core::KeyProtection {
    fn from(k: KeyProtection) -> Self {
        match k {
            KeyProtection::Hardware => Self::Hardware,
            KeyProtection::Software => Self::Software,
            KeyProtection::Unknown => Self::Unknown,
        }
    }
}

impl From<core::KeyProtection> for KeyProtection {
    fn from(k: core::KeyProtection) -> Self {
        match k {
            core::KeyProtection::Hardware => Self::Hardware,
            core::KeyProtection::Software => Self::Software,
            core::KeyProtection::Unknown => Self::Unknown,
        }
    }
}

/// An account whose stored record cannot be read: after a backup restore that brought the
/// app's data back without the key that unlocks it, or a damaged record. Show it as "pair this
/// phone again with {site}" and remove it with [`crate::Authenticator::forget_account`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AccountNeedingRepair {
    /// The account id (`acc_…`).
    pub account_id: String,
    /// What is wrong with its record.
    pub cause: RepairCause,
}

/// Why an account needs re-pairing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum RepairCause {
    /// The app's [`crate::SecureStore`] threw reading it (e.g. its Keystore key is gone).
    Unreadable,
    /// It was read but is not an account record.
    Corrupt,
}

impl From<core::AccountNeedingRepair> for AccountNeedingRepair {
    fn from(a: core::AccountNeedingRepair) -> Self {
        Self {
            account_id: a.account_id,
            cause: match a.cause {
                core::RepairCause::Unreadable => RepairCause::Unreadable,
                core::RepairCause::Corrupt => RepairCause::Corrupt,
            },
        }
    }
}
