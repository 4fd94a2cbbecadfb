//! `tapprove-radius`: a RADIUS server (RFC 2865) in front of Tapprove's relying-party API, so a
//! VPN (or anything that asks RADIUS) gets a push approval or a code from the phone as its
//! second factor. docs/RADIUS.md is the operator's guide.
//!
//! - [`packet`] — the wire format, Message-Authenticator (HMAC-MD5) and User-Password hiding.
//! - [`config`] — the TOML file (`tapprove-radius --config FILE`), checked at start-up.
//! - [`server`] — the UDP loop: clients, Message-Authenticator on every request and reply,
//!   dropped requests counted, retransmissions answered from a cache, Proxy-State echoed.
//! - `login` — one login: the upstream password check, then the phone (push or code).
//! - [`upstream`] — the first factor at another RADIUS server.
//!
//! The service is reached only through `tapprove-rp`, like any relying party. Everything but
//! [`packet`] is behind the default feature `server`.

#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
mod login;
pub mod packet;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod upstream;

#[cfg(feature = "server")]
pub use config::{Config, ConfigError, Mode};
#[cfg(feature = "server")]
pub use login::{Answer, CODE_PROMPT};
#[cfg(feature = "server")]
pub use server::{DropReason, RadiusServer, StartError, StatsSnapshot};

/// Fills `buf` from the OS random generator (Request Authenticators, State).
#[cfg(feature = "server")]
pub(crate) fn fill_random(buf: &mut [u8]) {
    use ring::rand::SecureRandom;
    if ring::rand::SystemRandom::new().fill(buf).is_err() {
        // Without randomness no authenticator or State is safe to send: stop rather than
        // answer with predictable ones.
        panic!("the OS random generator failed");
    }
}
