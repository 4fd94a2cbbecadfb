//! The one public error type, [`AuthError`] (`AuthException` in Kotlin, `AuthError` in Swift),
//! and the one conversion from the core's error that decides what apps see.

use tapprove_core::{CoreError, SignerError, StoreError};

use crate::types::UvFailure;

/// Every failure the SDK reports. Each variant carries a `detail` written for the user (what
/// happened and what to do; also [`AuthError::user_message`]); none contains a secret (keys,
/// pairing codes, push tokens). (The field is not called `message`: that name clashes with
/// `Throwable.message` in the generated Kotlin.)
///
/// Foreign implementations of [`crate::SecureStore`], [`crate::DeviceSigner`] and the other
/// callback traits may throw any exception: it arrives here as [`AuthError::Platform`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum AuthError {
    /// Something the app or the user passed is not valid: server URL, SDK key, pairing link,
    /// account id, or a presence answer that is missing or not among the options.
    #[error("{detail}")]
    InvalidInput {
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// The relying party did not accept the pairing (wrong or expired code).
    #[error("{detail}")]
    PairingRejected {
        /// The service's explanation.
        detail: String,
    },
    /// The site or an operator removed this device from the account: it stays listed with
    /// `revoked_at` (show "removed by … on …") and is no longer used; unpair it to remove it.
    #[error("{detail}")]
    Revoked {
        /// The account.
        account_id: String,
        /// When, Unix seconds (service time), when known.
        revoked_at: Option<i64>,
        /// What happened and what to do.
        detail: String,
    },
    /// User verification stopped an approval; nothing was sent and the request stays open.
    #[error("{detail}")]
    UserVerification {
        /// Cancelled, unavailable or failed.
        reason: UvFailure,
        /// What to tell the user.
        detail: String,
    },
    /// The service sent a new signing key that does not verify with the pinned key: refused,
    /// the pinned key kept. Worth reporting to the site.
    #[error("{detail}")]
    KeyUpdateRefused {
        /// The protocol error code (`bad_signature`, `invalid`, `not_yet_valid`, …).
        code: String,
        /// What happened.
        detail: String,
    },
    /// This device is no longer paired with the service: remove the account and pair again.
    #[error("{detail}")]
    NotPaired {
        /// What to do.
        detail: String,
    },
    /// The account was removed from this device, but the service could not be told.
    #[error("{detail}")]
    UnpairedLocallyOnly {
        /// What happened and what to do.
        detail: String,
    },
    /// The service could not be reached; retrying later may help.
    #[error("{detail}")]
    Network {
        /// The transport error and what to do.
        detail: String,
    },
    /// Too many attempts: wait before retrying.
    #[error("{detail}")]
    RateLimited {
        /// Seconds to wait, when the service said.
        retry_after_seconds: Option<u64>,
        /// What to do.
        detail: String,
    },
    /// The app (or a login request) needs a newer SDK; show `detail` as-is.
    #[error("{detail}")]
    UpdateRequired {
        /// What to do, as the service says it.
        detail: String,
    },
    /// The login request can no longer be answered: dismiss its prompt.
    #[error("{detail}")]
    RequestClosed {
        /// Why.
        reason: ClosedReason,
        /// What to tell the user.
        detail: String,
    },
    /// A notification that looks like Tapprove's but is not a valid login request for this
    /// device (malformed, or not signed by the pinned service key): ignore it.
    #[error("{detail}")]
    InvalidNotification {
        /// Why it was refused.
        detail: String,
    },
    /// The service answered with an error this SDK has no specific handling for.
    #[error("{detail}")]
    Service {
        /// HTTP status.
        status: u16,
        /// The service's error code (`unknown` when absent).
        code: String,
        /// The service's message.
        detail: String,
    },
    /// The platform's secure storage or key store failed (including an exception thrown by the
    /// app's [`crate::SecureStore`] or [`crate::DeviceSigner`]).
    #[error("{detail}")]
    Platform {
        /// What failed and what to do.
        detail: String,
    },
    /// The app cancelled the call through its [`crate::CancelToken`] (e.g. a Swift task was
    /// cancelled). Nothing to show; not retryable as such.
    #[error("{detail}")]
    Cancelled {
        /// "the call was cancelled".
        detail: String,
    },
    /// A bug or an unexpected state in the SDK; please report it.
    #[error("{detail}")]
    Internal {
        /// What happened.
        detail: String,
    },
}

/// Why a login request can no longer be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ClosedReason {
    /// It expired.
    Expired,
    /// It was already answered, on this device or another.
    AlreadyAnswered,
    /// It is not pending on this device (never received, or over).
    NotPending,
    /// It ended before anyone answered it (superseded, canceled by the site, expired): it can
    /// only be reported with "this wasn't me" (`Decision.Deny(DenyReason.NOT_ME)`), see
    /// [`crate::Authenticator::ended_requests`].
    Ended,
}

impl AuthError {
    /// An invalid argument.
    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        Self::InvalidInput {
            detail: detail.into(),
        }
    }
}

/// Methods apps call on any error (`e.userMessage()` in Kotlin, `error.userMessage()` in Swift).
#[uniffi::export]
impl AuthError {
    /// The sentence to show the user: what happened and what to do. Never contains a secret.
    pub fn user_message(&self) -> String {
        self.to_string()
    }

    /// Whether trying the same call again later may succeed (network trouble, rate limiting,
    /// a service failure).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Network { .. } | Self::RateLimited { .. } => true,
            Self::Service { status, .. } => *status >= 500,
            Self::InvalidInput { .. }
            | Self::PairingRejected { .. }
            | Self::Revoked { .. }
            | Self::UserVerification { .. }
            | Self::KeyUpdateRefused { .. }
            | Self::NotPaired { .. }
            | Self::UnpairedLocallyOnly { .. }
            | Self::UpdateRequired { .. }
            | Self::RequestClosed { .. }
            | Self::InvalidNotification { .. }
            | Self::Cancelled { .. }
            | Self::Platform { .. }
            | Self::Internal { .. } => false,
        }
    }
}

/// The one place that decides what apps see of a core error. The core's messages already say
/// what to do and hold no secrets; this picks the variant an app can branch on.
impl From<CoreError> for AuthError {
    fn from(e: CoreError) -> Self {
        let detail = e.to_string();
        match e {
            CoreError::InvalidSdkKey
            | CoreError::InvalidConfig { .. }
            | CoreError::InvalidEnrollmentUri { .. }
            | CoreError::UnknownAccount { .. }
            | CoreError::PresenceAnswerRequired
            | CoreError::PresenceAnswerNotAmongOptions
            | CoreError::ApprovedByCode
            | CoreError::NoCodeToShow
            | CoreError::InvalidCode { .. } => Self::InvalidInput { detail },
            CoreError::PairingRejected { .. } | CoreError::AccountIdCollision { .. } => {
                Self::PairingRejected { detail }
            }
            CoreError::Revoked {
                account_id,
                revoked_at,
                ..
            } => Self::Revoked {
                account_id,
                revoked_at,
                detail,
            },
            CoreError::UserVerificationCancelled => Self::UserVerification {
                reason: UvFailure::Cancelled,
                detail,
            },
            CoreError::UserVerificationUnavailable => Self::UserVerification {
                reason: UvFailure::Unavailable,
                detail,
            },
            CoreError::UserVerificationFailed { .. } => Self::UserVerification {
                reason: UvFailure::Failed,
                detail,
            },
            CoreError::KeyUpdateRefused { code, .. } => Self::KeyUpdateRefused { code, detail },
            CoreError::NotPaired => Self::NotPaired { detail },
            CoreError::UnpairedLocallyOnly { .. } => Self::UnpairedLocallyOnly { detail },
            CoreError::Network { .. } => Self::Network { detail },
            CoreError::RateLimited {
                retry_after_seconds,
            } => Self::RateLimited {
                retry_after_seconds,
                detail,
            },
            // The service's message, as-is (docs/PROTOCOL.md §6).
            CoreError::UpdateRequired { message } => Self::UpdateRequired { detail: message },
            CoreError::Expired => Self::RequestClosed {
                reason: ClosedReason::Expired,
                detail,
            },
            CoreError::AlreadyAnswered => Self::RequestClosed {
                reason: ClosedReason::AlreadyAnswered,
                detail,
            },
            CoreError::RequestEnded { .. } => Self::RequestClosed {
                reason: ClosedReason::Ended,
                detail,
            },
            CoreError::UnknownRequest { .. } => Self::RequestClosed {
                reason: ClosedReason::NotPending,
                detail,
            },
            CoreError::InvalidPayload { .. }
            | CoreError::BadSignature
            | CoreError::NotDecryptable { .. } => Self::InvalidNotification { detail },
            CoreError::Service { status, code, .. } => Self::Service {
                status,
                code,
                detail,
            },
            CoreError::Storage(_) | CoreError::Signer(_) => Self::Platform { detail },
            CoreError::Cancelled => Self::Cancelled { detail },
            CoreError::Internal { .. } => Self::Internal { detail },
        }
    }
}

/// An exception thrown by Kotlin/Swift code implementing a callback trait (other than an
/// `AuthException`/`AuthError` it threw on purpose) becomes a platform error, never a panic.
impl From<uniffi::UnexpectedUniFFICallbackError> for AuthError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Platform {
            detail: format!("the app's platform code failed: {}", e.reason),
        }
    }
}

/// Errors of the app's [`crate::SecureStore`] as the core sees them.
pub(crate) fn to_store_error(e: AuthError) -> StoreError {
    StoreError::backend(e.to_string())
}

/// Errors of the app's [`crate::DeviceSigner`] as the core sees them.
pub(crate) fn to_signer_error(e: AuthError) -> SignerError {
    SignerError::backend(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_message_and_retryability() {
        let e = AuthError::from(CoreError::Network {
            message: "connection refused".into(),
        });
        assert!(e.is_retryable());
        assert!(e.user_message().contains("connection refused"));
        assert_eq!(e.user_message(), e.to_string());
        assert!(!AuthError::from(CoreError::NotPaired).is_retryable());
        let e = AuthError::from(CoreError::Service {
            status: 503,
            code: "internal".into(),
            message: "down".into(),
        });
        assert!(e.is_retryable());
    }

    #[test]
    fn core_errors_map_to_branchable_variants() {
        assert!(matches!(
            AuthError::from(CoreError::InvalidSdkKey),
            AuthError::InvalidInput { .. }
        ));
        assert!(matches!(
            AuthError::from(CoreError::Expired),
            AuthError::RequestClosed {
                reason: ClosedReason::Expired,
                ..
            }
        ));
        assert!(matches!(
            AuthError::from(CoreError::AlreadyAnswered),
            AuthError::RequestClosed {
                reason: ClosedReason::AlreadyAnswered,
                ..
            }
        ));
        assert!(matches!(
            AuthError::from(CoreError::RequestEnded {
                status: tapprove_core::SessionStatus::Canceled
            }),
            AuthError::RequestClosed {
                reason: ClosedReason::Ended,
                ..
            }
        ));
        let e = AuthError::from(CoreError::RateLimited {
            retry_after_seconds: Some(9),
        });
        assert_eq!(
            e,
            AuthError::RateLimited {
                retry_after_seconds: Some(9),
                detail: "too many attempts; try again in 9 seconds".into()
            }
        );
        let e = AuthError::from(CoreError::UpdateRequired {
            message: "Update the app.".into(),
        });
        assert_eq!(
            e.to_string(),
            "Update the app.",
            "the service's message is shown as-is"
        );
        let e = AuthError::from(CoreError::Service {
            status: 500,
            code: "internal".into(),
            message: "boom".into(),
        });
        assert!(matches!(e, AuthError::Service { status: 500, .. }));
        let e = AuthError::from(CoreError::Revoked {
            account_id: "acc_1".into(),
            project_name: "Demo Bank".into(),
            user: "alice".into(),
            revoked_at: Some(1_800_000_000),
        });
        assert!(
            matches!(&e, AuthError::Revoked { account_id, revoked_at: Some(1_800_000_000), detail }
                if account_id == "acc_1" && detail.contains("Demo Bank removed this device")),
            "{e:?}"
        );
        assert!(!e.is_retryable());
        assert!(matches!(
            AuthError::from(CoreError::AccountIdCollision {
                account_id: "acc_1".into(),
                existing_server: "https://a".into()
            }),
            AuthError::PairingRejected { .. }
        ));
        let e = AuthError::from(CoreError::Storage(StoreError::backend("locked")));
        assert!(matches!(&e, AuthError::Platform { detail } if detail.contains("locked")));
    }
}
