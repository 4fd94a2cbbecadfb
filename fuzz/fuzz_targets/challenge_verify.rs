//! `Challenge::verify`: what a phone does with every challenge it is sent (push, poll, events).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapprove_fuzz::{CHALLENGES, NOW, SKEW, mode};
use tapprove_protocol::Challenge;
use tapprove_protocol::challenge::CHALLENGE_TYP;

fuzz_target!(|data: &[u8]| {
    let Some((signed, rest)) = mode(data) else {
        return;
    };
    let v = &*CHALLENGES;
    let token = if signed {
        v.sign_raw(CHALLENGE_TYP, &v.public_key.key_id(), rest)
    } else {
        let Ok(token) = std::str::from_utf8(rest) else {
            return;
        };
        token.to_owned()
    };
    if let Ok(challenge) = Challenge::verify(&token, &v.public_key, NOW, SKEW) {
        // Whatever verifies obeys every rule, and survives a round trip unchanged.
        challenge
            .validate()
            .expect("a verified challenge breaks a field rule");
        challenge
            .check_time(NOW, SKEW)
            .expect("a verified challenge is out of time");
        let again = challenge.sign(&v.key).expect("re-sign");
        let back = Challenge::verify(&again, &v.public_key, NOW, SKEW).expect("round trip");
        assert_eq!(back, challenge);
    }
});
