//! The two provider JWTs, signed with ring: ES256 for the APNs provider token (same compact JWS
//! construction as `tapprove_protocol::jws`, with Apple's header) and RS256 for the Google
//! service-account assertion.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use secrecy::SecretString;
use serde::Serialize;
use tapprove_protocol::{Es256Signer, SoftwareKey};
use zeroize::Zeroizing;

/// APNs provider-token header: exactly `{"alg":"ES256","kid":"<10-char key id>"}`.
#[derive(Serialize)]
struct ApnsHeader<'a> {
    alg: &'static str,
    kid: &'a str,
}

/// APNs provider-token claims.
#[derive(Serialize)]
pub(crate) struct ApnsClaims<'a> {
    /// Team id.
    pub iss: &'a str,
    /// Issued at, Unix seconds.
    pub iat: i64,
}

/// Google service-account JWT header.
#[derive(Serialize)]
struct GoogleHeader<'a> {
    alg: &'static str,
    typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
}

/// Google service-account assertion claims (OAuth2 JWT bearer grant, RFC 7523).
#[derive(Serialize)]
pub(crate) struct GoogleClaims<'a> {
    /// The service account's `client_email`.
    pub iss: &'a str,
    /// Space-separated scopes.
    pub scope: &'a str,
    /// The token endpoint.
    pub aud: &'a str,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expiry, Unix seconds (at most `iat + 3600`).
    pub exp: i64,
}

fn b64_json<T: Serialize>(value: &T) -> Result<String, String> {
    let bytes =
        serde_json::to_vec(value).map_err(|e| format!("could not serialise JWT part: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Signs an APNs provider token with the `.p8` key.
pub(crate) fn apns_provider_token(
    key_id: &str,
    claims: &ApnsClaims<'_>,
    key: &SoftwareKey,
) -> Result<SecretString, String> {
    let header = ApnsHeader {
        alg: "ES256",
        kid: key_id,
    };
    let mut token = Zeroizing::new(format!("{}.{}", b64_json(&header)?, b64_json(claims)?));
    let signature = key.sign(token.as_bytes()).map_err(|e| e.to_string())?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    // Moved out, not copied: the builder's buffer is left empty.
    Ok(SecretString::from(std::mem::take(&mut *token)))
}

/// Signs a Google service-account assertion (RS256, RSASSA-PKCS1-v1_5 with SHA-256).
pub(crate) fn google_assertion(
    private_key_id: Option<&str>,
    claims: &GoogleClaims<'_>,
    key: &RsaKeyPair,
) -> Result<SecretString, String> {
    let header = GoogleHeader {
        alg: "RS256",
        typ: "JWT",
        kid: private_key_id,
    };
    let mut token = Zeroizing::new(format!("{}.{}", b64_json(&header)?, b64_json(claims)?));
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        token.as_bytes(),
        &mut signature,
    )
    .map_err(|_| "ring refused to sign the service-account assertion".to_owned())?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    // Moved out, not copied: the builder's buffer is left empty.
    Ok(SecretString::from(std::mem::take(&mut *token)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    fn part(token: &str, i: usize) -> serde_json::Value {
        let p = token.split('.').nth(i).expect("part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).expect("b64")).expect("json")
    }

    #[test]
    fn apns_token_has_apples_exact_header_and_verifies() {
        let key = SoftwareKey::generate().expect("key");
        let token = apns_provider_token(
            "ABCDE12345",
            &ApnsClaims {
                iss: "TEAM123456",
                iat: 1_800_000_000,
            },
            &key,
        )
        .expect("sign");
        // Held as a secret: its Debug shows nothing of it.
        assert!(!format!("{token:?}").contains("eyJ"), "{token:?}");
        let token = token.expose_secret();
        assert_eq!(
            part(token, 0),
            serde_json::json!({"alg": "ES256", "kid": "ABCDE12345"})
        );
        assert_eq!(
            part(token, 1),
            serde_json::json!({"iss": "TEAM123456", "iat": 1_800_000_000})
        );
        let (input, sig) = token.rsplit_once('.').expect("three parts");
        let sig = URL_SAFE_NO_PAD.decode(sig).expect("b64");
        key.public_key()
            .verify(input.as_bytes(), &sig)
            .expect("signature verifies");
    }
}
