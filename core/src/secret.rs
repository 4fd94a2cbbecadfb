//! Secret bytes: zeroized on drop, never printed.

use std::fmt;

use zeroize::Zeroizing;

/// Bytes that must not leak: wiped from memory on drop, `Debug` prints `[redacted]`, no
/// `Display`, no `PartialEq` (compare with [`SecretBytes::ct_eq`], which is constant time).
#[derive(Clone, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes` (they are wiped when this value is dropped).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The secret bytes. Named so that every use stands out in review.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &Self) -> bool {
        let (a, b) = (self.expose_secret(), other.expose_secret());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_eq_is_by_value() {
        let s = SecretBytes::from_slice(b"hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some([redacted])");
        assert!(s.ct_eq(&SecretBytes::new(b"hunter2".to_vec())));
        assert!(!s.ct_eq(&SecretBytes::new(b"hunter3".to_vec())));
        assert!(!s.ct_eq(&SecretBytes::new(b"hunter".to_vec())));
        assert_eq!(s.len(), 7);
        assert!(!s.is_empty());
    }
}
