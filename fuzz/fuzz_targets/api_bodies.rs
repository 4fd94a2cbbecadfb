//! Every JSON body of the device and relying-party APIs (docs/PROTOCOL.md §6, §9, §10), read
//! the way both ends read them (`serde_json::from_slice`, as the service's `ApiJson` and
//! `parse_json` and the core do): the bodies the service deserializes from the internet and
//! the answers the phone deserializes from whatever server or middlebox answers it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tapprove_protocol::api::{
    AnswerRequest, AnswerResponse, CreateSessionRequest, DecidedEvent, ErrorBody, PairRequest,
    PairResponse, PendingResponse, PushRegistration, SessionCreated, SessionView,
};

/// Reads `body` as `T`; whatever is read serialises and reads back to the same value.
fn check<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(body: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(body) {
        let text = serde_json::to_vec(&value).expect("serialise");
        let back: T = serde_json::from_slice(&text).expect("read back what was written");
        assert_eq!(back, value);
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the body type.
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 11 {
        // Service side: bodies from devices and relying parties.
        0 => check::<PairRequest>(body),
        1 => check::<PushRegistration>(body),
        2 => check::<AnswerRequest>(body),
        3 => check::<CreateSessionRequest>(body),
        // Device side: answers from the service.
        4 => check::<PairResponse>(body),
        5 => check::<PendingResponse>(body),
        6 => check::<AnswerResponse>(body),
        7 => check::<DecidedEvent>(body),
        8 => check::<ErrorBody>(body),
        // Relying-party side.
        9 => check::<SessionCreated>(body),
        _ => check::<SessionView>(body),
    }
});
