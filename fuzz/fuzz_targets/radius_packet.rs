//! tapprove-radius's packet layer on whatever arrives on UDP: decoding never panics; a decoded
//! packet encodes back to exactly the octets its Length covered; the Message-Authenticator
//! check, User-Password revealing and a reply's signing never panic, and a signed reply
//! verifies with the secret it was signed with and no other.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapprove_radius::packet::{self, Packet, attr, code};

const SECRET: &[u8] = b"fuzz-shared-secret";

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::decode(data) else {
        return;
    };
    let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
    assert_eq!(p.encode().expect("a decoded packet encodes"), &data[..len]);
    let _ = p.verify_request(SECRET);
    if let Some(hidden) = p.attr(attr::USER_PASSWORD) {
        if let Ok(pw) = packet::reveal_password(hidden, SECRET, &p.authenticator) {
            // Hiding what was revealed gives a value that reveals to the same password.
            let again = packet::hide_password(&pw, SECRET, &p.authenticator).expect("hide");
            let back = packet::reveal_password(&again, SECRET, &p.authenticator).expect("reveal");
            assert_eq!(back.as_slice(), pw.as_slice());
        }
    }
    // A reply echoing every Proxy-State, as the server sends it.
    let mut reply = Packet::new(code::ACCESS_REJECT, p.identifier, p.authenticator);
    for state in p.attrs(attr::PROXY_STATE) {
        reply.attributes.push(packet::Attribute::new(attr::PROXY_STATE, state));
    }
    if let Ok(bytes) = reply.encode_reply(&p, SECRET) {
        let back = Packet::decode(&bytes).expect("our reply decodes");
        assert!(back.verify_response(p.authenticator, SECRET, true).is_ok());
        assert!(back.verify_response(p.authenticator, b"other", false).is_err());
    }
});
