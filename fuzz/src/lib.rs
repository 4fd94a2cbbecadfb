//! Shared pieces of the fuzz targets: the test keys of `tests/vectors` and a signer for
//! fuzzed payloads, so a target reaches the checks that come after the signature.
//!
//! Every signed-token target reads its first input byte as a mode:
//! - even: the rest is the token (or header) exactly as it would arrive on the wire;
//! - odd: the rest is a payload, signed here with the vector's test key, so the version,
//!   schema, field and time rules see arbitrary bytes behind a valid signature.

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use tapprove_protocol::jws::Header;
use tapprove_protocol::{Es256Signer, PublicKey, SoftwareKey};

/// The "now" the vectors were generated for (tests/vectors: `now`).
pub const NOW: i64 = 1_800_000_000;
/// The skew the vectors use.
pub const SKEW: i64 = 60;

/// One vector file: its verification key, its test-only private key and its tokens.
pub struct Vector {
    /// The key tokens are verified with.
    pub public_key: PublicKey,
    /// The matching test-only private key.
    pub key: SoftwareKey,
    /// Every case's token.
    pub tokens: Vec<String>,
}

#[derive(Deserialize)]
struct VectorFile {
    public_key: String,
    test_private_key_pkcs8_base64: String,
    cases: Vec<VectorCase>,
}

#[derive(Deserialize)]
struct VectorCase {
    token: String,
}

impl Vector {
    fn load(json: &str) -> Self {
        let file: VectorFile = serde_json::from_str(json).expect("vector file");
        let der = STANDARD
            .decode(&file.test_private_key_pkcs8_base64)
            .expect("vector key base64");
        Self {
            public_key: PublicKey::from_base64url(&file.public_key).expect("vector public key"),
            key: SoftwareKey::from_pkcs8(&der).expect("vector private key"),
            tokens: file.cases.into_iter().map(|c| c.token).collect(),
        }
    }

    /// A compact JWS over exactly `payload` (any bytes), signed with the test key.
    pub fn sign_raw(&self, typ: &str, kid: &str, payload: &[u8]) -> String {
        let header = Header {
            alg: "ES256".into(),
            typ: typ.into(),
            kid: kid.into(),
        };
        let mut token = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header")),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let sig = self.key.sign(token.as_bytes()).expect("sign");
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(sig));
        token
    }
}

/// Challenges: signed by the service key.
pub static CHALLENGES: LazyLock<Vector> =
    LazyLock::new(|| Vector::load(include_str!("../../tests/vectors/challenge_valid.json")));
/// Answers (and request proofs, which the same device key signs).
pub static ANSWERS: LazyLock<Vector> =
    LazyLock::new(|| Vector::load(include_str!("../../tests/vectors/answer.json")));

/// Every vector file, for seeding corpora.
pub const VECTOR_FILES: &[&str] = &[
    include_str!("../../tests/vectors/answer.json"),
    include_str!("../../tests/vectors/challenge_expired.json"),
    include_str!("../../tests/vectors/challenge_malformed.json"),
    include_str!("../../tests/vectors/challenge_oversized.json"),
    include_str!("../../tests/vectors/challenge_tampered.json"),
    include_str!("../../tests/vectors/challenge_unknown_version.json"),
    include_str!("../../tests/vectors/challenge_valid.json"),
    include_str!("../../tests/vectors/challenge_wrong_key.json"),
];

/// The account id the vectors use (`kid` of answers and request proofs).
pub const ACCOUNT_ID: &str = "acc_01JDEMO0000000000000000000";

/// Splits the mode byte off an input: `(signed, rest)`.
pub fn mode(data: &[u8]) -> Option<(bool, &[u8])> {
    let (&first, rest) = data.split_first()?;
    Some((first & 1 == 1, rest))
}

/// An authenticator (the phone) with one account whose pinned service key is the challenge
/// vectors' key, at the vectors' time: `handle_push` then verifies what the targets sign.
pub fn phone() -> tapprove_core::Authenticator {
    use std::sync::Arc;
    use tapprove_core::{AccountRecord, Authenticator, Config, MemoryStore, SoftwareSigner};

    struct Fixed;
    impl tapprove_core::Clock for Fixed {
        fn now_unix(&self) -> i64 {
            NOW
        }
    }
    let store = Arc::new(MemoryStore::new());
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    let config = Config::new("https://auth.example.com", SDK_KEY).expect("config");
    let phone = Authenticator::with_clock(config, store, signer, Arc::new(Fixed)).expect("phone");
    phone
        .import_account(AccountRecord {
            id: ACCOUNT_ID.into(),
            project_id: "prj_fuzz".into(),
            project_name: "Demo Bank".into(),
            user: "alice".into(),
            server_url: "https://auth.example.com".into(),
            sdk_key: SDK_KEY.into(),
            service_key: CHALLENGES.public_key.clone(),
            key_alias: "fuzz".into(),
            device_key: ANSWERS.public_key.clone(),
            clock_offset: 0,
            paired_at: NOW - 3600,
            user_verification: None,
            retiring_key: None,
            revoked_at: None,
            vapid_public_key: None,
        })
        .expect("import account");
    phone
}

/// A well-formed SDK key (only its shape is checked offline).
pub const SDK_KEY: &str = "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA";
