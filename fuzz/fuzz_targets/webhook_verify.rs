//! The Standard Webhooks verifier and the HTTP Basic check (protocol/src/webhook.rs): what a
//! relying party runs on every trust-webhook call that reaches it, from anyone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapprove_fuzz::{NOW, mode};
use tapprove_protocol::webhook::{
    TIMESTAMP_TOLERANCE_SECONDS, WebhookKey, basic_authorization, basic_matches,
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fuzz_target!(|data: &[u8]| {
    let Some((signed, rest)) = mode(data) else {
        return;
    };
    // Lines: webhook-id, webhook-timestamp, webhook-signature (or Authorization), then the body.
    let mut parts = rest.splitn(4, |&b| b == b'\n');
    let (Some(id), Some(ts), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let body = parts.next().unwrap_or_default();
    let (Ok(id), Ok(ts), Ok(sig)) = (
        std::str::from_utf8(id),
        std::str::from_utf8(ts),
        std::str::from_utf8(sig),
    ) else {
        return;
    };
    let key = WebhookKey::from_secret(SECRET).expect("key");
    if signed {
        // What the service signs verifies, exactly when its timestamp is fresh.
        let Ok(t) = ts.parse::<i64>() else { return };
        let header = key.sign(id, t, body);
        let fresh = t.abs_diff(NOW) <= TIMESTAMP_TOLERANCE_SECONDS.unsigned_abs();
        let got = key.verify(id, &t.to_string(), &header, body, NOW);
        assert_eq!(got.is_ok(), fresh && !id.is_empty(), "{got:?}");
        // Basic credentials round trip (a user name cannot contain ':', RFC 7617).
        if !id.contains(':') {
            assert!(basic_matches(
                &basic_authorization(id, sig),
                id.as_bytes(),
                sig.as_bytes()
            ));
        }
    } else {
        if key.verify(id, ts, sig, body, NOW).is_ok() {
            // Forging a tag is not expected: only what was signed with the key verifies.
            let t: i64 = ts.trim().parse().expect("verified timestamp parses");
            assert!(t.abs_diff(NOW) <= TIMESTAMP_TOLERANCE_SECONDS.unsigned_abs());
        }
        let _ = WebhookKey::from_secret(sig);
        let _ = basic_matches(sig, id.as_bytes(), ts.as_bytes());
    }
});
