//! Tapprove wire protocol: the types and signatures shared by the device core and the service.
//!
//! Pure data and crypto, no I/O. Everything signed is a compact JWS (RFC 7515) with `alg: ES256`
//! (ECDSA P-256 + SHA-256, raw 64-byte `r || s` signature). The exact bytes signed are the JWS
//! signing input `BASE64URL(header) "." BASE64URL(payload)`; see `docs/PROTOCOL.md`.
//!
//! - [`challenge`]: what the service sends to a phone (push, poll or event stream).
//! - [`answer`]: what the phone sends back.
//! - [`shown`]: the phone's acknowledgement that it showed a `display` code to a verified user.
//! - [`request_auth`]: a short-lived proof of possession on device API calls.
//! - [`api`]: JSON bodies of the device API and the relying-party API, and the error body.
//! - [`key_update`]: the service key rollover message, signed by the pinned key.
//! - [`webhook`]: Standard Webhooks signing/verification and HTTP Basic for the trust webhook.
//! - [`sealed`]: push payloads encrypted to the device's X25519 key (the provider sees no
//!   login details).
//! - [`credentials`]: key formats (API key, SDK key) and the loopback-URL rule.
//! - [`wire`]: the wire names of the enums, written once (`as_str`, `FromStr`).
//! - [`text`]: the sanitiser for free text shown to users (login context).

pub mod answer;
pub mod api;
pub mod challenge;
pub mod credentials;
mod error;
pub mod jws;
pub mod key_update;
pub mod keys;
pub mod request_auth;
pub mod sealed;
pub mod shown;
pub mod text;
pub mod webhook;
pub mod wire;

pub use answer::{Answer, Decision, DenyReason, UvMethod};
pub use challenge::{Challenge, Context, Presence, PresenceMode, UserVerification};
pub use error::ProtocolError;
pub use key_update::KeyUpdate;
pub use keys::{Es256Signer, PublicKey, SignError, SoftwareKey};
pub use shown::CodeShown;
pub use wire::{UnknownWireName, WireName};

/// The protocol version this crate speaks. Payloads carry it as `ver`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest compact JWS accepted anywhere, checked before any decoding. Fits an APNs/FCM payload
/// (4096 bytes) together with the notification text.
pub const MAX_TOKEN_LEN: usize = 3072;

/// Header every device API call carries: `<platform>/<sdk version>` (e.g. `rust/0.1.0`).
pub const SDK_VERSION_HEADER: &str = "x-tapprove-sdk";

/// Header carrying the SDK key on pairing.
pub const SDK_KEY_HEADER: &str = "x-tapprove-sdk-key";
