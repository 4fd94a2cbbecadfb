//! Errors of the device core. Every `Display` says what went wrong and what the user (or the app
//! developer) can do about it, and never contains a secret (key, pairing code, token).

use thiserror::Error;

use tapprove_protocol::ProtocolError;

/// A secure store failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The platform store refused or failed (locked keychain, missing permission, ...).
    #[error(
        "the secure store failed: {message}; unlock the device or check the app's keychain/keystore access, then try again"
    )]
    Backend {
        /// What the platform said.
        message: String,
    },
    /// The key name is not acceptable to this store.
    #[error("the secure store does not accept the key name {key:?}")]
    InvalidKey {
        /// The refused key name (never a secret: keys are names like `account/acc_…`).
        key: String,
    },
    /// A file-system operation failed (file store).
    #[error(
        "the secure store could not {action} {path}: {message}; check that the directory exists, is writable and belongs to this user"
    )]
    Io {
        /// What was attempted (`read`, `write`, ...).
        action: String,
        /// The file or directory.
        path: String,
        /// The OS error.
        message: String,
    },
    /// Stored data cannot be read back (corrupted or written by an incompatible version).
    #[error(
        "stored data under {key:?} is unreadable ({message}); remove the account and pair again"
    )]
    Corrupt {
        /// The key whose value is broken.
        key: String,
        /// Why it cannot be read.
        message: String,
    },
}

impl StoreError {
    /// A platform failure with a message (convenience for store implementations).
    pub fn backend(message: impl Into<String>) -> Self {
        Self::Backend {
            message: message.into(),
        }
    }
}

/// A device signer failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignerError {
    /// No key exists under this alias (deleted, or the app was reinstalled).
    #[error("the device key {alias:?} is missing; remove this account and pair again")]
    KeyNotFound {
        /// The key alias.
        alias: String,
    },
    /// The user cancelled an authentication the key requires (biometrics, passcode).
    #[error("signing was cancelled; try again and confirm with your biometrics or passcode")]
    Cancelled,
    /// The key store or hardware failed.
    #[error(
        "the device key store failed: {message}; try again, or remove the account and pair again if it persists"
    )]
    Backend {
        /// What the platform said.
        message: String,
    },
    /// The secure store behind a software signer failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SignerError {
    /// A platform failure with a message (convenience for signer implementations).
    pub fn backend(message: impl Into<String>) -> Self {
        Self::Backend {
            message: message.into(),
        }
    }
}

/// Every failure of the device core.
#[derive(Debug, Error)]
pub enum CoreError {
    /// The SDK key is not of the form `tap_sdk_` followed by 22 base64url characters.
    #[error(
        "the SDK key is not valid: it must be `tap_sdk_` followed by 22 characters, exactly as the Tapprove admin printed it (check for copy/paste errors), or the service does not know it"
    )]
    InvalidSdkKey,
    /// The configuration is not usable (for example an `http://` URL to a remote host).
    #[error("invalid configuration: {message}")]
    InvalidConfig {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An enrollment (QR code) URI could not be read.
    #[error(
        "this is not a valid Tapprove pairing link: {message}; scan the QR code again or pair by typing the code"
    )]
    InvalidEnrollmentUri {
        /// What is wrong.
        message: String,
    },
    /// The relying party did not accept the pairing (wrong or expired code, site unreachable).
    #[error("pairing was refused: {message}")]
    PairingRejected {
        /// The service's explanation.
        message: String,
    },
    /// The service asks the device to slow down.
    #[error("too many attempts; {}", match retry_after_seconds { Some(s) => format!("try again in {s} seconds"), None => "wait a minute and try again".to_owned() })]
    RateLimited {
        /// Seconds to wait, when the service said.
        retry_after_seconds: Option<u64>,
    },
    /// The service no longer knows this device (unpaired on the server side).
    #[error("this device is no longer paired with the service; remove the account and pair again")]
    NotPaired,
    /// No local account has this id.
    #[error(
        "no account {account_id:?} on this device; it may have been removed, pair again to use it"
    )]
    UnknownAccount {
        /// The id asked for, or the id a challenge named.
        account_id: String,
    },
    /// No login request with this id is known (not received, or no longer pending).
    #[error(
        "login request {request_id:?} is not pending on this device; it may have expired or been answered elsewhere"
    )]
    UnknownRequest {
        /// The id asked for.
        request_id: String,
    },
    /// The service could not be reached or the connection broke.
    #[error(
        "could not reach the Tapprove service: {message}; check the network connection and try again"
    )]
    Network {
        /// The transport error.
        message: String,
    },
    /// The service answered with an error this SDK has no specific handling for.
    #[error("the Tapprove service answered {status} {code}: {message}")]
    Service {
        /// HTTP status.
        status: u16,
        /// The error code from the body (`unknown` when absent).
        code: String,
        /// The service's message.
        message: String,
    },
    /// The service (or a login request) needs a newer SDK; the message comes from the service.
    #[error("update required: {message}")]
    UpdateRequired {
        /// What to do, as the service (or the core) says it.
        message: String,
    },
    /// The login request has expired.
    #[error("this login request has expired; start the login again on the website")]
    Expired,
    /// The login request was already answered (here or on another device).
    #[error("this login request was already answered")]
    AlreadyAnswered,
    /// The login request ended without an answer (superseded by a newer one, canceled by the
    /// site, expired): it can no longer be approved or denied, only reported with "not me"
    /// (`Decision::Deny` with `DenyReason::NotMe`) for a while after it ended.
    #[error(
        "this login request ended ({}) before it was answered; if it was not you, report it with \"not me\"",
        status.as_str()
    )]
    RequestEnded {
        /// How it ended: `canceled` (superseded or canceled by the site) or `expired`.
        status: tapprove_protocol::api::SessionStatus,
    },
    /// A code-to-phone request is approved by typing its code at the login prompt, not in the
    /// app: the app shows the code ([`crate::Authenticator::show_code`]) and can only deny.
    #[error(
        "this sign-in is approved by typing the code shown in Tapprove at the login prompt; here you can only deny it"
    )]
    ApprovedByCode,
    /// [`crate::Authenticator::show_code`] on a request that has no code to show (not
    /// code-to-phone).
    #[error("this login request has no code to show; compare the code on the login page instead")]
    NoCodeToShow,
    /// Approving needs a presence answer (the code the login page shows).
    #[error("pick or type the code shown on the login page to approve")]
    PresenceAnswerRequired,
    /// The chosen presence answer is not one of the offered options.
    #[error(
        "the chosen code is not one of the offered options; pick the code shown on the login page"
    )]
    PresenceAnswerNotAmongOptions,
    /// A push payload or token is not a well-formed Tapprove login request.
    #[error("this notification is not a valid login request ({message}); ignore it")]
    InvalidPayload {
        /// Why.
        message: String,
    },
    /// A sealed push does not open with this device's push key for the account it names (sealed
    /// to another key or account, altered on the way, or the key is missing here). Not "not
    /// ours": the payload claims to be Tapprove's and is refused.
    #[error(
        "this login request could not be decrypted on this device ({reason}); if it keeps happening, pair this device again"
    )]
    NotDecryptable {
        /// The account the payload named.
        account_id: String,
        /// Why.
        reason: String,
    },
    /// A login request's signature does not verify with the pinned service key: it may be forged.
    #[error(
        "this login request is not signed by your service and was ignored; if it keeps happening, contact the site's support"
    )]
    BadSignature,
    /// Unpair removed the account from this device, but the service could not be told.
    #[error(
        "the account was removed from this device, but the service could not be told ({reason}); ask the site to remove this device from your account"
    )]
    UnpairedLocallyOnly {
        /// Why the service could not be told.
        reason: String,
    },
    /// The typed code has the wrong form (the challenge says how many digits it has).
    #[error("type the {expected_digits}-digit code shown on the login page (digits only)")]
    InvalidCode {
        /// The code's length, from the challenge.
        expected_digits: u8,
    },
    /// The user dismissed the verification prompt (biometrics, passcode, passphrase); nothing
    /// was sent and the request can still be answered.
    #[error(
        "approval cancelled: confirm it is you (biometrics, device passcode or passphrase) to approve"
    )]
    UserVerificationCancelled,
    /// This login needs user verification and the device cannot do it.
    #[error(
        "this login asks you to confirm it is you, but this device cannot: set up a screen lock or biometrics (in the terminal authenticator: `tapprove device passphrase set`), then try again"
    )]
    UserVerificationUnavailable,
    /// User verification failed (wrong passphrase, a platform error); nothing was sent.
    #[error("could not confirm it is you: {message}; try again")]
    UserVerificationFailed {
        /// What happened.
        message: String,
    },
    /// The site or an operator removed this device from the account. The account stays on
    /// the device, marked revoked, and is no longer used.
    #[error(
        "{project_name} removed this device from {user}'s account{}; it can no longer approve logins there. Remove the account here and pair again if you still want to use this device",
        match revoked_at { Some(t) => format!(" (at {})", crate::clock::utc_text(*t)), None => String::new() }
    )]
    Revoked {
        /// The account.
        account_id: String,
        /// Its project's display name.
        project_name: String,
        /// Its user name.
        user: String,
        /// When, as the service said (Unix seconds).
        revoked_at: Option<i64>,
    },
    /// The service returned, at pairing, the id of an account this device already holds for
    /// another service: pairing was refused so that account stays intact.
    #[error(
        "pairing was refused: the service returned account id {account_id:?}, which this device already uses for {existing_server}; that account was kept. Contact the site's support"
    )]
    AccountIdCollision {
        /// The colliding id.
        account_id: String,
        /// The service the existing account belongs to.
        existing_server: String,
    },
    /// A key update was not signed by the pinned service key (or breaks the rules): refused,
    /// the pinned key kept.
    #[error(
        "the service sent a new signing key that does not verify ({reason}); it was refused and the key pinned at pairing is kept. If this keeps happening, contact the site's support"
    )]
    KeyUpdateRefused {
        /// The protocol error code (`bad_signature`, `invalid`, …).
        code: String,
        /// Why.
        reason: String,
    },
    /// The app cancelled the call through its [`crate::CancelToken`].
    #[error("the call was cancelled")]
    Cancelled,
    /// A failure inside the SDK itself (a thread could not start, a background call died).
    #[error("the Tapprove SDK failed internally ({detail}); try again")]
    Internal {
        /// What failed.
        detail: String,
    },
    /// The secure store failed.
    #[error(transparent)]
    Storage(#[from] StoreError),
    /// The device signer failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
}

impl CoreError {
    /// Maps a challenge verification failure to what the app should show.
    pub(crate) fn from_challenge(err: ProtocolError) -> Self {
        match err {
            ProtocolError::BadSignature => Self::BadSignature,
            ProtocolError::Expired => Self::Expired,
            ProtocolError::UnsupportedVersion(v) => Self::UpdateRequired {
                message: format!(
                    "this login request uses protocol version {v}, which this app does not support; update the app"
                ),
            },
            ProtocolError::NotYetValid => Self::InvalidPayload {
                message:
                    "it is dated in the future; check that this device's clock is set automatically"
                        .into(),
            },
            other => Self::InvalidPayload {
                message: other.to_string(),
            },
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::InvalidConfig {
            message: message.into(),
        }
    }

    pub(crate) fn uri(message: impl Into<String>) -> Self {
        Self::InvalidEnrollmentUri {
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        assert!(
            CoreError::RateLimited {
                retry_after_seconds: Some(7)
            }
            .to_string()
            .contains("7 seconds")
        );
        assert!(
            CoreError::RateLimited {
                retry_after_seconds: None
            }
            .to_string()
            .contains("wait a minute")
        );
        assert!(CoreError::NotPaired.to_string().contains("pair again"));
        assert!(CoreError::InvalidSdkKey.to_string().contains("tap_sdk_"));
        let e: CoreError = StoreError::backend("locked").into();
        assert!(e.to_string().contains("locked"), "{e}");
    }

    #[test]
    fn challenge_errors_map_to_user_errors() {
        assert!(matches!(
            CoreError::from_challenge(ProtocolError::BadSignature),
            CoreError::BadSignature
        ));
        assert!(matches!(
            CoreError::from_challenge(ProtocolError::Expired),
            CoreError::Expired
        ));
        assert!(matches!(
            CoreError::from_challenge(ProtocolError::UnsupportedVersion(2)),
            CoreError::UpdateRequired { .. }
        ));
        assert!(matches!(
            CoreError::from_challenge(ProtocolError::Malformed("x".into())),
            CoreError::InvalidPayload { .. }
        ));
    }
}
