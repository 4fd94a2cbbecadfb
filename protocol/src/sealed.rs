//! Push payloads sealed to the device (docs/PROTOCOL.md §11 "Sealed payloads"), so that the
//! push provider (Apple, Google) sees an opaque account id and ciphertext instead of the user
//! name, IP, place and browser that the challenge carries.
//!
//! HPKE-like, one shot, no state: the service makes an ephemeral X25519 key per push, derives
//! a ChaCha20-Poly1305 key with HKDF-SHA256 from the shared secret, and encrypts the
//! challenge's three JWS parts (decoded, so the sealed form is no larger than the compact JWS).
//! The version byte and the account id are bound into the HKDF `info` and the AEAD's
//! associated data: a blob sealed for one account does not open as another's.
//!
//! Wire form: base64url (no padding) of
//! `version (1) || ephemeral public key (32) || nonce (12) || ciphertext || tag (16)`.
//!
//! Crypto: ring does the service side (ephemeral key agreement, HKDF, AEAD). ring cannot keep
//! an X25519 private key across calls (it only has single-use ephemeral keys), so the device's
//! static key agreement uses `x25519-dalek`; HKDF and the AEAD are ring on both sides.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::agreement;
use ring::hkdf;
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::{MAX_TOKEN_LEN, ProtocolError};

/// The sealed format's version: the first byte of every sealed blob.
pub const SEALED_VERSION: u8 = 1;
/// Length of an X25519 key, public or private.
pub const PUSH_KEY_LEN: usize = 32;
/// Member of the APNs `userInfo` / FCM data map that carries a sealed challenge.
pub const SEALED_PAYLOAD_KEY: &str = "tapprove_sealed";
/// Member naming the account a sealed payload is for (an opaque id: which key opens it).
pub const SEALED_ACCOUNT_KEY: &str = "account";

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + PUSH_KEY_LEN + NONCE_LEN;
/// HKDF `info` prefix; the version byte and the account id follow.
const INFO_LABEL: &[u8] = b"tapprove sealed push";
/// Largest plaintext: a packed challenge of at most [`MAX_TOKEN_LEN`] characters (decoding
/// shrinks it; 4 bytes of part lengths are added).
const MAX_PLAINTEXT: usize = MAX_TOKEN_LEN + 4;
/// Largest sealed string accepted, checked before decoding.
pub const MAX_SEALED_LEN: usize = (HEADER_LEN + MAX_PLAINTEXT + TAG_LEN).div_ceil(3) * 4;

/// The device's X25519 public key for sealed pushes: on the wire (`push_key` at pairing) as
/// base64url, no padding, of the 32 bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PushPublicKey([u8; PUSH_KEY_LEN]);

impl PushPublicKey {
    /// Parses 32 raw bytes, refusing the low-order points (with them the shared secret would
    /// be all zeros: anyone could read the payload).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let arr: [u8; PUSH_KEY_LEN] = bytes.try_into().map_err(|_| ProtocolError::InvalidKey)?;
        // Clamping clears the cofactor bits, so any fixed scalar exposes a low-order point:
        // its product is the identity (all zeros). Nothing secret is involved.
        let probe = x25519_dalek::StaticSecret::from([1u8; PUSH_KEY_LEN]);
        if !probe
            .diffie_hellman(&x25519_dalek::PublicKey::from(arr))
            .was_contributory()
        {
            return Err(ProtocolError::InvalidKey);
        }
        Ok(Self(arr))
    }

    /// Parses the base64url form used on the wire.
    pub fn from_base64url(s: &str) -> Result<Self, ProtocolError> {
        if s.len() > PUSH_KEY_LEN * 2 {
            return Err(ProtocolError::InvalidKey);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| ProtocolError::InvalidKey)?;
        Self::from_bytes(&bytes)
    }

    /// The base64url form used on the wire.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; PUSH_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for PushPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PushPublicKey({})", self.to_base64url())
    }
}

impl Serialize for PushPublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64url())
    }
}

impl<'de> Deserialize<'de> for PushPublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_base64url(&s).map_err(|_| {
            serde::de::Error::custom(
                "push_key must be the base64url of a 32-byte X25519 public key",
            )
        })
    }
}

/// The device's private X25519 key (and its public half, kept so that opening a push costs one
/// key agreement, not two): wiped on drop, `Debug` prints `[redacted]`, no `Display`, no serde.
/// Its bytes leave only through [`PushSecretKey::stored_bytes`] (to the secure store).
pub struct PushSecretKey {
    secret: x25519_dalek::StaticSecret,
    public: PushPublicKey,
}

impl PushSecretKey {
    /// A new random key.
    pub fn generate() -> Result<Self, ProtocolError> {
        let mut bytes = Zeroizing::new([0u8; PUSH_KEY_LEN]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| ProtocolError::Invalid("no randomness for a push key".into()))?;
        Ok(Self::from_secret(x25519_dalek::StaticSecret::from(*bytes)))
    }

    fn from_secret(secret: x25519_dalek::StaticSecret) -> Self {
        // The Montgomery ladder, not `PublicKey::from` (fixed-base Edwards arithmetic): the
        // result is the same (RFC 7748), and the phone library then links no Edwards code
        // (measured: 42 KB of its stripped size). Done once per key.
        let scalar = Zeroizing::new(secret.to_bytes());
        let public = PushPublicKey(x25519_dalek::x25519(
            *scalar,
            x25519_dalek::X25519_BASEPOINT_BYTES,
        ));
        Self { secret, public }
    }

    /// The key from [`PushSecretKey::stored_bytes`] (64 bytes: secret, then public), or from
    /// the 32 secret bytes alone (the public half is then computed).
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, ProtocolError> {
        let secret = bytes.get(..PUSH_KEY_LEN).ok_or(ProtocolError::InvalidKey)?;
        let secret: Zeroizing<[u8; PUSH_KEY_LEN]> =
            Zeroizing::new(secret.try_into().map_err(|_| ProtocolError::InvalidKey)?);
        let secret = x25519_dalek::StaticSecret::from(*secret);
        match bytes.len() {
            PUSH_KEY_LEN => Ok(Self::from_secret(secret)),
            // A wrong stored public half only makes pushes fail to open (it is in the HKDF
            // salt), never opens one that should not.
            n if n == 2 * PUSH_KEY_LEN => {
                let public: [u8; PUSH_KEY_LEN] = bytes[PUSH_KEY_LEN..]
                    .try_into()
                    .map_err(|_| ProtocolError::InvalidKey)?;
                Ok(Self {
                    secret,
                    public: PushPublicKey(public),
                })
            }
            _ => Err(ProtocolError::InvalidKey),
        }
    }

    /// The 32 secret bytes (the test vectors publish their test key this way). Named so that
    /// every use stands out.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; PUSH_KEY_LEN]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// What the secure store keeps: the secret, then the public half (64 bytes).
    pub fn stored_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(2 * PUSH_KEY_LEN));
        out.extend_from_slice(self.secret.as_bytes());
        out.extend_from_slice(self.public.as_bytes());
        out
    }

    /// The public half, sent at pairing.
    pub fn public_key(&self) -> PushPublicKey {
        self.public.clone()
    }
}

impl fmt::Debug for PushSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Seals the compact JWS `token` to `recipient` for `account_id`: the string the payload's
/// `tapprove_sealed` member carries. Service side.
pub fn seal(
    recipient: &PushPublicKey,
    account_id: &str,
    token: &str,
) -> Result<String, ProtocolError> {
    let mut plaintext = pack(token)?;
    let rng = SystemRandom::new();
    let no_random = |_| ProtocolError::Invalid("no randomness for sealing".into());
    let ephemeral =
        agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng).map_err(no_random)?;
    let ephemeral_public = ephemeral
        .compute_public_key()
        .map_err(|_| ProtocolError::InvalidKey)?;
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(no_random)?;
    let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, recipient.as_bytes());
    // ring refuses an all-zero shared secret (a low-order recipient key).
    let key = agreement::agree_ephemeral(ephemeral, &peer, |shared| {
        derive_key(
            shared,
            ephemeral_public.as_ref(),
            recipient.as_bytes(),
            account_id,
        )
    })
    .map_err(|_| ProtocolError::InvalidKey)??;
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad(account_id)),
        &mut plaintext,
    )
    .map_err(|_| ProtocolError::Invalid("the challenge is too large to seal".into()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len());
    out.push(SEALED_VERSION);
    out.extend_from_slice(ephemeral_public.as_ref());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&plaintext);
    Ok(URL_SAFE_NO_PAD.encode(out))
}

/// Opens a sealed string for `account_id` with the account's key: the compact JWS, to be
/// verified as usual. Device side, offline.
///
/// Errors: [`ProtocolError::Oversized`] / [`ProtocolError::Malformed`] (not a sealed blob),
/// [`ProtocolError::UnsupportedVersion`] (a newer format), [`ProtocolError::NotDecryptable`]
/// (another key or account, or altered in transit).
pub fn open(
    secret: &PushSecretKey,
    account_id: &str,
    sealed: &str,
) -> Result<String, ProtocolError> {
    if sealed.len() > MAX_SEALED_LEN {
        return Err(ProtocolError::Oversized {
            len: sealed.len(),
            max: MAX_SEALED_LEN,
        });
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(sealed)
        .map_err(|_| ProtocolError::Malformed("the sealed payload is not base64url".into()))?;
    let Some(&version) = bytes.first() else {
        return Err(ProtocolError::Malformed(
            "the sealed payload is empty".into(),
        ));
    };
    if version != SEALED_VERSION {
        return Err(ProtocolError::UnsupportedVersion(u32::from(version)));
    }
    if bytes.len() < HEADER_LEN + TAG_LEN {
        return Err(ProtocolError::Malformed(
            "the sealed payload is too short".into(),
        ));
    }
    let (header, body) = bytes.split_at(HEADER_LEN);
    let (ephemeral, nonce) = header[1..].split_at(PUSH_KEY_LEN);
    let ephemeral: [u8; PUSH_KEY_LEN] = ephemeral
        .try_into()
        .map_err(|_| ProtocolError::NotDecryptable)?;
    let nonce: [u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| ProtocolError::NotDecryptable)?;
    let shared = secret
        .secret
        .diffie_hellman(&x25519_dalek::PublicKey::from(ephemeral));
    if !shared.was_contributory() {
        return Err(ProtocolError::NotDecryptable);
    }
    let key = derive_key(
        shared.as_bytes(),
        &ephemeral,
        secret.public.as_bytes(),
        account_id,
    )?;
    let mut in_out = Zeroizing::new(body.to_vec());
    let plaintext = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(account_id)),
            &mut in_out,
        )
        .map_err(|_| ProtocolError::NotDecryptable)?;
    unpack(plaintext)
}

/// HKDF-SHA256: salt = ephemeral public || recipient public, IKM = the X25519 shared secret,
/// info = label || version || account id; 32 bytes for ChaCha20-Poly1305.
fn derive_key(
    shared: &[u8],
    ephemeral_public: &[u8],
    recipient_public: &[u8],
    account_id: &str,
) -> Result<LessSafeKey, ProtocolError> {
    let mut salt = [0u8; 2 * PUSH_KEY_LEN];
    salt[..PUSH_KEY_LEN].copy_from_slice(ephemeral_public);
    salt[PUSH_KEY_LEN..].copy_from_slice(recipient_public);
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(shared);
    let version = [SEALED_VERSION];
    let info = [INFO_LABEL, &version, account_id.as_bytes()];
    let okm = prk
        .expand(&info, &aead::CHACHA20_POLY1305)
        .map_err(|_| ProtocolError::NotDecryptable)?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

/// AEAD associated data: version || account id.
fn aad(account_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + account_id.len());
    aad.push(SEALED_VERSION);
    aad.extend_from_slice(account_id.as_bytes());
    aad
}

/// The plaintext: the JWS's decoded header and payload, each after its length (u16,
/// big-endian), then the raw signature. Decoding keeps a sealed challenge within the providers'
/// 4096 bytes even at [`MAX_TOKEN_LEN`].
fn pack(token: &str) -> Result<Vec<u8>, ProtocolError> {
    let (h, p, s) = crate::jws::split(token)?;
    let (h, p, s) = (
        crate::jws::b64(h, "header")?,
        crate::jws::b64(p, "payload")?,
        crate::jws::b64(s, "signature")?,
    );
    let mut out = Vec::with_capacity(4 + h.len() + p.len() + s.len());
    for part in [&h, &p] {
        let len = u16::try_from(part.len())
            .map_err(|_| ProtocolError::Malformed("a token part is too long".into()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part);
    }
    out.extend_from_slice(&s);
    Ok(out)
}

/// The compact JWS back from [`pack`]'s bytes (base64url without padding is canonical, so the
/// signing input is the service's, byte for byte).
fn unpack(bytes: &[u8]) -> Result<String, ProtocolError> {
    let malformed =
        || ProtocolError::Malformed("the sealed challenge is not a packed token".into());
    let mut rest = bytes;
    let mut parts = Vec::with_capacity(3);
    for _ in 0..2 {
        let (len, tail) = rest.split_at_checked(2).ok_or_else(malformed)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let (part, tail) = tail.split_at_checked(len).ok_or_else(malformed)?;
        parts.push(URL_SAFE_NO_PAD.encode(part));
        rest = tail;
    }
    parts.push(URL_SAFE_NO_PAD.encode(rest));
    Ok(parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJ2ZXIiOjF9.c2lnbmF0dXJlLWJ5dGVz";

    #[test]
    fn seals_and_opens_for_the_same_account_only() {
        let secret = PushSecretKey::generate().expect("key");
        let sealed = seal(&secret.public_key(), "acc_1", TOKEN).expect("seal");
        assert_eq!(open(&secret, "acc_1", &sealed).expect("open"), TOKEN);
        assert_eq!(
            open(&secret, "acc_2", &sealed),
            Err(ProtocolError::NotDecryptable)
        );
        let other = PushSecretKey::generate().expect("key");
        assert_eq!(
            open(&other, "acc_1", &sealed),
            Err(ProtocolError::NotDecryptable)
        );
        // Fresh ephemeral key and nonce every time.
        assert_ne!(
            sealed,
            seal(&secret.public_key(), "acc_1", TOKEN).expect("seal")
        );
    }

    #[test]
    fn every_altered_byte_is_refused() {
        let secret = PushSecretKey::generate().expect("key");
        let sealed = seal(&secret.public_key(), "acc_1", TOKEN).expect("seal");
        let bytes = URL_SAFE_NO_PAD.decode(&sealed).expect("b64");
        for i in 0..bytes.len() {
            let mut altered = bytes.clone();
            altered[i] ^= 0x01;
            let result = open(&secret, "acc_1", &URL_SAFE_NO_PAD.encode(&altered));
            let expected = if i == 0 {
                ProtocolError::UnsupportedVersion(u32::from(SEALED_VERSION ^ 1))
            } else {
                ProtocolError::NotDecryptable
            };
            assert_eq!(result, Err(expected), "byte {i}");
        }
        for broken in ["", "!!", "AQ", &sealed[..sealed.len() - 30]] {
            assert!(open(&secret, "acc_1", broken).is_err(), "{broken}");
        }
    }

    #[test]
    fn the_largest_challenge_fits_a_push_payload() {
        let part = |n: usize| URL_SAFE_NO_PAD.encode(vec![0xa5u8; n]);
        let token = format!("{}.{}.{}", part(75), part(2160), part(64));
        assert!(token.len() <= MAX_TOKEN_LEN);
        let secret = PushSecretKey::generate().expect("key");
        let sealed = seal(&secret.public_key(), "acc_1", &token).expect("seal");
        assert!(sealed.len() <= MAX_SEALED_LEN);
        // Leaves room in 4096 bytes for the generic alert and the JSON around it.
        assert!(sealed.len() < 3300, "{}", sealed.len());
        assert_eq!(open(&secret, "acc_1", &sealed).expect("open"), token);
    }

    #[test]
    fn keys_are_checked_and_secrets_redacted() {
        let secret = PushSecretKey::generate().expect("key");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        let public = secret.public_key();
        let again = PushSecretKey::from_secret_bytes(secret.secret_bytes().as_ref()).expect("key");
        assert_eq!(again.public_key(), public);
        let stored = PushSecretKey::from_secret_bytes(&secret.stored_bytes()).expect("key");
        assert_eq!(stored.public_key(), public);
        assert_eq!(*stored.secret_bytes(), *secret.secret_bytes());
        for len in [0, 31, 33, 63, 65] {
            assert!(
                PushSecretKey::from_secret_bytes(&vec![7u8; len]).is_err(),
                "{len}"
            );
        }
        assert_eq!(
            PushPublicKey::from_base64url(&public.to_base64url()).expect("parse"),
            public
        );
        // Low-order points (all zeros, one) and wrong lengths are refused.
        for bad in [
            [0u8; 32].to_vec(),
            {
                let mut one = vec![0u8; 32];
                one[0] = 1;
                one
            },
            vec![9u8; 31],
        ] {
            assert_eq!(
                PushPublicKey::from_bytes(&bad),
                Err(ProtocolError::InvalidKey)
            );
        }
        assert!(PushPublicKey::from_base64url("not a key").is_err());
    }
}
