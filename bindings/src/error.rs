//! The one public error type, [`AuthError`] (`AuthException` in Kotlin, `AuthError` in Swift),
//! and the one conversion from the core's error that decides what apps see.

use tapprove_core::{CoreError, SignerError, StoreError};

/// Every failure the SDK reports. Each variant carries a `message` written for the user (what
/// happened and what to do); none contains a secret (keys, pairing codes, push tokens).
///
/// Foreign implementations of [`crate::SecureStore`], [`crate::DeviceSigner`] and the other
/// callback traits may throw any exception: it arrives here as [`AuthError::Platform`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Something the app or the user passed is not valid: server URL, SDK key, pairing link,
    /// account id, or a presence answer that is missing or not among the options.
    #[error("{message}")]
    InvalidInput {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The relying party did not accept the pairing (wrong or expired code).
    #[error("{message}")]
    PairingRejected {
        /// The service's explanation.
        message: String,
    },
    /// This device is no longer paired with the service: remove the account and pair again.
    #[error("{message}")]
    NotPaired {
        /// What to do.
        message: String,
    },
    /// The account was removed from this device, but the service could not be told.
    #[error("{message}")]
    UnpairedLocallyOnly {
        /// What happened and what to do.
        message: String,
    },
    /// The service could not be reached; retrying later may help.
    #[error("{message}")]
    Network {
        /// The transport error and what to do.
        message: String,
    },
    /// Too many attempts: wait before retrying.
    #[error("{message}")]
    RateLimited {
        /// Seconds to wait, when the service said.
        retry_after_seconds: Option<u64>,
        /// What to do.
        message: String,
    },
    /// The app (or a login request) needs a newer SDK; show `message` as-is.
    #[error("{message}")]
    UpdateRequired {
        /// What to do, as the service says it.
        message: String,
    },
    /// The login request can no longer be answered: dismiss its prompt.
    #[error("{message}")]
    RequestClosed {
        /// Why.
        reason: ClosedReason,
        /// What to tell the user.
        message: String,
    },
    /// A notification that looks like Tapprove's but is not a valid login request for this
    /// device (malformed, or not signed by the pinned service key): ignore it.
    #[error("{message}")]
    InvalidNotification {
        /// Why it was refused.
        message: String,
    },
    /// The service answered with an error this SDK has no specific handling for.
    #[error("{message}")]
    Service {
        /// HTTP status.
        status: u16,
        /// The service's error code (`unknown` when absent).
        code: String,
        /// The service's message.
        message: String,
    },
    /// The platform's secure storage or key store failed (including an exception thrown by the
    /// app's [`crate::SecureStore`] or [`crate::DeviceSigner`]).
    #[error("{message}")]
    Platform {
        /// What failed and what to do.
        message: String,
    },
    /// A bug or an unexpected state in the SDK; please report it.
    #[error("{message}")]
    Internal {
        /// What happened.
        message: String,
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
}

impl AuthError {
    /// An invalid argument.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidInput {
            message: message.into(),
        }
    }
}

/// The one place that decides what apps see of a core error. The core's messages already say
/// what to do and hold no secrets; this picks the variant an app can branch on.
impl From<CoreError> for AuthError {
    fn from(e: CoreError) -> Self {
        let message = e.to_string();
        match e {
            CoreError::InvalidSdkKey
            | CoreError::InvalidConfig { .. }
            | CoreError::InvalidEnrollmentUri { .. }
            | CoreError::UnknownAccount { .. }
            | CoreError::PresenceAnswerRequired
            | CoreError::PresenceAnswerNotAmongOptions => Self::InvalidInput { message },
            CoreError::PairingRejected { .. } => Self::PairingRejected { message },
            CoreError::NotPaired => Self::NotPaired { message },
            CoreError::UnpairedLocallyOnly { .. } => Self::UnpairedLocallyOnly { message },
            CoreError::Network { .. } => Self::Network { message },
            CoreError::RateLimited {
                retry_after_seconds,
            } => Self::RateLimited {
                retry_after_seconds,
                message,
            },
            CoreError::UpdateRequired { message } => Self::UpdateRequired { message },
            CoreError::Expired => Self::RequestClosed {
                reason: ClosedReason::Expired,
                message,
            },
            CoreError::AlreadyAnswered => Self::RequestClosed {
                reason: ClosedReason::AlreadyAnswered,
                message,
            },
            CoreError::UnknownRequest { .. } => Self::RequestClosed {
                reason: ClosedReason::NotPending,
                message,
            },
            CoreError::InvalidPayload { .. } | CoreError::BadSignature => {
                Self::InvalidNotification { message }
            }
            CoreError::Service { status, code, .. } => Self::Service {
                status,
                code,
                message,
            },
            CoreError::Storage(_) | CoreError::Signer(_) => Self::Platform { message },
            _ => Self::Internal { message },
        }
    }
}

/// An exception thrown by Kotlin/Swift code implementing a callback trait (other than an
/// `AuthException`/`AuthError` it threw on purpose) becomes a platform error, never a panic.
impl From<uniffi::UnexpectedUniFFICallbackError> for AuthError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Platform {
            message: format!("the app's platform code failed: {}", e.reason),
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
        let e = AuthError::from(CoreError::RateLimited {
            retry_after_seconds: Some(9),
        });
        assert_eq!(
            e,
            AuthError::RateLimited {
                retry_after_seconds: Some(9),
                message: "too many attempts; try again in 9 seconds".into()
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
        let e = AuthError::from(CoreError::Storage(StoreError::backend("locked")));
        assert!(matches!(&e, AuthError::Platform { message } if message.contains("locked")));
    }
}
