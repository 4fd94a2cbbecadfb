//! A Web Push registration as the service reads it (`PUT /v1/device/push-token` and pairing,
//! platform `webpush`): the subscription JSON a paired device sends, with the endpoint URL
//! and keys checked against the address rule. Whatever is accepted must be an `https`
//! endpoint on no literal loopback/private address and with usable keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapprove_protocol::api::PushPlatform;
use tapprove_push::{PushSender as _, Router};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A router without Web Push configured applies the strictest rule (no allow-list).
    if Router::default()
        .check_registration(PushPlatform::Webpush, text)
        .is_err()
    {
        return;
    }
    let value: serde_json::Value = serde_json::from_str(text.trim()).expect("accepted JSON");
    let endpoint = value["endpoint"].as_str().expect("an endpoint string");
    let url = url::Url::parse(endpoint).expect("an endpoint URL");
    assert_eq!(url.scheme(), "https");
    match url.host() {
        Some(url::Host::Ipv4(a)) => {
            assert!(
                !a.is_loopback() && !a.is_private() && !a.is_link_local() && !a.is_unspecified()
            )
        }
        Some(url::Host::Ipv6(a)) => assert!(!a.is_loopback() && !a.is_unspecified()),
        Some(url::Host::Domain(d)) => assert_ne!(d.trim_end_matches('.'), "localhost"),
        None => panic!("accepted an endpoint without a host"),
    }
});
