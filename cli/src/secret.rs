//! A string secret: zeroized on drop, redacted in `Debug`, compared in constant time.

use zeroize::Zeroizing;

/// A secret string (API key, webhook password or signing secret, pairing code).
///
/// `Debug` prints `[redacted]`; there is no `Display`. Read it with [`Secret::expose`] only where
/// it is sent or compared.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret value itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time equality with `other` (the length is not hidden).
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        tapprove_protocol::webhook::ct_eq(self.0.as_bytes(), other)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_compare_works() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert!(s.ct_eq(b"hunter2"));
        assert!(!s.ct_eq(b"hunter3"));
        assert!(!s.ct_eq(b"hunter"));
    }
}
