//! Property tests of the device core: parsers never panic, enrollment URIs round trip, every
//! valid signed challenge comes out of `handle_push` intact, any single-byte change of it is
//! refused, and the SSE parser is independent of how the bytes are chunked.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use serde_json::json;
use support::FakeClock;
use tapprove_core::sse::{SseEvent, SseParser};
use tapprove_core::*;
use tapprove_protocol::{Challenge, Es256Signer as _, Presence, SoftwareKey};

const ACCOUNT: &str = "acc_prop";
const SDK: &str = "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA";

fn service_key() -> &'static SoftwareKey {
    static KEY: OnceLock<SoftwareKey> = OnceLock::new();
    KEY.get_or_init(|| SoftwareKey::generate().unwrap())
}

/// One authenticator (and its clock) per test thread, shared by that test's cases: the
/// request cache makes repeated challenges idempotent, which is part of what is tested.
fn authenticator() -> (Authenticator, Arc<FakeClock>) {
    thread_local! {
        static AUTH: (Authenticator, Arc<FakeClock>) = make_authenticator();
    }
    AUTH.with(|a| a.clone())
}

fn make_authenticator() -> (Authenticator, Arc<FakeClock>) {
    let store = Arc::new(MemoryStore::new());
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    let device_key = signer.create_key("k").unwrap();
    let clock = FakeClock::new(0);
    let config = Config::new("https://demo.example", SDK).unwrap();
    let auth = Authenticator::with_clock(config, store, signer, clock.clone()).unwrap();
    auth.import_account(AccountRecord {
        retiring_key: None,
        revoked_at: None,
        vapid_public_key: None,
        user_verification: None,
        id: ACCOUNT.into(),
        project_id: "prj".into(),
        project_name: "Demo".into(),
        user: "alice".into(),
        server_url: "https://demo.example".into(),
        sdk_key: SDK.into(),
        service_key: service_key().public_key(),
        key_alias: "k".into(),
        device_key,
        clock_offset: 0,
        paired_at: 0,
    })
    .unwrap();
    (auth, clock)
}

fn presence() -> impl Strategy<Value = Presence> {
    prop_oneof![
        proptest::collection::hash_set("[0-9]{2}", 3).prop_map(|set| Presence {
            code: None,
            length: None,
            mode: PresenceMode::Choose,
            options: set.into_iter().collect()
        }),
        Just(Presence {
            code: None,
            length: None,
            mode: PresenceMode::Entry,
            options: vec![]
        }),
        Just(Presence {
            code: None,
            length: None,
            mode: PresenceMode::None,
            options: vec![]
        }),
    ]
}

prop_compose! {
    fn challenge()(
        session in "[A-Za-z0-9]{1,26}",
        user in "\\PC{0,40}",
        title in "\\PC{0,120}",
        body in "\\PC{0,300}",
        app in proptest::option::of("\\PC{0,30}"),
        ip in proptest::option::of("[0-9.:a-f]{3,39}"),
        presence in presence(),
        iat in 1_600_000_000i64..2_100_000_000,
        ttl in 1i64..=600,
        nonce in "[A-Za-z0-9_-]{1,32}",
    ) -> Challenge {
        Challenge {
            user_verification: None,
            ver: 1,
            session_id: format!("ses_{session}"),
            account_id: ACCOUNT.into(),
            user, title, body,
            context: Context { app, ip, ..Context::default() },
            presence, iat, exp: iat + ttl, nonce,
        }
    }
}

fn apns(token: &str) -> String {
    json!({"aps": {"alert": {"title": "t", "body": "b"}, "category": "TAPPROVE_LOGIN", "mutable-content": 1}, "tapprove": token}).to_string()
}

fn fcm(token: &str) -> String {
    json!({"tapprove": token, "title": "t", "body": "b"}).to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(a in "\\PC*", b in "\\PC*", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Config::new(&a, &b);
        let _ = check_sdk_key(&a);
        let _ = EnrollmentUri::parse(&a);
        let _ = EnrollmentUri::parse(&format!("tapprove://pair?{a}"));
        let _ = tapprove_core::push_payload::challenge_token(&a);
        let (auth, _) = authenticator();
        let _ = auth.handle_push(&a);
        let _ = auth.handle_push(&apns(&a));
        let _ = auth.handle_push(&fcm(&a));
        let mut p = SseParser::new();
        let _ = p.push(&bytes);
        let _ = p.push(a.as_bytes());
        let _ = tapprove_core::clock::offset_from_date(&a, 0);
    }

    #[test]
    fn enrollment_uri_round_trip(
        host in "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,6}){1,2}",
        port in proptest::option::of(1u16..),
        loopback in any::<bool>(),
        key in "[A-Za-z0-9_-]{22}",
        user in "\\PC{1,40}",
        code in "\\PC{1,20}",
    ) {
        prop_assume!(!user.trim().is_empty() && !code.trim().is_empty());
        let server = match (loopback, port) {
            (true, Some(p)) => format!("http://127.0.0.1:{p}"),
            (true, None) => "http://localhost".to_owned(),
            (false, Some(p)) => format!("https://{host}:{p}"),
            (false, None) => format!("https://{host}"),
        };
        let config = Config::new(&server, &format!("tap_sdk_{key}")).unwrap();
        let e = EnrollmentUri { config, user, code };
        let parsed = EnrollmentUri::parse(&e.to_uri()).unwrap();
        prop_assert_eq!(parsed, e);
    }

    #[test]
    fn every_valid_challenge_comes_through_handle_push(c in challenge(), fcm_shape in any::<bool>()) {
        let (auth, clock) = authenticator();
        let token = c.sign(service_key()).unwrap();
        clock.set(c.iat);
        let payload = if fcm_shape { fcm(&token) } else { apns(&token) };
        let req = auth.handle_push(&payload).unwrap().unwrap();
        prop_assert_eq!(&req.id, &c.session_id);
        prop_assert_eq!(&req.account_id, &c.account_id);
        prop_assert_eq!(&req.user, &c.user);
        prop_assert_eq!(&req.title, &c.title);
        prop_assert_eq!(&req.body, &c.body);
        prop_assert_eq!(&req.context, &c.context);
        prop_assert_eq!(req.presence_mode, c.presence.mode);
        prop_assert_eq!(&req.options, &c.presence.options);
        prop_assert_eq!((req.issued_at, req.expires_at), (c.iat, c.exp));
        // The same challenge again is the same request.
        prop_assert_eq!(auth.handle_push(&payload).unwrap().unwrap(), req);
        // Past expiry plus skew it is refused.
        clock.set(c.exp + SKEW_SECONDS + 1);
        prop_assert!(matches!(auth.handle_push(&payload), Err(CoreError::Expired)));
    }

    #[test]
    fn any_single_byte_change_is_refused(
        c in challenge(),
        index in any::<usize>(),
        with in proptest::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=".to_vec()),
    ) {
        let (auth, clock) = authenticator();
        let token = c.sign(service_key()).unwrap();
        let mut bytes = token.into_bytes();
        let i = index % bytes.len();
        prop_assume!(bytes[i] != with);
        bytes[i] = with;
        let bad = String::from_utf8(bytes).unwrap();
        clock.set(c.iat);
        prop_assert!(auth.handle_push(&apns(&bad)).is_err());
    }

    #[test]
    fn sse_parsing_ignores_chunking(
        events in proptest::collection::vec(("[a-z]{1,10}", "[ -~]{0,40}"), 0..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        crlf in any::<bool>(),
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut text = format!(": keep-alive{nl}{nl}");
        for (event, data) in &events {
            text.push_str(&format!("event: {event}{nl}data: {data}{nl}{nl}"));
        }
        let bytes = text.as_bytes();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort();
        let mut p = SseParser::new();
        let mut got = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([bytes.len()]) {
            got.extend(p.push(&bytes[start..cut]).unwrap());
            start = cut;
        }
        let want: Vec<SseEvent> = events
            .iter()
            .map(|(e, d)| SseEvent { event: e.clone(), data: d.clone() })
            .collect();
        prop_assert_eq!(got, want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn file_store_keeps_any_key(keys in proptest::collection::hash_set("\\PC{1,20}", 1..5)) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        for k in &keys {
            store.set(k, SecretBytes::from_slice(k.as_bytes())).unwrap();
        }
        let mut listed = store.list_keys("").unwrap();
        listed.sort();
        let mut want: Vec<String> = keys.iter().cloned().collect();
        want.sort();
        prop_assert_eq!(&listed, &want);
        for k in &keys {
            let v = store.get(k).unwrap().unwrap();
            prop_assert_eq!(v.expose_secret(), k.as_bytes());
        }
    }
}
