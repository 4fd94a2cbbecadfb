//! `Answer::verify`: what the service does with every answer a device posts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapprove_fuzz::{ACCOUNT_ID, ANSWERS, NOW, SKEW, mode};
use tapprove_protocol::Answer;
use tapprove_protocol::answer::ANSWER_TYP;

fuzz_target!(|data: &[u8]| {
    let Some((signed, rest)) = mode(data) else {
        return;
    };
    let v = &*ANSWERS;
    let token = if signed {
        v.sign_raw(ANSWER_TYP, ACCOUNT_ID, rest)
    } else {
        let Ok(token) = std::str::from_utf8(rest) else {
            return;
        };
        token.to_owned()
    };
    let _ = Answer::peek_ids(&token);
    if let Ok(answer) = Answer::verify(&token, &v.public_key, NOW, SKEW) {
        answer
            .validate()
            .expect("a verified answer breaks a field rule");
        assert!(
            answer.iat.abs_diff(NOW) <= SKEW.unsigned_abs(),
            "stale answer accepted"
        );
        let again = answer.sign(&v.key).expect("re-sign");
        let back = Answer::verify(&again, &v.public_key, NOW, SKEW).expect("round trip");
        assert_eq!(back, answer);
    }
});
