//! The providers plugged in: a [`Provider`] is a sender for one platform built from its own
//! configuration section; the [`Router`] holds one sender per platform (built from the
//! configured providers by `PushConfig::build`) and dispatches each target to its platform's.
//! [`send_each`] is the one fan-out: every push of a session at once, none waiting on another.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use futures_util::future::{BoxFuture, join_all};
use tapprove_protocol::api::PushPlatform;

use crate::config::{PushConfigError, RetryConfig};
use crate::{PushMessage, PushOutcome, PushSender, PushTarget};

/// A push provider: the sender of one platform, made from its configuration section. A new
/// provider implements this and is registered in `PushConfig::build_router` (docs/ARCHITECTURE.md
/// lists every file a provider touches).
pub trait Provider: PushSender + Sized + 'static {
    /// The platform (the devices' `push.platform`) this provider delivers to.
    const PLATFORM: PushPlatform;
    /// Its `[push.<name>]` section.
    type Config;
    /// Builds the sender, checking every setting and loading every key now.
    fn from_config(
        config: &Self::Config,
        roots: Arc<rustls::RootCertStore>,
        retry: RetryConfig,
    ) -> Result<Self, PushConfigError>;
}

/// A [`PushSender`] that hands each target to the sender of its platform. Platforms without a
/// sender (and devices with platform `none`) get [`PushOutcome::NotConfigured`].
#[derive(Clone, Default)]
pub struct Router {
    senders: HashMap<PushPlatform, Arc<dyn PushSender>>,
}

impl Router {
    /// This router with `sender` for `platform` (any sender works, e.g. a fake in tests).
    pub fn with(mut self, platform: PushPlatform, sender: Arc<dyn PushSender>) -> Self {
        if platform != PushPlatform::None {
            self.senders.insert(platform, sender);
        }
        self
    }

    /// This router with provider `P` when its section is configured.
    pub(crate) fn register<P: Provider>(
        self,
        config: Option<&P::Config>,
        roots: impl FnOnce() -> Result<Arc<rustls::RootCertStore>, PushConfigError>,
        retry: RetryConfig,
    ) -> Result<Self, PushConfigError> {
        Ok(match config {
            Some(c) => self.with(P::PLATFORM, Arc::new(P::from_config(c, roots()?, retry)?)),
            None => self,
        })
    }

    /// Whether pushes to `platform` can be sent at all.
    pub fn handles(&self, platform: PushPlatform) -> bool {
        self.senders.contains_key(&platform)
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Router");
        for platform in PushPlatform::ALL {
            if *platform != PushPlatform::None {
                d.field(platform.as_str(), &self.handles(*platform));
            }
        }
        d.finish()
    }
}

impl PushSender for Router {
    fn send<'a>(
        &'a self,
        target: &'a PushTarget,
        message: &'a PushMessage,
    ) -> BoxFuture<'a, PushOutcome> {
        match self.senders.get(&target.platform) {
            Some(sender) => sender.send(target, message),
            None => Box::pin(async { PushOutcome::NotConfigured }),
        }
    }

    fn check_registration(&self, platform: PushPlatform, token: &str) -> Result<(), String> {
        match self.senders.get(&platform) {
            Some(sender) => sender.check_registration(platform, token),
            // Not configured (yet): the strictest rule, so a stored subscription is one the
            // sender would accept once it is.
            None => crate::webpush::check(platform, token, &Default::default()),
        }
    }

    fn vapid_public_key(&self) -> Option<String> {
        self.senders
            .get(&PushPlatform::Webpush)
            .and_then(|s| s.vapid_public_key())
    }
}

/// What happened to one message sent to several devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// `(device_id, outcome)` in the order of the targets.
    pub outcomes: Vec<(String, PushOutcome)>,
}

impl DeliveryReport {
    /// At least one device got the push.
    pub fn any_delivered(&self) -> bool {
        self.outcomes
            .iter()
            .any(|(_, o)| *o == PushOutcome::Delivered)
    }

    /// Devices whose token is dead: the service forgets these tokens.
    pub fn dead_devices(&self) -> impl Iterator<Item = &str> {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, PushOutcome::DeadToken { .. }))
            .map(|(d, _)| d.as_str())
    }
}

/// Sends each `(target, message)` concurrently; the outcomes in the same order. Each send is
/// independent: a dead or failing device never delays or stops the others.
pub async fn send_each(
    sender: &dyn PushSender,
    sends: &[(PushTarget, PushMessage)],
) -> Vec<PushOutcome> {
    join_all(sends.iter().map(|(t, m)| sender.send(t, m))).await
}

/// Sends one `message` to every target ([`send_each`]). When nothing was delivered (and the
/// devices do not poll), the service ends the session `error` / `delivery_failed`.
pub async fn send_to_all(
    sender: &dyn PushSender,
    targets: &[PushTarget],
    message: &PushMessage,
) -> DeliveryReport {
    let sends: Vec<(PushTarget, PushMessage)> = targets
        .iter()
        .map(|t| (t.clone(), message.clone()))
        .collect();
    let outcomes = send_each(sender, &sends).await;
    DeliveryReport {
        outcomes: targets
            .iter()
            .map(|t| t.device_id.clone())
            .zip(outcomes)
            .collect(),
    }
}
