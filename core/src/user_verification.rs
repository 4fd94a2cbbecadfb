//! User verification before an approval is signed (docs/CORE.md "User verification"): the app
//! implements [`UserVerifier`] with the platform's biometrics / device credential prompt (or the
//! terminal authenticator with its passphrase); the core asks it when the request's policy says
//! so and puts only the method class in the signed answer (`uv`).

use tapprove_protocol::{UserVerification, UvMethod};

use crate::error::CoreError;

/// What a [`UserVerifier`] reports. Nothing secret: no biometric data, no passphrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// The user proved they are the device's owner, with this class of method.
    Verified(UvMethod),
    /// The user dismissed the prompt: nothing is sent, the request stays open.
    Cancelled,
    /// The device cannot verify its user (no screen lock, no enrolled biometrics, no passphrase).
    Unavailable,
    /// Verification failed (wrong passphrase too often, a platform error): nothing is sent.
    Failed {
        /// What happened, for the user.
        message: String,
    },
}

/// The app's user-verification prompt. Called on a background thread of the core (never
/// while the core holds a lock), once per approval that needs it; it may block until the user
/// answers.
pub trait UserVerifier: Send + Sync {
    /// Asks the user to confirm it is them; `reason` is a sentence to show in the prompt (e.g.
    /// "Approve signing in to Demo Bank as alice").
    fn verify(&self, reason: &str) -> VerifyOutcome;
}

/// Runs the policy: the method to put in the answer's `uv`, or why the approval cannot go on.
/// `Required` needs a verifier that verifies; `Preferred` asks a verifier if there is one and
/// goes on without `uv` when the device cannot verify; no policy asks nothing.
pub(crate) fn verify_for(
    policy: Option<UserVerification>,
    verifier: Option<&dyn UserVerifier>,
    reason: &str,
) -> Result<Option<UvMethod>, CoreError> {
    let Some(policy) = policy else {
        return Ok(None);
    };
    let outcome = match verifier {
        Some(v) => v.verify(reason),
        None => VerifyOutcome::Unavailable,
    };
    match (outcome, policy) {
        (VerifyOutcome::Verified(method), _) => Ok(Some(method)),
        (VerifyOutcome::Cancelled, _) => Err(CoreError::UserVerificationCancelled),
        (VerifyOutcome::Failed { message }, _) => {
            Err(CoreError::UserVerificationFailed { message })
        }
        (VerifyOutcome::Unavailable, UserVerification::Preferred) => Ok(None),
        (VerifyOutcome::Unavailable, UserVerification::Required) => {
            Err(CoreError::UserVerificationUnavailable)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(VerifyOutcome);
    impl UserVerifier for Fixed {
        fn verify(&self, _reason: &str) -> VerifyOutcome {
            self.0.clone()
        }
    }

    #[test]
    fn policy_decides_what_each_outcome_means() {
        use UserVerification::{Preferred, Required};
        let bio = Fixed(VerifyOutcome::Verified(UvMethod::Biometric));
        let unavailable = Fixed(VerifyOutcome::Unavailable);
        let cancelled = Fixed(VerifyOutcome::Cancelled);
        assert_eq!(verify_for(None, Some(&cancelled), "r").ok(), Some(None));
        for policy in [Required, Preferred] {
            assert_eq!(
                verify_for(Some(policy), Some(&bio), "r").ok(),
                Some(Some(UvMethod::Biometric))
            );
            assert!(matches!(
                verify_for(Some(policy), Some(&cancelled), "r"),
                Err(CoreError::UserVerificationCancelled)
            ));
        }
        assert_eq!(verify_for(Some(Preferred), None, "r").ok(), Some(None));
        assert_eq!(
            verify_for(Some(Preferred), Some(&unavailable), "r").ok(),
            Some(None)
        );
        assert!(matches!(
            verify_for(Some(Required), None, "r"),
            Err(CoreError::UserVerificationUnavailable)
        ));
        assert!(matches!(
            verify_for(Some(Required), Some(&unavailable), "r"),
            Err(CoreError::UserVerificationUnavailable)
        ));
        let failed = Fixed(VerifyOutcome::Failed {
            message: "wrong passphrase".into(),
        });
        assert!(matches!(
            verify_for(Some(Required), Some(&failed), "r"),
            Err(CoreError::UserVerificationFailed { message }) if message == "wrong passphrase"
        ));
    }
}
