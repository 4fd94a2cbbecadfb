//! Creating a session: the user's devices and push budget, the presence code, one signed
//! challenge per device, superseding the user's pending session, delivery.

use tapprove_protocol::api::{SessionCreated, SessionReason, SessionStatus};
use tapprove_protocol::{
    Challenge, Context, MAX_TOKEN_LEN, PROTOCOL_VERSION, Presence, PresenceMode,
};

use super::{BudgetWindow, SessionError, announce_reading_devices, fail_undelivered};
use crate::events::{BusEvent, Outcome};
use crate::state::AppState;
use crate::store::{Budget, SessionDeviceRow, SessionRow, Stored, UserDevices};
use crate::{crypto, delivery};

/// A validated request for a new session.
#[derive(Debug)]
pub(crate) struct NewSession {
    pub project_id: String,
    pub user: String,
    pub title: String,
    pub body: String,
    pub context: Context,
    pub mode: PresenceMode,
    pub ttl_seconds: u32,
}

/// Creates and delivers a session; the user's pending session, if any, is superseded.
pub(crate) async fn create(
    state: &AppState,
    new: NewSession,
) -> Result<SessionCreated, SessionError> {
    let now = crate::now();
    let limits = &state.0.config.limits;
    let budget = Budget {
        per_minute: limits.sessions_per_minute,
        per_hour: limits.sessions_per_hour,
    };
    let user_devices = state
        .0
        .store
        .user_devices(&new.project_id, &new.user, now, budget)
        .await?;
    if user_devices.accounts.is_empty() {
        return Err(SessionError::NoDevice);
    }
    check_budget(&new.project_id, &user_devices, budget, now)?;
    let devices = user_devices.accounts;

    let (code, options) = presence_for(new.mode)?;
    let session_id = crypto::new_id("ses_").map_err(|_| SessionError::Internal)?;
    let expires_at = now + i64::from(new.ttl_seconds);
    let mut rows = Vec::with_capacity(devices.len());
    for device in &devices {
        let nonce = crypto::random_b64url(16).map_err(|_| SessionError::Internal)?;
        let challenge = Challenge {
            user_verification: None,
            ver: PROTOCOL_VERSION,
            session_id: session_id.clone(),
            account_id: device.id.clone(),
            user: new.user.clone(),
            title: new.title.clone(),
            body: new.body.clone(),
            context: new.context.clone(),
            presence: Presence {
                length: None,
                mode: new.mode,
                options: options.clone(),
            },
            iat: now,
            exp: expires_at,
            nonce: nonce.clone(),
        };
        let jws = challenge.sign(&state.0.service_key).map_err(|e| {
            tracing::error!(error = %e, "cannot sign a challenge");
            SessionError::Internal
        })?;
        if jws.len() > MAX_TOKEN_LEN {
            return Err(SessionError::TooLongForPush {
                signed_bytes: jws.len(),
            });
        }
        rows.push(SessionDeviceRow {
            account_id: device.id.clone(),
            nonce,
            challenge: jws,
        });
    }
    let session = SessionRow {
        id: session_id.clone(),
        project_id: new.project_id,
        user_name: new.user,
        title: new.title,
        body: new.body,
        context_json: serde_json::to_string(&new.context).map_err(|_| SessionError::Internal)?,
        presence_mode: Stored(new.mode),
        presence_code: code.clone(),
        status: Stored(SessionStatus::Sent),
        reason: None,
        created_at: now,
        expires_at,
        decided_at: None,
    };
    let superseded = state.0.store.create_session(&session, &rows).await?;
    for old in &superseded {
        let outcome = Outcome {
            status: SessionStatus::Canceled,
            reason: SessionReason::Superseded,
            decided_at: now,
        };
        announce_reading_devices(state, old, outcome).await;
    }
    for row in &rows {
        state
            .publish(BusEvent::Challenge {
                account_id: row.account_id.clone(),
                jws: row.challenge.clone(),
            })
            .await;
    }
    tracing::info!(session_id = %session_id, project_id = %session.project_id, devices = rows.len(), "session created");
    let state = state.clone();
    tokio::spawn(async move {
        if !delivery::deliver(&state, &session, &devices, &rows).await {
            fail_undelivered(&state, &session.id).await;
        }
    });
    Ok(SessionCreated {
        id: session_id,
        status: SessionStatus::Sent,
        presence_code: code,
        expires_at,
    })
}

/// The push budget: at most N sessions per minute and M per hour for a user since their last
/// approved login, counted in the database (so it survives restarts).
fn check_budget(
    project_id: &str,
    devices: &UserDevices,
    budget: Budget,
    now: i64,
) -> Result<(), SessionError> {
    let full = |limit: u32, blocker: Option<i64>| limit == 0 || blocker.is_some();
    let exhausted = |window, span: i64, blocker: Option<i64>| {
        tracing::info!(project_id, ?window, "push budget exhausted");
        let retry = blocker.map_or(span, |t| t + span - now);
        SessionError::BudgetExhausted {
            window,
            retry_after: retry.max(1) as u64,
        }
    };
    if full(budget.per_minute, devices.minute_blocker) {
        return Err(exhausted(BudgetWindow::Minute, 60, devices.minute_blocker));
    }
    if full(budget.per_hour, devices.hour_blocker) {
        return Err(exhausted(BudgetWindow::Hour, 3600, devices.hour_blocker));
    }
    Ok(())
}

/// Two-digit code and, for `choose`, the three options (code + two distinct decoys, shuffled).
fn presence_for(mode: PresenceMode) -> Result<(Option<String>, Vec<String>), SessionError> {
    let rnd = |n| crypto::random_below(n).map_err(|_| SessionError::Internal);
    match mode {
        PresenceMode::None => Ok((None, Vec::new())),
        PresenceMode::Entry => Ok((Some(format!("{:02}", rnd(100)?)), Vec::new())),
        PresenceMode::Choose => {
            let code = rnd(100)?;
            let mut picks = vec![code];
            while picks.len() < 3 {
                let d = rnd(100)?;
                if !picks.contains(&d) {
                    picks.push(d);
                }
            }
            // Fisher–Yates with the CSPRNG.
            for i in (1..picks.len()).rev() {
                let j = rnd(i as u32 + 1)? as usize;
                picks.swap(i, j);
            }
            Ok((
                Some(format!("{code:02}")),
                picks.iter().map(|p| format!("{p:02}")).collect(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_options_are_distinct_and_contain_the_code() {
        for _ in 0..200 {
            let (code, options) = presence_for(PresenceMode::Choose).expect("presence");
            let code = code.expect("code");
            assert_eq!(code.len(), 2);
            assert_eq!(options.len(), 3);
            assert!(options.contains(&code));
            assert!(
                options[0] != options[1] && options[1] != options[2] && options[0] != options[2]
            );
            Presence {
                length: None,
                mode: PresenceMode::Choose,
                options,
            }
            .validate()
            .expect("valid");
        }
        let (code, options) = presence_for(PresenceMode::None).expect("none");
        assert!(code.is_none() && options.is_empty());
        let (code, options) = presence_for(PresenceMode::Entry).expect("entry");
        assert!(code.is_some() && options.is_empty());
    }

    #[test]
    fn code_position_is_not_fixed() {
        let mut positions = [0u32; 3];
        for _ in 0..300 {
            let (code, options) = presence_for(PresenceMode::Choose).expect("presence");
            let code = code.expect("code");
            let pos = options.iter().position(|o| *o == code).expect("present");
            positions[pos] += 1;
        }
        assert!(positions.iter().all(|n| *n > 40), "{positions:?}");
    }

    #[test]
    fn budget_retry_counts_from_the_session_that_fills_the_window() {
        let devices = |minute, hour| UserDevices {
            accounts: Vec::new(),
            minute_blocker: minute,
            hour_blocker: hour,
        };
        let budget = Budget {
            per_minute: 3,
            per_hour: 10,
        };
        assert!(check_budget("p", &devices(None, None), budget, 1000).is_ok());
        assert!(matches!(
            check_budget("p", &devices(Some(990), Some(10)), budget, 1000),
            Err(SessionError::BudgetExhausted {
                window: BudgetWindow::Minute,
                retry_after: 50
            })
        ));
        assert!(matches!(
            check_budget("p", &devices(None, Some(-1000)), budget, 1000),
            Err(SessionError::BudgetExhausted {
                window: BudgetWindow::Hour,
                retry_after: 1600
            })
        ));
        let closed = Budget {
            per_minute: 0,
            per_hour: 10,
        };
        assert!(matches!(
            check_budget("p", &devices(None, None), closed, 1000),
            Err(SessionError::BudgetExhausted {
                window: BudgetWindow::Minute,
                retry_after: 60
            })
        ));
    }
}
