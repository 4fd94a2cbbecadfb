//! The core's HTTP/1.1 response reader (core/src/net.rs): status line, headers, interim 1xx,
//! Content-Length / chunked (with extensions and trailers) / close framing, from whatever
//! server or middlebox answers the phone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapprove_core::fuzzing::read_response;

fuzz_target!(|data: &[u8]| {
    // Two bytes choose how the bytes arrive: the buffer size and the read size.
    let [cap, chunk, raw @ ..] = data else { return };
    let whole = read_response(raw, 8 * 1024, 8 * 1024);
    let cut = read_response(raw, usize::from(*cap) + 1, usize::from(*chunk) + 1);
    // How the bytes are cut must not change what is read.
    match (&whole, &cut) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "buffering changed the response"),
        (Err(_), Err(_)) => {}
        _ => panic!("buffering changed the outcome: {whole:?} vs {cut:?}"),
    }
});
