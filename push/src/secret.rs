//! Secret types. Key material and tokens are `secrecy` types, as in the rest of the workspace
//! (redacted `Debug`, zeroized on drop, no `Serialize`). The one type of our own is [`Bearer`]:
//! a ready `authorization` header, kept as a `HeaderValue` because every request clones it
//! (reference counted) and `HeaderValue` cannot be zeroized; it is marked sensitive, its
//! `Debug` is redacted and it has no `Serialize`.

use std::fmt;

use reqwest::header::HeaderValue;
use zeroize::Zeroizing;

/// A bearer credential (APNs provider JWT, FCM OAuth2 access token) kept ready as an
/// `authorization` header value, marked sensitive so HTTP/2 HPACK never indexes it.
#[derive(Clone)]
pub(crate) struct Bearer(HeaderValue);

impl Bearer {
    /// `<scheme> <token>`; fails only if the token holds bytes a header cannot carry.
    pub(crate) fn new(scheme: &str, token: &str) -> Result<Self, String> {
        let text = Zeroizing::new(format!("{scheme} {token}"));
        let mut value = HeaderValue::from_str(&text)
            .map_err(|_| "the token contains bytes an HTTP header cannot carry".to_owned())?;
        value.set_sensitive(true);
        Ok(Self(value))
    }

    /// The header value (cheap: reference counted).
    pub(crate) fn header(&self) -> HeaderValue {
        self.0.clone()
    }
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer([redacted])")
    }
}

/// The first characters of a device token, enough to find it in logs, never the whole token.
pub(crate) fn token_prefix(token: &str) -> &str {
    let end = token.char_indices().nth(8).map_or(token.len(), |(i, _)| i);
    &token[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_debug_is_redacted_and_header_is_sensitive() {
        let bearer =
            Bearer::new("bearer", "eyJhbGciOiJFUzI1NiJ9.secret.sig").expect("valid header");
        assert_eq!(format!("{bearer:?}"), "Bearer([redacted])");
        assert!(bearer.header().is_sensitive());
        assert_eq!(
            bearer.header().to_str().expect("ascii"),
            "bearer eyJhbGciOiJFUzI1NiJ9.secret.sig"
        );
        assert!(Bearer::new("Bearer", "bad\nvalue").is_err());
    }

    #[test]
    fn token_prefix_is_short_and_char_safe() {
        assert_eq!(token_prefix("0123456789abcdef"), "01234567");
        assert_eq!(token_prefix("abc"), "abc");
        assert_eq!(token_prefix("ééééééééééé"), "éééééééé");
    }
}
