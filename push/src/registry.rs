//! Dispatch by platform, and fan-out of one message to all of a user's devices.

use std::fmt;
use std::sync::Arc;

use futures_util::future::{BoxFuture, join_all};
use tapprove_protocol::api::PushPlatform;

use crate::{PushMessage, PushOutcome, PushSender, PushTarget};

/// A [`PushSender`] that hands each target to the sender of its platform. Platforms without a
/// sender (and devices with platform `none`) get [`PushOutcome::NotConfigured`].
#[derive(Clone, Default)]
pub struct Router {
    apns: Option<Arc<dyn PushSender>>,
    fcm: Option<Arc<dyn PushSender>>,
}

impl Router {
    /// A router over the given senders (any sender works, e.g. a fake in the service's tests).
    pub fn new(apns: Option<Arc<dyn PushSender>>, fcm: Option<Arc<dyn PushSender>>) -> Self {
        Self { apns, fcm }
    }

    /// Whether pushes to `platform` can be sent at all.
    pub fn handles(&self, platform: PushPlatform) -> bool {
        match platform {
            PushPlatform::Apns => self.apns.is_some(),
            PushPlatform::Fcm => self.fcm.is_some(),
            PushPlatform::None => false,
        }
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("apns", &self.apns.is_some())
            .field("fcm", &self.fcm.is_some())
            .finish()
    }
}

impl PushSender for Router {
    fn send<'a>(
        &'a self,
        target: &'a PushTarget,
        message: &'a PushMessage,
    ) -> BoxFuture<'a, PushOutcome> {
        let sender = match target.platform {
            PushPlatform::Apns => self.apns.as_ref(),
            PushPlatform::Fcm => self.fcm.as_ref(),
            PushPlatform::None => None,
        };
        match sender {
            Some(sender) => sender.send(target, message),
            None => Box::pin(async { PushOutcome::NotConfigured }),
        }
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

/// Sends `message` to every target concurrently. Each send is independent: a dead or failing
/// device never delays or stops the others. When nothing was delivered (and the devices do not
/// poll), the service ends the session `error` / `delivery_failed`.
pub async fn send_to_all(
    sender: &dyn PushSender,
    targets: &[PushTarget],
    message: &PushMessage,
) -> DeliveryReport {
    let outcomes = join_all(targets.iter().map(|t| sender.send(t, message))).await;
    DeliveryReport {
        outcomes: targets
            .iter()
            .map(|t| t.device_id.clone())
            .zip(outcomes)
            .collect(),
    }
}
