//! P-256 keys: public keys on the wire, and signing behind a trait so a private key can live in
//! hardware (Secure Enclave, StrongBox) and never be seen by Rust.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::ProtocolError;

/// Length of an uncompressed SEC1 P-256 point (`0x04 || X || Y`).
pub const PUBLIC_KEY_LEN: usize = 65;
/// Length of a raw ES256 signature (`r || s`).
pub const SIGNATURE_LEN: usize = 64;

/// A P-256 public key, on the wire as base64url (no padding) of the 65-byte uncompressed point.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; PUBLIC_KEY_LEN]);

impl PublicKey {
    /// Parses an uncompressed SEC1 point and checks it is on the curve.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let arr: [u8; PUBLIC_KEY_LEN] = bytes.try_into().map_err(|_| ProtocolError::InvalidKey)?;
        if arr[0] != 0x04 {
            return Err(ProtocolError::InvalidKey);
        }
        if !is_on_curve(&arr) {
            return Err(ProtocolError::InvalidKey);
        }
        Ok(Self(arr))
    }

    /// Parses the base64url form used on the wire.
    pub fn from_base64url(s: &str) -> Result<Self, ProtocolError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| ProtocolError::InvalidKey)?;
        Self::from_sec1(&bytes)
    }

    /// The base64url form used on the wire.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The 65 raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A short, stable identifier (first 16 base64url chars of SHA-256 of the point), used as
    /// the JWS `kid` of service keys.
    pub fn key_id(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.0);
        URL_SAFE_NO_PAD.encode(digest.as_ref())[..16].to_owned()
    }

    /// Verifies a raw 64-byte ES256 signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), ProtocolError> {
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &self.0)
            .verify(message, signature)
            .map_err(|_| ProtocolError::BadSignature)
    }
}

/// ring has no public "is this point valid" call; an ECDH agreement validates the peer point
/// fully (on the curve, not the identity), so we use one with a throwaway key.
fn is_on_curve(point: &[u8; PUBLIC_KEY_LEN]) -> bool {
    let rng = SystemRandom::new();
    let Ok(mine) =
        ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::ECDH_P256, &rng)
    else {
        return false;
    };
    let peer = ring::agreement::UnparsedPublicKey::new(&ring::agreement::ECDH_P256, point);
    ring::agreement::agree_ephemeral(mine, &peer, |_| ()).is_ok()
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64url())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_base64url(&s).map_err(serde::de::Error::custom)
    }
}

/// Signing failed (hardware key gone, user cancelled, platform error).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("signing failed: {0}")]
pub struct SignError(pub String);

/// Something that holds a P-256 private key and signs with it. The key itself never leaves the
/// implementation: a platform can back this with the Secure Enclave or Android Keystore.
pub trait Es256Signer: Send + Sync {
    /// The public half.
    fn public_key(&self) -> PublicKey;
    /// A raw 64-byte `r || s` ES256 signature over `message`.
    fn sign(&self, message: &[u8]) -> Result<[u8; SIGNATURE_LEN], SignError>;
}

/// A software P-256 key (ring). Used by the service for its signing key, by the terminal
/// authenticator, and by tests. Debug never prints the key.
pub struct SoftwareKey {
    pair: EcdsaKeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
    rng: SystemRandom,
}

impl SoftwareKey {
    /// Generates a fresh key from the OS CSPRNG.
    pub fn generate() -> Result<Self, SignError> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| SignError("could not generate a P-256 key".into()))?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// Loads a key from PKCS#8 DER (as produced by [`SoftwareKey::secret_pkcs8_der`]).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, SignError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| SignError(format!("stored key is not a P-256 PKCS#8 key: {e}")))?;
        Ok(Self {
            pair,
            pkcs8: Zeroizing::new(der.to_vec()),
            rng,
        })
    }

    /// The secret PKCS#8 DER, for putting into a secure store. Named so every use stands out.
    pub fn secret_pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }
}

impl fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SoftwareKey({:?}, [secret key elided])",
            self.public_key()
        )
    }
}

impl Es256Signer for SoftwareKey {
    fn public_key(&self) -> PublicKey {
        let mut arr = [0u8; PUBLIC_KEY_LEN];
        arr.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey(arr)
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; SIGNATURE_LEN], SignError> {
        let sig = self
            .pair
            .sign(&self.rng, message)
            .map_err(|_| SignError("ring refused to sign".into()))?;
        sig.as_ref()
            .try_into()
            .map_err(|_| SignError("unexpected signature length".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_debug_is_redacted() {
        let key = SoftwareKey::generate().expect("generate");
        let sig = key.sign(b"hello").expect("sign");
        key.public_key().verify(b"hello", &sig).expect("verify");
        assert_eq!(
            key.public_key().verify(b"hellO", &sig),
            Err(ProtocolError::BadSignature)
        );
        let dbg = format!("{key:?}");
        assert!(dbg.contains("elided"));
        let reloaded = SoftwareKey::from_pkcs8(key.secret_pkcs8_der()).expect("reload");
        assert_eq!(reloaded.public_key(), key.public_key());
    }

    #[test]
    fn rejects_points_off_the_curve() {
        let mut bad = [7u8; PUBLIC_KEY_LEN];
        bad[0] = 4;
        assert_eq!(PublicKey::from_sec1(&bad), Err(ProtocolError::InvalidKey));
        assert_eq!(
            PublicKey::from_sec1(&[4u8; 10]),
            Err(ProtocolError::InvalidKey)
        );
        let good = SoftwareKey::generate().expect("generate").public_key();
        let parsed = PublicKey::from_base64url(&good.to_base64url()).expect("parse");
        assert_eq!(parsed, good);
    }
}
