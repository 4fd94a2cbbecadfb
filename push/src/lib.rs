//! Push delivery: the seam between the service and the push providers.
//!
//! The service hands each device's [`PushTarget`] and one [`PushMessage`] to a [`PushSender`];
//! the sender reports a [`PushOutcome`] the service acts on (drop a dead token, mark delivery
//! failed). Devices with platform `none` are not pushed: they poll or listen on the event stream.
//!
//! The real senders are [`ApnsSender`] (HTTP/2, token-based auth), [`FcmSender`] (FCM HTTP v1,
//! OAuth2 service account) and [`WebPushSender`] (Web Push to UnifiedPush distributors). The service builds them from [`PushConfig`] with
//! [`PushConfig::build`], which validates every setting at start and returns one [`Router`]
//! that dispatches by platform; each is a [`Provider`] registered there. See `docs/PUSH.md` for configuration and error handling.

mod apns;
mod config;
mod fcm;
mod http;
mod jwt;
mod payload;
mod registry;
mod retry;
mod secret;
mod webpush;

pub use apns::ApnsSender;
pub use config::{
    ApnsConfig, EnvKind, EnvVar, FcmConfig, PushConfig, PushConfigError, RetryConfig, WebPushConfig,
};
pub use fcm::FcmSender;
pub use registry::{DeliveryReport, Provider, Router, send_each, send_to_all};
pub use webpush::WebPushSender;

use futures_util::future::BoxFuture;
use tapprove_protocol::api::{PushEnvironment, PushPlatform};

/// Largest push payload both providers accept, in bytes (APNs `userInfo` JSON, FCM data map).
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// The APNs notification category of a login prompt; the app registers its actions under it.
pub const APNS_CATEGORY: &str = "TAPPROVE_LOGIN";

/// One device to push to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    /// The device (account) id, for logs and token cleanup.
    pub device_id: String,
    /// APNs, FCM or Web Push.
    pub platform: PushPlatform,
    /// The provider token (for Web Push the subscription JSON). Logged only as a short prefix.
    pub token: String,
    /// APNs environment.
    pub environment: Option<PushEnvironment>,
    /// When the token was registered, Unix seconds (APNs 410 only kills older tokens).
    pub registered_at: i64,
}

/// What to deliver: the notification text and the signed challenge the phone verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMessage {
    /// What the provider uses to replace an older notification with a newer one (APNs
    /// `apns-collapse-id`, FCM `collapse_key`): an opaque per-device value from the service,
    /// never the session id (the provider must not learn which push belongs to which login).
    pub collapse_id: String,
    /// Notification title.
    pub title: String,
    /// Notification body.
    pub body: String,
    /// The compact JWS challenge for this device.
    pub challenge: String,
    /// Session expiry, Unix seconds: the provider must not deliver after it.
    pub expires_at: i64,
    /// Set when the device gave a push key at pairing: the payload then carries only this
    /// sealed challenge, the account id and the generic [`SEALED_ALERT_TITLE`] /
    /// [`SEALED_ALERT_BODY`]; `title`, `body` and `challenge` are not sent.
    pub sealed: Option<SealedChallenge>,
}

/// A challenge sealed to the device's push key (`tapprove_protocol::sealed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedChallenge {
    /// The account (device) id: tells the device which key opens it. Opaque.
    pub account_id: String,
    /// The sealed challenge (base64url).
    pub sealed: String,
}

/// The visible alert of a sealed push until the app replaces it with the verified text:
/// nothing about the login (the provider sees it).
pub const SEALED_ALERT_TITLE: &str = "Login request";
/// See [`SEALED_ALERT_TITLE`].
pub const SEALED_ALERT_BODY: &str = "Open to review a sign-in";

/// What happened to one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The provider accepted it.
    Delivered,
    /// The token is dead: the service must forget it.
    DeadToken {
        /// Provider reason, e.g. `Unregistered`.
        reason: String,
    },
    /// Not delivered, and retrying will not help before the session ends.
    Failed {
        /// Provider reason or transport error.
        reason: String,
    },
    /// This sender does not handle that platform (e.g. FCM not configured).
    NotConfigured,
}

/// Sends one push. Implementations retry what the provider says is retryable, within
/// `message.expires_at`, and only then report.
pub trait PushSender: Send + Sync {
    /// Delivers `message` to `target`.
    fn send<'a>(
        &'a self,
        target: &'a PushTarget,
        message: &'a PushMessage,
    ) -> BoxFuture<'a, PushOutcome>;

    /// Checks a device's push registration before the service stores it: `Err(why)` when
    /// this sender could never deliver to it (a Web Push endpoint on a refused address).
    /// Senders that take any token keep the default.
    fn check_registration(&self, _platform: PushPlatform, _token: &str) -> Result<(), String> {
        Ok(())
    }

    /// The VAPID public key apps register their Web Push subscriptions with, when Web Push
    /// is configured (given to devices at pairing).
    fn vapid_public_key(&self) -> Option<String> {
        None
    }
}

/// A sender that pushes nothing: the default when no provider is configured.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPush;

impl PushSender for NoPush {
    fn send<'a>(&'a self, _: &'a PushTarget, _: &'a PushMessage) -> BoxFuture<'a, PushOutcome> {
        Box::pin(async { PushOutcome::NotConfigured })
    }
}
