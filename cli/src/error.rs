//! The one error type of the binary. `main` prints it as one line: what went wrong and what to
//! do (every wrapped error's `Display` already says both).

use std::path::PathBuf;

/// Any failure of a `tapprove` command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The service or an admin operation failed.
    #[error(transparent)]
    Service(#[from] tapprove_server::ServiceError),
    /// The device core failed.
    #[error(transparent)]
    Core(#[from] tapprove_core::CoreError),
    /// The device store failed.
    #[error(transparent)]
    Store(#[from] tapprove_core::StoreError),
    /// The demo website failed.
    #[error(transparent)]
    Site(#[from] crate::demo::site::SiteError),
    /// A file or directory could not be used.
    #[error("cannot {action} {}: {source}; {hint}", path.display())]
    Io {
        /// What was attempted ("create", "read", …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
        /// What to do.
        hint: &'static str,
    },
    /// The arguments do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// Something else, already phrased for the user.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// An I/O error on `path`.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
        hint: &'static str,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
            hint,
        }
    }

    /// The process exit code: 2 for usage errors, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            _ => 1,
        }
    }
}
