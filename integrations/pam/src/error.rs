//! Why a login was not let through. Every variant fails the login (the module fails closed).

use std::path::PathBuf;

use pam::constants::PamResultCode;
use tapprove_rp::{RpError, SessionReason, SessionStatus};

/// A failed `auth` call; `Display` is the log line's text (never the API key nor a code).
#[derive(Debug, thiserror::Error)]
pub enum PamError {
    /// A word on the module's line in /etc/pam.d is not understood.
    #[error("{0}")]
    Argument(String),
    /// The module's line has no `config=FILE`.
    #[error("no config=FILE on the module's line in /etc/pam.d")]
    NoConfig,
    /// The configuration file is missing, unsafe or wrong.
    #[error("configuration {}: {why}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The API key file is missing, unsafe or empty.
    #[error("API key file {}: {why}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// PAM could not tell the user name or talk to the user.
    #[error("PAM {what} failed (PAM error {code})")]
    Pam {
        /// The call.
        what: &'static str,
        /// Its result, as PAM numbers it.
        code: i32,
    },
    /// The service could not be asked, or refused the call.
    #[error("{0}")]
    Service(#[from] RpError),
    /// The phone refused, or the session ended without an approval.
    #[error("not approved: the session ended {} ({})", status_name(.status), reason_name(.reason))]
    Refused {
        /// Its final status.
        status: SessionStatus,
        /// Why, as the service says.
        reason: Option<SessionReason>,
    },
    /// The user typed nothing at the code prompt.
    #[error("no code was typed")]
    NoCode,
    /// Nobody answered before `timeout_seconds`.
    #[error("no answer within {0} s")]
    TimedOut(u64),
    /// The module could not start its runtime.
    #[error("cannot start: {0}")]
    Runtime(String),
    /// A bug: the module panicked (the login is refused).
    #[error("internal error (panic): {0}")]
    Panic(String),
}

fn status_name(status: &SessionStatus) -> &'static str {
    status.as_str()
}

fn reason_name(reason: &Option<SessionReason>) -> &'static str {
    reason.as_ref().map_or("no reason given", |r| r.as_str())
}

impl PamError {
    /// What PAM is told. Never `PAM_SUCCESS` (nor `PAM_IGNORE`): every error fails the login
    /// under `required`/`requisite`.
    pub fn code(&self) -> PamResultCode {
        match self {
            Self::Refused { .. } | Self::TimedOut(_) | Self::NoCode => PamResultCode::PAM_AUTH_ERR,
            Self::Service(_) => PamResultCode::PAM_AUTHINFO_UNAVAIL,
            Self::Pam { code, .. } => match PamResultCode::try_from(*code) {
                Ok(PamResultCode::PAM_SUCCESS | PamResultCode::PAM_IGNORE) | Err(_) => {
                    PamResultCode::PAM_AUTH_ERR
                }
                Ok(other) => other,
            },
            Self::Argument(_)
            | Self::NoConfig
            | Self::Config { .. }
            | Self::KeyFile { .. }
            | Self::Runtime(_)
            | Self::Panic(_) => PamResultCode::PAM_SERVICE_ERR,
        }
    }

    /// What the user is told at the terminal (short; the details are in the log).
    pub fn user_message(&self) -> &'static str {
        match self {
            Self::Refused {
                reason: Some(SessionReason::WrongNumber),
                ..
            } => "Tapprove: wrong code.",
            Self::Refused { .. } => "Tapprove: the login was not approved.",
            Self::NoCode => "Tapprove: no code entered.",
            Self::TimedOut(_) => "Tapprove: no answer from your phone in time.",
            Self::Service(e) if e.code() == Some(tapprove_rp::ErrorCode::NoDevice) => {
                "Tapprove: no phone is paired for this user."
            }
            Self::Service(e) if e.code() == Some(tapprove_rp::ErrorCode::Locked) => {
                "Tapprove: logins for this user are locked; contact your administrator."
            }
            _ => "Tapprove is unavailable; the login is refused.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_with_wire_names() {
        let e = PamError::Refused {
            status: SessionStatus::Rejected,
            reason: Some(SessionReason::WrongNumber),
        };
        assert_eq!(
            e.to_string(),
            "not approved: the session ended rejected (wrong_number)"
        );
        assert_eq!(e.user_message(), "Tapprove: wrong code.");
    }

    #[test]
    fn no_error_lets_a_login_through() {
        let all = [
            PamError::Argument("x".into()),
            PamError::NoConfig,
            PamError::Service(RpError::Transport("refused".into())),
            PamError::Refused {
                status: SessionStatus::Rejected,
                reason: None,
            },
            PamError::TimedOut(5),
            PamError::NoCode,
            PamError::Pam {
                what: "conversation",
                code: PamResultCode::PAM_SUCCESS as i32,
            },
            PamError::Pam {
                what: "conversation",
                code: PamResultCode::PAM_IGNORE as i32,
            },
            PamError::Panic("boom".into()),
        ];
        for e in all {
            let code = e.code();
            assert!(
                code != PamResultCode::PAM_SUCCESS && code != PamResultCode::PAM_IGNORE,
                "{e}: {code:?}"
            );
        }
    }
}
