//! Signed times are the signer's numbers: the extremes of `i64` must be refused with an error,
//! never overflow (a panic in debug builds, a wrapped "fresh" time in release builds).

use tapprove_protocol::request_auth::RequestProof;
use tapprove_protocol::{
    Answer, Decision, Es256Signer as _, KeyUpdate, ProtocolError, SoftwareKey,
};

const NOW: i64 = 1_800_000_000;

fn answer(iat: i64) -> Answer {
    Answer {
        ver: 1,
        session_id: "ses_1".into(),
        account_id: "acc_1".into(),
        decision: Decision::Approve,
        presence_answer: Some("42".into()),
        deny_reason: None,
        uv: None,
        iat,
        nonce: "n".into(),
    }
}

#[test]
fn an_answer_at_either_end_of_time_is_refused_without_overflow() {
    let key = SoftwareKey::generate().expect("key");
    for (iat, now) in [
        (i64::MIN, NOW),
        (i64::MAX, NOW),
        (i64::MIN, i64::MAX),
        (0, i64::MIN),
    ] {
        let token = answer(iat).sign(&key).expect("sign");
        let err = Answer::verify(&token, &key.public_key(), now, 60).expect_err("refused");
        assert!(
            matches!(err, ProtocolError::Expired | ProtocolError::NotYetValid),
            "iat {iat}, now {now}: {err:?}"
        );
    }
    let token = answer(NOW + 59).sign(&key).expect("sign");
    assert!(Answer::verify(&token, &key.public_key(), NOW, 60).is_ok());
}

#[test]
fn a_request_proof_at_either_end_of_time_is_refused_without_overflow() {
    let key = SoftwareKey::generate().expect("key");
    for iat in [i64::MIN, i64::MAX] {
        let auth = RequestProof::authorization("acc_1", "GET", "/v1/x", b"", iat, "j", &key)
            .expect("sign");
        let err = RequestProof::verify(&auth, &key.public_key(), "GET", "/v1/x", b"", NOW, 60)
            .expect_err("refused");
        assert_eq!(err, ProtocolError::Expired, "iat {iat}");
    }
}

#[test]
fn a_key_update_whose_grace_period_overflows_is_invalid() {
    let old = SoftwareKey::generate().expect("key");
    let new = SoftwareKey::generate().expect("key");
    let update = KeyUpdate {
        ver: 1,
        new_key: new.public_key(),
        old_key_valid_until: i64::MAX,
        iat: i64::MIN,
    };
    let token = update.sign(&old).expect("sign");
    let err = KeyUpdate::verify(&token, &old.public_key(), NOW, 60).expect_err("refused");
    assert_eq!(err.code(), "invalid");
}
