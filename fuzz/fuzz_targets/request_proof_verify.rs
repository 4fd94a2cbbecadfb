//! `RequestProof::verify`: the `Authorization: Tapprove <jws>` header of every device API call.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapprove_fuzz::{ACCOUNT_ID, ANSWERS, NOW, SKEW, mode};
use tapprove_protocol::request_auth::{AUTH_SCHEME, REQUEST_TYP, RequestProof};

const METHOD: &str = "GET";
const PATH: &str = "/v1/device/pending";

fuzz_target!(|data: &[u8]| {
    let Some((signed, rest)) = mode(data) else {
        return;
    };
    let v = &*ANSWERS; // the device key signs request proofs too
    let header = if signed {
        format!(
            "{AUTH_SCHEME} {}",
            v.sign_raw(REQUEST_TYP, ACCOUNT_ID, rest)
        )
    } else {
        let Ok(header) = std::str::from_utf8(rest) else {
            return;
        };
        header.to_owned()
    };
    let _ = RequestProof::peek_account_id(&header);
    if let Ok(proof) = RequestProof::verify(&header, &v.public_key, METHOD, PATH, b"", NOW, SKEW) {
        assert_eq!(proof.htp, PATH);
        assert!(proof.htm.eq_ignore_ascii_case(METHOD));
        assert!(
            proof.iat.abs_diff(NOW) <= SKEW.unsigned_abs(),
            "stale proof accepted"
        );
    }
});
