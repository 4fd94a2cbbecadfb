//! `EnrollmentUri::parse`: the pairing link a phone reads from a QR code anyone can print.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapprove_core::EnrollmentUri;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uri) = EnrollmentUri::parse(text) {
        // What parses prints back to a link that parses to the same thing.
        let again = EnrollmentUri::parse(&uri.to_uri()).expect("printed link parses");
        assert!(again == uri, "round trip changed the link");
    }
});
