//! RFC 8291 message encryption for Web Push: `aes128gcm` (RFC 8188), one record.
//!
//! Written on ring (ECDH P-256, HKDF-SHA256, AES-128-GCM), which the crate already uses for
//! TLS and the provider JWTs: no second crypto library in the service for ~80 lines of key
//! schedule. The ephemeral key comes from the `SecureRandom` given (the system's in
//! production; a fixed one in the RFC 8291 Appendix A test) and the salt is passed in.

use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::agreement::{self, ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey};
use ring::hkdf::{self, HKDF_SHA256, KeyType, Salt};
use ring::rand::SecureRandom;

/// Length of an uncompressed P-256 public key (`p256dh`).
pub(crate) const PUBLIC_KEY_LEN: usize = 65;
/// Length of the subscription's authentication secret (`auth`).
pub(crate) const AUTH_LEN: usize = 16;
/// Length of the per-message salt.
pub(crate) const SALT_LEN: usize = 16;
/// The record size written in the header: one record always holds a whole push message.
const RECORD_SIZE: u32 = 4096;
/// What encryption adds to the plaintext: header (salt, rs, idlen, key id), delimiter, tag.
pub(crate) const OVERHEAD: usize = SALT_LEN + 4 + 1 + PUBLIC_KEY_LEN + 1 + 16;

/// Why a message could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EceError {
    /// The subscription's `p256dh` is not a point on P-256.
    #[error("the subscription's p256dh key is not a P-256 public key")]
    BadPublicKey,
    /// The plaintext does not fit one record.
    #[error("the message is too large for one Web Push record")]
    TooLarge,
    /// The random source or a primitive failed.
    #[error("Web Push encryption failed")]
    Crypto,
}

/// A length for ring's HKDF expand.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand<const N: usize>(prk: &hkdf::Prk, info: &[&[u8]]) -> Result<[u8; N], EceError> {
    let mut out = [0u8; N];
    prk.expand(info, Len(N))
        .and_then(|okm| okm.fill(&mut out))
        .map_err(|_| EceError::Crypto)?;
    Ok(out)
}

/// Encrypts `plaintext` for the subscription (`ua_public` = `p256dh`, `auth`): the whole
/// `aes128gcm` body, header included. The ephemeral key is drawn from `rng`.
pub(crate) fn encrypt(
    plaintext: &[u8],
    ua_public: &[u8; PUBLIC_KEY_LEN],
    auth: &[u8; AUTH_LEN],
    salt: &[u8; SALT_LEN],
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, EceError> {
    if plaintext.len() + 1 + 16 > RECORD_SIZE as usize {
        return Err(EceError::TooLarge);
    }
    let private = EphemeralPrivateKey::generate(&ECDH_P256, rng).map_err(|_| EceError::Crypto)?;
    let as_public = private.compute_public_key().map_err(|_| EceError::Crypto)?;
    let as_public = as_public.as_ref();
    let peer = UnparsedPublicKey::new(&ECDH_P256, ua_public);
    // RFC 8291 §3.3-3.4: the shared secret, bound to the auth secret and both public keys.
    let ikm = agreement::agree_ephemeral(private, &peer, |ecdh_secret| {
        let prk_key = Salt::new(HKDF_SHA256, auth).extract(ecdh_secret);
        expand::<32>(
            &prk_key,
            &[b"WebPush: info\0", ua_public.as_slice(), as_public],
        )
    })
    .map_err(|_| EceError::BadPublicKey)??;
    // RFC 8188 §2.2-2.3: content-encryption key and nonce from the salt.
    let prk = Salt::new(HKDF_SHA256, salt).extract(&ikm);
    let cek = expand::<16>(&prk, &[b"Content-Encoding: aes128gcm\0"])?;
    let nonce = expand::<12>(&prk, &[b"Content-Encoding: nonce\0"])?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).map_err(|_| EceError::Crypto)?);

    let mut body = Vec::with_capacity(plaintext.len() + OVERHEAD);
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(PUBLIC_KEY_LEN as u8);
    body.extend_from_slice(as_public);
    let header_len = body.len();
    body.extend_from_slice(plaintext);
    // The last (and only) record's delimiter; no padding.
    body.push(2);
    let mut record = body.split_off(header_len);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::empty(),
        &mut record,
    )
    .map_err(|_| EceError::Crypto)?;
    body.extend_from_slice(&record);
    Ok(body)
}

/// Whether `key` is a P-256 public key ECDH accepts (checked at registration, so a device
/// learns at once that its subscription is unusable).
pub(crate) fn is_valid_public_key(key: &[u8; PUBLIC_KEY_LEN], rng: &dyn SecureRandom) -> bool {
    let Ok(private) = EphemeralPrivateKey::generate(&ECDH_P256, rng) else {
        return false;
    };
    agreement::agree_ephemeral(private, &UnparsedPublicKey::new(&ECDH_P256, key), |_| ()).is_ok()
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(s).expect("base64url")
    }

    /// RFC 8291 Appendix A, every value as printed there.
    #[test]
    #[allow(deprecated)] // ring's fixed-output random source: the only way to fix its ECDH key.
    fn rfc8291_appendix_a_vector() {
        let plaintext = b"When I grow up, I want to be a watermelon";
        let as_private = b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw");
        let ua_public: [u8; 65] =
            b64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4")
                .try_into()
                .expect("65 bytes");
        let auth: [u8; 16] = b64("BTBZMqHH6r4Tts7J_aSIgg").try_into().expect("16");
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().expect("16");
        let rng = ring::test::rand::FixedSliceRandom { bytes: &as_private };
        let body = encrypt(plaintext, &ua_public, &auth, &salt, &rng).expect("encrypt");
        assert_eq!(
            URL_SAFE_NO_PAD.encode(&body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
        assert_eq!(body.len(), plaintext.len() + OVERHEAD);
    }

    #[test]
    fn bad_keys_and_oversized_messages_are_refused() {
        let rng = ring::rand::SystemRandom::new();
        let mut not_a_point = [0u8; 65];
        not_a_point[0] = 4;
        not_a_point[1] = 1;
        assert!(!is_valid_public_key(&not_a_point, &rng));
        assert_eq!(
            encrypt(b"x", &not_a_point, &[0; 16], &[0; 16], &rng),
            Err(EceError::BadPublicKey)
        );
        let ua = ring::agreement::EphemeralPrivateKey::generate(&ECDH_P256, &rng)
            .and_then(|k| k.compute_public_key())
            .expect("key");
        let ua: [u8; 65] = ua.as_ref().try_into().expect("65");
        assert!(is_valid_public_key(&ua, &rng));
        assert_eq!(
            encrypt(&[0; 4096], &ua, &[0; 16], &[0; 16], &rng),
            Err(EceError::TooLarge)
        );
    }
}
