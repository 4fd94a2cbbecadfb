//! Events the service sends the site (PROTOCOL.md §8a): `user.fraud_reported`, POSTed to the
//! project's events URL and signed like the trust webhook (HTTP Basic + Standard Webhooks).
//! Sent in the background with a few retries; a site without an events URL gets none.

use std::time::Duration;

use serde::Serialize;
use tapprove_protocol::Context;

use crate::state::AppState;
use crate::store::SessionRow;
use crate::webhook::signed_post;

/// Attempts per event, and the pause before each retry.
const RETRY_PAUSES: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(8)];

/// `user.fraud_reported`.
#[derive(Debug, Serialize)]
struct FraudReported<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    user: &'a str,
    session: &'a str,
    ip: Option<&'a str>,
    context: &'a Context,
    locked_until: i64,
}

/// Tells the site that `session`'s user answered "not me" and is locked until `locked_until`.
pub(crate) fn fraud_reported(state: &AppState, session: &SessionRow, locked_until: i64) {
    let context: Context = serde_json::from_str(&session.context_json).unwrap_or_default();
    let body = FraudReported {
        kind: "user.fraud_reported",
        user: &session.user_name,
        session: &session.id,
        ip: context.ip.as_deref(),
        context: &context,
        locked_until,
    };
    let Ok(body) = serde_json::to_vec(&body) else {
        tracing::error!(session_id = %session.id, "cannot encode the fraud event");
        return;
    };
    let state = state.clone();
    let project_id = session.project_id.clone();
    let session_id = session.id.clone();
    tokio::spawn(async move { send(&state, &project_id, &session_id, body).await });
}

async fn send(state: &AppState, project_id: &str, session_id: &str, body: Vec<u8>) {
    let project = match state.0.store.project_by_id(project_id).await {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(project_id, error = %e, "cannot read the project for its event");
            return;
        }
    };
    let Some(url) = project.events_url.clone() else {
        tracing::info!(
            project_id,
            session_id,
            "no events URL: the fraud report is not sent"
        );
        return;
    };
    for attempt in 0..=RETRY_PAUSES.len() {
        if let Some(pause) = attempt.checked_sub(1).and_then(|i| RETRY_PAUSES.get(i)) {
            tokio::time::sleep(*pause).await;
        }
        // Signed afresh each time: the timestamp must be current.
        let request = match signed_post(state, &project, &url, body.clone()) {
            Ok(r) => r,
            Err(why) => {
                tracing::error!(project_id, session_id, why, "cannot send the fraud event");
                return;
            }
        };
        match request.send().await {
            Ok(r) if r.status().is_success() => {
                tracing::info!(project_id, session_id, "fraud event delivered");
                return;
            }
            Ok(r) if r.status().is_client_error() => {
                tracing::warn!(
                    project_id,
                    session_id,
                    status = r.status().as_u16(),
                    "the site refused the fraud event"
                );
                return;
            }
            Ok(r) => {
                tracing::warn!(
                    project_id,
                    session_id,
                    status = r.status().as_u16(),
                    attempt,
                    "fraud event failed"
                );
            }
            Err(e) => {
                tracing::warn!(project_id, session_id, error = %e, attempt, "fraud event not delivered");
            }
        }
    }
}
