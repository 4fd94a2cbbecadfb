//! The core's Server-Sent Events reader (core/src/sse.rs), fed the event stream in chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapprove_core::sse::{MAX_LINE, SseParser};

fuzz_target!(|data: &[u8]| {
    // The first byte is the chunk size the bytes arrive in.
    let Some((&size, stream)) = data.split_first() else {
        return;
    };
    let mut whole = SseParser::new();
    let all = whole.push(stream);
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut too_long = false;
    for piece in stream.chunks(usize::from(size) + 1) {
        match parser.push(piece) {
            Ok(got) => events.extend(got),
            Err(_) => too_long = true,
        }
    }
    // Cutting a stream into chunks must not change its events (unless a line was too long,
    // which both see only when one line is over the limit).
    if stream.len() <= MAX_LINE && !too_long {
        assert_eq!(all.expect("short stream"), events);
    }
    for e in &events {
        assert!(!e.event.contains(['\n', '\r']) && !e.data.contains('\r'));
    }
});
