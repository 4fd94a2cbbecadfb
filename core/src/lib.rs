//! Tapprove device core: the authenticator that iOS and Android apps (through the uniffi
//! bindings) and the terminal authenticator embed.
//!
//! - [`Config`] and [`EnrollmentUri`]: where the service is, validated before any network call.
//! - [`Authenticator`]: pairing, accounts, push handling ([`Authenticator::handle_push`]),
//!   pending requests, answers ([`Authenticator::respond`]) and the live event stream.
//! - [`SecureStore`] ([`MemoryStore`], [`FileStore`]) and [`DeviceSigner`]
//!   ([`SoftwareSigner`]): platform capabilities; a platform can keep device keys in hardware.
//! - [`HttpTransport`]: an optional platform HTTP stack for the device API calls (proxies,
//!   user CAs, VPN rules); the built-in client is the default.
//! - [`CoreError`]: every failure, with a message that says what to do.
//!
//! The wire protocol is `docs/PROTOCOL.md`, implemented by `tapprove-protocol`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tapprove_core::CoreError> {
//! use std::sync::Arc;
//! use tapprove_core::*;
//!
//! let store = Arc::new(FileStore::open("/tmp/tapprove-store")?);
//! let signer = Arc::new(SoftwareSigner::new(store.clone()));
//! let config = Config::new("https://auth.example.com", "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA")?;
//! let auth = Authenticator::new(config, store, signer)?;
//! let account = auth.pair("alice", "7KQ2-M9XD", None).await?;
//! for request in auth.pending(Some(&account.id)).await? {
//!     let outcome = auth
//!         .respond(&request.id, Decision::Approve { presence_answer: Some("42".into()) })
//!         .await?;
//!     println!("{:?}", outcome.status);
//! }
//! # Ok(()) }
//! ```

mod address;
mod api_client;
mod authenticator;
mod background;
mod cancel;
pub mod clock;
mod config;
mod error;
mod events;
mod model;
mod net;
pub mod push_payload;
mod secret;
mod signer;
pub mod sse;
mod store;
mod transport;
mod user_verification;

pub use api_client::SDK_VERSION;
pub use authenticator::{Authenticator, NOT_ME_WINDOW};
pub use cancel::CancelToken;
pub use clock::{Clock, SKEW_SECONDS, SystemClock};
pub use config::{
    Config, EnrollmentUri, SDK_KEY_CHARS, SDK_KEY_PREFIX, check_sdk_key, is_loopback_host,
};
pub use error::{CoreError, SignerError, StoreError};
pub use events::{EventStream, EventStreamStopper};
pub use model::{
    ACCOUNT_PREFIX, Account, AccountNeedingRepair, AccountRecord, Decision, EndedRequest,
    LoginRequest, RepairCause, RequestEvent, RespondOutcome, RetiringKey,
};
pub use secret::SecretBytes;
pub use signer::{DEVICE_KEY_PREFIX, DeviceSigner, SoftwareSigner};
pub use store::{FileStore, MemoryStore, SecureStore};
pub use transport::{
    HttpBodyStream, HttpRequest, HttpResponse, HttpStreamTransport, HttpTransport, TransportError,
};
pub use user_verification::{UserVerifier, VerifyOutcome};

/// Entry points for the fuzz targets (`fuzz/`) into parsers that are otherwise private. Not
/// part of the API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::net::read_response_for_fuzzing as read_response;

    /// An `http(s)` URL as the core's parser reads it, in plain parts.
    #[derive(Debug)]
    pub struct ParsedUrl {
        pub tls: bool,
        pub host: String,
        pub port: Option<u16>,
        pub path: String,
        pub query: Option<String>,
        pub origin: String,
    }

    /// The core's URL parser (`address::parse`); `None` where it refuses.
    pub fn parse_url(raw: &str) -> Option<ParsedUrl> {
        let url = crate::address::parse(raw).ok()?;
        Some(ParsedUrl {
            tls: url.origin.tls,
            host: url.origin.host.to_string(),
            port: url.origin.port,
            path: url.path.to_owned(),
            query: url.query.map(str::to_owned),
            origin: url.origin.to_string(),
        })
    }

    /// The core's form query decoding; `None` where it refuses.
    pub fn form_pairs(query: &str) -> Option<Vec<(String, String)>> {
        crate::address::form_pairs(query).ok()
    }

    /// One `name=value` pair encoded by the core.
    pub fn form_pair(name: &str, value: &str) -> String {
        let mut query = String::new();
        crate::address::form_append(&mut query, name, value);
        query
    }
}

pub use tapprove_protocol::api::{
    KeyProtection, PushEnvironment, PushPlatform, PushRegistration, SessionReason, SessionStatus,
};
pub use tapprove_protocol::keys::{PUBLIC_KEY_LEN, SIGNATURE_LEN};
pub use tapprove_protocol::{
    Context, DenyReason, PresenceMode, PublicKey, UserVerification, UvMethod,
};

/// `n` random bytes from the OS CSPRNG, base64url. Used for key aliases, request-proof `jti`s
/// and temporary file names.
pub(crate) fn random_id(n: usize) -> String {
    use base64::Engine as _;
    use ring::rand::SecureRandom as _;
    let mut bytes = vec![0u8; n];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // The OS RNG failing is not recoverable in any meaningful way; fall back to time and a
        // counter so ids stay unique (they are identifiers, not keys).
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let c = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in t
            .to_le_bytes()
            .iter()
            .chain(c.to_le_bytes().iter())
            .enumerate()
        {
            if let Some(slot) = bytes.get_mut(i) {
                *slot ^= b;
            }
        }
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
