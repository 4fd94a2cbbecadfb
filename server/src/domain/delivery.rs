//! Delivery of a new session: push to every APNs/FCM device concurrently, forget dead
//! tokens, and tell the lifecycle whether any device can be reached at all.

use tapprove_protocol::api::PushPlatform;
use tapprove_protocol::sealed::{self, PushPublicKey};
use tapprove_push::{PushMessage, PushOutcome, PushTarget, SealedChallenge};

use crate::domain::context::Delivery;
use crate::store::{AccountRow, SessionDeviceRow, SessionRow};

/// An event stream whose instance has not refreshed it for this long is taken for closed
/// (the instance died); instances refresh theirs every sweep.
pub(crate) const STREAM_STALE_SECONDS: i64 = 30;

/// Pushes the session's challenges to its devices at `now`. Whether a device is reached that
/// way: a push was delivered, or a device polls (no push). If not, ask [`listening`].
pub(crate) async fn deliver(
    ctx: Delivery<'_>,
    session: &SessionRow,
    devices: &[AccountRow],
    challenges: &[SessionDeviceRow],
    now: i64,
) -> bool {
    let session_id = session.id.as_str();
    // A device without push polls or listens on the event stream: it is reachable, unless it
    // is a ghost (paired, then never heard of again).
    let polls = devices
        .iter()
        .any(|d| d.push_platform.0 == PushPlatform::None && d.may_poll(now));
    let mut sends = Vec::new();
    for device in devices {
        let platform = device.push_platform.0;
        if platform == PushPlatform::None || device.push_token.is_empty() {
            continue;
        }
        let Some(challenge) = challenges.iter().find(|c| c.account_id == device.id) else {
            continue;
        };
        let target = PushTarget {
            device_id: device.id.clone(),
            platform,
            token: device.push_token.clone(),
            environment: device.push_environment.map(|e| e.0),
            registered_at: device.push_registered_at,
        };
        let Some(sealed) = seal(device, &challenge.challenge, session_id) else {
            continue;
        };
        let message = PushMessage {
            collapse_id: collapse_id(ctx.seal_key, &device.id),
            title: session.title.clone(),
            body: session.body.clone(),
            challenge: challenge.challenge.clone(),
            expires_at: session.expires_at,
            sealed,
        };
        sends.push((target, message));
    }
    let outcomes = tapprove_push::send_each(ctx.push, &sends).await;
    let mut delivered = false;
    for ((target, _), outcome) in sends.iter().zip(outcomes) {
        ctx.metrics
            .push_deliveries
            .get_or_create(&crate::service::metrics::Delivery {
                provider: target.platform.as_str(),
                outcome: match &outcome {
                    PushOutcome::Delivered => "delivered",
                    PushOutcome::DeadToken { .. } => "dead_token",
                    PushOutcome::Failed { .. } => "failed",
                    PushOutcome::NotConfigured => "not_configured",
                },
            })
            .inc();
        match outcome {
            PushOutcome::Delivered => {
                delivered = true;
                tracing::info!(session_id, account_id = %target.device_id, "push delivered");
            }
            PushOutcome::DeadToken { reason } => {
                tracing::info!(session_id, account_id = %target.device_id, %reason, "push token is dead; forgetting it");
                if let Err(e) = ctx
                    .store
                    .clear_push_token(&target.device_id, &target.token)
                    .await
                {
                    tracing::warn!(account_id = %target.device_id, error = %e, "cannot clear a dead push token");
                }
            }
            PushOutcome::Failed { reason } => {
                tracing::warn!(session_id, account_id = %target.device_id, %reason, "push failed");
            }
            PushOutcome::NotConfigured => {
                tracing::warn!(session_id, account_id = %target.device_id, "push provider not configured for this platform");
            }
        }
    }
    delivered || polls
}

/// Whether one of the session's devices has an event stream open at `now` (read after the
/// pushes, which may take seconds).
pub(crate) async fn listening(
    ctx: Delivery<'_>,
    session: &SessionRow,
    devices: &[AccountRow],
    now: i64,
) -> bool {
    let session_id = session.id.as_str();
    let ids: Vec<&str> = devices.iter().map(|d| d.id.as_str()).collect();
    let since = now - STREAM_STALE_SECONDS;
    match ctx.store.any_stream_open(&ids, since).await {
        Ok(open) => open,
        Err(e) => {
            // Fail open: the session stays pending (it expires) rather than failing a device
            // that may be listening.
            tracing::warn!(session_id, error = %e, "cannot check the devices' event streams");
            true
        }
    }
}

/// Label of the key [`collapse_id`] derives from the seal key.
const COLLAPSE_LABEL: &[u8] = b"tapprove push collapse id v1";

/// The device's push collapse id: a newer login prompt replaces the older one on that device,
/// and the provider learns nothing it could join with a session or an account (an HMAC of the
/// account id under a key derived from the seal key; 32 hex characters, under APNs' 64 bytes).
pub(crate) fn collapse_id(seal_key: &crate::crypto::SealKey, account_id: &str) -> String {
    let key = crate::crypto::derived_hmac_key(seal_key, COLLAPSE_LABEL);
    let tag = ring::hmac::sign(&key, account_id.as_bytes());
    tag.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The challenge sealed to the device's push key (docs/PROTOCOL.md §11): `Some(None)` for a
/// device without one (the readable payload, as before), `None` when sealing failed — that
/// device is then not pushed at all, rather than sent the login details in the clear.
fn seal(device: &AccountRow, challenge: &str, session_id: &str) -> Option<Option<SealedChallenge>> {
    let Some(key) = device.push_key.as_deref() else {
        return Some(None);
    };
    let sealed = PushPublicKey::from_base64url(key)
        .and_then(|key| sealed::seal(&key, &device.id, challenge));
    match sealed {
        Ok(sealed) => Some(Some(SealedChallenge {
            account_id: device.id.clone(),
            sealed,
        })),
        Err(e) => {
            tracing::warn!(session_id, account_id = %device.id, error = %e, "cannot seal the push; not pushing this device");
            None
        }
    }
}
