//! `KeyUpdate::verify`: the service key rollover message a phone accepts from its service.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapprove_fuzz::{CHALLENGES, NOW, SKEW, mode};
use tapprove_protocol::key_update::{KEY_UPDATE_TYP, KeyUpdate, MAX_GRACE_SECONDS};

fuzz_target!(|data: &[u8]| {
    let Some((signed, rest)) = mode(data) else {
        return;
    };
    let v = &*CHALLENGES; // signed by the pinned service key
    let token = if signed {
        v.sign_raw(KEY_UPDATE_TYP, &v.public_key.key_id(), rest)
    } else {
        let Ok(token) = std::str::from_utf8(rest) else {
            return;
        };
        token.to_owned()
    };
    if let Ok(update) = KeyUpdate::verify(&token, &v.public_key, NOW, SKEW) {
        assert_ne!(update.new_key, v.public_key);
        assert!(update.old_key_valid_until >= update.iat);
        assert!(
            update.old_key_valid_until.abs_diff(update.iat) <= MAX_GRACE_SECONDS.unsigned_abs()
        );
        assert!(update.iat <= NOW + SKEW);
    }
});
