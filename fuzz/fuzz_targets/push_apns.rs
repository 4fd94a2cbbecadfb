//! `Authenticator::handle_push` on an APNs `userInfo` (docs/PROTOCOL.md §11): what a
//! Notification Service Extension hands the core for every notification, from anyone who holds
//! the device token.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tapprove_core::Authenticator;
use tapprove_fuzz::{CHALLENGES, mode, phone};
use tapprove_protocol::challenge::CHALLENGE_TYP;

static PHONE: LazyLock<Authenticator> = LazyLock::new(phone);

fuzz_target!(|data: &[u8]| {
    let Some((signed, rest)) = mode(data) else {
        return;
    };
    let payload = if signed {
        let v = &*CHALLENGES;
        let token = v.sign_raw(CHALLENGE_TYP, &v.public_key.key_id(), rest);
        serde_json::json!({
            "aps": {"alert": {"title": "Log in?", "body": "Someone is signing in."},
                    "category": "TAPPROVE_LOGIN", "mutable-content": 1},
            "tapprove": token,
        })
        .to_string()
    } else {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        text.to_owned()
    };
    if let Ok(Some(request)) = PHONE.handle_push(&payload) {
        assert!(!request.id.is_empty());
    }
});
