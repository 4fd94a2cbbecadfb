//! Delivery of a new session: push to every APNs/FCM device concurrently (spawned, so the
//! relying party's `201` never waits), forget dead tokens, and mark the session
//! `error` / `delivery_failed` when no device can be reached at all.

use futures_util::future::join_all;
use tapprove_protocol::api::{PushEnvironment, PushPlatform, SessionReason, SessionStatus};
use tapprove_push::{PushMessage, PushOutcome, PushTarget};

use crate::rp_api::{announce_decided, parse_wire, wire};
use crate::service::AppState;
use crate::store::{AccountRow, SessionDeviceRow, SessionRow};

/// Starts delivery in the background.
pub(crate) fn spawn(
    state: &AppState,
    session: &SessionRow,
    devices: Vec<AccountRow>,
    challenges: Vec<SessionDeviceRow>,
) {
    let state = state.clone();
    let session_id = session.id.clone();
    let title = session.title.clone();
    let body = session.body.clone();
    let expires_at = session.expires_at;
    tokio::spawn(async move {
        deliver(
            &state,
            &session_id,
            &title,
            &body,
            expires_at,
            devices,
            challenges,
        )
        .await;
    });
}

async fn deliver(
    state: &AppState,
    session_id: &str,
    title: &str,
    body: &str,
    expires_at: i64,
    devices: Vec<AccountRow>,
    challenges: Vec<SessionDeviceRow>,
) {
    // A device without push polls or listens on the event stream: it is reachable.
    let polls = devices
        .iter()
        .any(|d| d.push_platform == wire(&PushPlatform::None));
    let mut sends = Vec::new();
    for device in &devices {
        let Some(platform) = parse_wire::<PushPlatform>(&device.push_platform) else {
            continue;
        };
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
            environment: device
                .push_environment
                .as_deref()
                .and_then(parse_wire::<PushEnvironment>),
            registered_at: device.push_registered_at,
        };
        let message = PushMessage {
            session_id: session_id.to_owned(),
            title: title.to_owned(),
            body: body.to_owned(),
            challenge: challenge.challenge.clone(),
            expires_at,
        };
        sends.push(async move {
            let outcome = state.0.push.send(&target, &message).await;
            (target, outcome)
        });
    }
    let outcomes = join_all(sends).await;
    let mut delivered = false;
    for (target, outcome) in outcomes {
        match outcome {
            PushOutcome::Delivered => {
                delivered = true;
                tracing::info!(session_id, account_id = %target.device_id, "push delivered");
            }
            PushOutcome::DeadToken { reason } => {
                tracing::info!(session_id, account_id = %target.device_id, %reason, "push token is dead; forgetting it");
                if let Err(e) = state
                    .0
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
    if delivered || polls {
        return;
    }
    let ids: Vec<&str> = devices.iter().map(|d| d.id.as_str()).collect();
    if state.0.bus.any_listening(ids.iter().copied()) {
        return;
    }
    match state
        .0
        .store
        .decide(
            session_id,
            SessionStatus::Error.as_str(),
            &wire(&SessionReason::DeliveryFailed),
            crate::now(),
            None,
            None,
        )
        .await
    {
        Ok(true) => {
            tracing::warn!(session_id, "no device could be reached: session failed");
            announce_decided(state, session_id, SessionStatus::Error).await;
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(session_id, error = %e, "cannot mark the session failed"),
    }
}
