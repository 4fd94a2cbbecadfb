use thiserror::Error;

/// Why a token or wire value was refused. Each variant maps to a stable `code()` used by the
/// shared test vectors, so every implementation (Rust, Kotlin, Swift) can be checked alike.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// The token is larger than [`crate::MAX_TOKEN_LEN`].
    #[error("token is {len} bytes, larger than the {max}-byte limit")]
    Oversized {
        /// Actual length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Not a well-formed compact JWS, or its JSON does not match the schema.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header names an algorithm or type this protocol does not accept.
    #[error("unsupported token header: {0}")]
    UnsupportedHeader(String),
    /// The signature does not verify with the expected key.
    #[error("signature does not verify")]
    BadSignature,
    /// The payload speaks a protocol version this build does not know.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u32),
    /// Past its expiry (beyond the allowed clock skew).
    #[error("expired")]
    Expired,
    /// Issued in the future (beyond the allowed clock skew).
    #[error("issued in the future")]
    NotYetValid,
    /// The values are well-formed JSON but break a protocol rule (e.g. choose mode without
    /// exactly three distinct options).
    #[error("invalid value: {0}")]
    Invalid(String),
    /// A public key is not a valid uncompressed P-256 point.
    #[error("invalid public key")]
    InvalidKey,
    /// A sealed push payload does not decrypt with this account's key: sealed to another key
    /// or account, or altered on the way.
    #[error("the sealed payload does not decrypt with this account's push key")]
    NotDecryptable,
}

impl ProtocolError {
    /// Stable snake_case code, as used in `tests/vectors/*.json`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Oversized { .. } => "oversized",
            Self::Malformed(_) => "malformed",
            Self::UnsupportedHeader(_) => "unsupported_header",
            Self::BadSignature => "bad_signature",
            Self::UnsupportedVersion(_) => "unsupported_version",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Invalid(_) => "invalid",
            Self::InvalidKey => "invalid_key",
            Self::NotDecryptable => "not_decryptable",
        }
    }
}
