//! `sealed::open`: the sealed push payload a phone decrypts offline. Mode 0
//! opens arbitrary input; mode 1 seals the input (a JWS-shaped token) and checks that only the
//! right key and account open it, to exactly the token, and that any altered byte is refused.
#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use tapprove_fuzz::{ACCOUNT_ID, mode};
use tapprove_protocol::ProtocolError;
use tapprove_protocol::sealed::{self, PushSecretKey};

static KEY: LazyLock<PushSecretKey> =
    LazyLock::new(|| PushSecretKey::from_secret_bytes(&[0x42; 32]).expect("key"));
static OTHER: LazyLock<PushSecretKey> =
    LazyLock::new(|| PushSecretKey::from_secret_bytes(&[0x17; 32]).expect("key"));

fuzz_target!(|data: &[u8]| {
    let Some((seal_first, rest)) = mode(data) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if !seal_first {
        // Whatever arrives in a push: refused or opened, never a panic.
        let _ = sealed::open(&KEY, ACCOUNT_ID, text);
        return;
    }
    let Ok(blob) = sealed::seal(&KEY.public_key(), ACCOUNT_ID, text) else {
        return;
    };
    assert_eq!(
        sealed::open(&KEY, ACCOUNT_ID, &blob).ok().as_deref(),
        Some(text)
    );
    assert!(matches!(
        sealed::open(&OTHER, ACCOUNT_ID, &blob),
        Err(ProtocolError::NotDecryptable)
    ));
    assert!(matches!(
        sealed::open(&KEY, "acc_someone_else", &blob),
        Err(ProtocolError::NotDecryptable)
    ));
    // One flipped bit anywhere after the version byte: refused as not decryptable.
    let mut bytes = URL_SAFE_NO_PAD.decode(&blob).expect("base64url");
    let at = 1 + (text.len() % (bytes.len() - 1));
    bytes[at] ^= 0x01;
    let altered = URL_SAFE_NO_PAD.encode(&bytes);
    assert!(matches!(
        sealed::open(&KEY, ACCOUNT_ID, &altered),
        Err(ProtocolError::NotDecryptable)
    ));
});
