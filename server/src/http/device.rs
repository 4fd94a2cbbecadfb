//! Device API (PROTOCOL.md §6–§7): pair, push token, unpair, pending, answers, event stream.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tapprove_protocol::api::{
    AnswerRequest, AnswerResponse, DecidedEvent, ErrorCode, KeyProtection, PairRequest,
    PairResponse, PendingResponse, PushEnvironment, PushPlatform, PushRegistration, SessionStatus,
};
use tapprove_protocol::{SDK_KEY_HEADER, UserVerification};
use tokio::sync::broadcast::error::RecvError;

use super::extract::{ApiJson, DeviceCall, check_sdk, parse_json};
use crate::credentials;
use crate::devices::{self, PairingKind};
use crate::error::ApiError;
use crate::events::{BusEvent, DeviceEvent, DeviceSubscription};
use crate::policy::PresencePolicy;
use crate::state::{AppState, STREAM_STALE_SECONDS};
use crate::store::{AccountRow, ProjectRow, Stored};
use crate::webhook::{self, TrustOutcome};
use crate::{crypto, ratelimit, sessions};

const MAX_USER_CHARS: usize = 256;
const MAX_CODE_CHARS: usize = 128;
const MAX_DEVICE_NAME_CHARS: usize = 100;
const MAX_PUSH_TOKEN_CHARS: usize = 4096;

fn validate_push(push: &PushRegistration) -> Result<(), ApiError> {
    match push.platform {
        PushPlatform::None => Ok(()),
        PushPlatform::Apns | PushPlatform::Fcm => {
            if push.token.trim().is_empty() {
                return Err(ApiError::invalid_request(
                    "`push.token` is required for apns and fcm.",
                ));
            }
            if push.token.len() > MAX_PUSH_TOKEN_CHARS {
                return Err(ApiError::invalid_request("`push.token` is too long."));
            }
            Ok(())
        }
    }
}

fn push_columns(
    push: Option<&PushRegistration>,
) -> (PushPlatform, String, Option<PushEnvironment>) {
    match push {
        Some(p) if p.platform != PushPlatform::None => {
            (p.platform, p.token.trim().to_owned(), p.environment)
        }
        _ => (PushPlatform::None, String::new(), None),
    }
}

/// `POST /v1/device/pair`.
pub(crate) async fn pair(
    State(state): State<AppState>,
    request: Request,
) -> Result<(StatusCode, axum::Json<PairResponse>), ApiError> {
    check_sdk(&state, request.headers())?;
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let sdk_key = request
        .headers()
        .get(SDK_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let invalid_sdk_key = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidSdkKey,
            "The app's SDK key is missing or unknown to this service: check the SDK key the app \
             is configured with (X-Tapprove-SDK-Key).",
        )
    };
    if !credentials::is_well_formed_sdk_key(&sdk_key) {
        return Err(invalid_sdk_key());
    }
    let project = state
        .0
        .store
        .project_by_sdk_key(&sdk_key)
        .await?
        .ok_or_else(invalid_sdk_key)?;
    let now = crate::now();
    let limits = &state.0.config.limits;
    let limited = |retry| {
        tracing::info!(project_id = %project.id, "pairing rate limit hit");
        ApiError::rate_limited(
            "Too many pairing attempts; wait a minute and try again.",
            retry,
        )
    };
    let store = &state.0.store;
    let per_ip = format!("pair|{}|{ip}", project.id);
    ratelimit::take(store, &per_ip, limits.pairings_per_minute_per_ip, 60, now)
        .await?
        .map_err(limited)?;
    let per_key = format!("pair|{}", project.id);
    ratelimit::take(
        store,
        &per_key,
        limits.pairings_per_minute_per_sdk_key,
        60,
        now,
    )
    .await?
    .map_err(limited)?;

    let ApiJson(PairBody {
        request: req,
        key_protection,
    }) = ApiJson::<PairBody>::from_request(request, &state).await?;
    let user = req.user.trim().to_owned();
    if user.is_empty() || user.chars().count() > MAX_USER_CHARS {
        return Err(ApiError::invalid_request(format!(
            "`user` must be 1 to {MAX_USER_CHARS} characters."
        )));
    }
    if req.pairing_code.trim().is_empty() || req.pairing_code.chars().count() > MAX_CODE_CHARS {
        return Err(ApiError::invalid_request(format!(
            "`pairing_code` must be 1 to {MAX_CODE_CHARS} characters."
        )));
    }
    if req
        .device_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_DEVICE_NAME_CHARS)
    {
        return Err(ApiError::invalid_request(format!(
            "`device_name` must be at most {MAX_DEVICE_NAME_CHARS} characters."
        )));
    }
    if let Some(push) = &req.push {
        validate_push(push)?;
    }

    let code = req.pairing_code.trim();
    let public_key = req.public_key.to_base64url();
    match devices::pairing_kind(
        &state.0.store,
        &state.0.seal_key,
        &project.id,
        &public_key,
        code,
    )
    .await?
    {
        PairingKind::New => {}
        PairingKind::Repeat(account) => {
            tracing::info!(project_id = %project.id, account_id = %account.id, "repeated pairing: same account");
            return Ok(paired(&state, project, *account));
        }
        PairingKind::KeyInUse => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::InvalidRequest,
                format!(
                    "This device key is already paired with {}: pair with a new device key.",
                    project.name
                ),
            ));
        }
    }
    let outcome = webhook::ask_trust(&state, &project, &user, code).await;
    let TrustOutcome::Trusted(canonical) = outcome else {
        tracing::info!(project_id = %project.id, outcome = outcome.label(), "pairing rejected");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::PairingRejected,
            outcome.message(&project.name),
        ));
    };
    // One identity per user: the site's canonical name, if it gave one.
    let user = canonical.unwrap_or(user);
    let account_id = crypto::new_id("acc_").map_err(|_| ApiError::internal())?;
    let (platform, token, environment) = push_columns(req.push.as_ref());
    let now = crate::now();
    let account = AccountRow {
        id: account_id,
        project_id: project.id.clone(),
        user_name: user,
        public_key,
        device_name: req.device_name.clone(),
        push_platform: Stored(platform),
        push_token: token,
        push_environment: environment.map(Stored),
        push_registered_at: now,
        created_at: now,
        unpaired_at: None,
        key_protection: Stored(key_protection),
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
        pairing_code_hash: Some(credentials::pairing_code_tag(
            &state.0.seal_key,
            &project.id,
            code,
        )),
        // Validated (32 bytes, not a low-order point) when the body was parsed.
        push_key: req.push_key.as_ref().map(|k| k.to_base64url()),
    };
    state.0.store.insert_account(&account).await?;
    tracing::info!(project_id = %project.id, account_id = %account.id, sealed_push = account.push_key.is_some(), "device paired");
    Ok(paired(&state, project, account))
}

/// Body of `POST /v1/device/pair`: the protocol's request and the optional `key_protection`
/// (docs/PROTOCOL.md §6; absent = `unknown`).
#[derive(Debug, serde::Deserialize)]
struct PairBody {
    #[serde(flatten)]
    request: PairRequest,
    #[serde(default)]
    key_protection: KeyProtection,
}

fn paired(
    state: &AppState,
    project: ProjectRow,
    account: AccountRow,
) -> (StatusCode, axum::Json<PairResponse>) {
    (
        StatusCode::CREATED,
        axum::Json(PairResponse {
            user_verification: PresencePolicy::from_stored(
                &project.presence_policy,
                project.entry_digits,
            )
            .requires_user_verification()
            .then_some(UserVerification::Required),
            account_id: account.id,
            project_id: project.id,
            project_name: project.name,
            user: account.user_name,
            service_key: state.0.service_public.clone(),
            server_time: crate::now(),
        }),
    )
}

/// `PUT /v1/device/push-token`.
pub(crate) async fn push_token(
    State(state): State<AppState>,
    call: DeviceCall,
) -> Result<StatusCode, ApiError> {
    let reg: PushRegistration = parse_json(&call.body)?;
    validate_push(&reg)?;
    let (platform, token, environment) = push_columns(Some(&reg));
    if !state
        .0
        .store
        .update_push(
            &call.account.id,
            platform,
            &token,
            environment,
            crate::now(),
        )
        .await?
    {
        return Err(ApiError::not_paired());
    }
    tracing::info!(account_id = %call.account.id, platform = ?platform, "push registration updated");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/device`.
pub(crate) async fn unpair(
    State(state): State<AppState>,
    call: DeviceCall,
) -> Result<StatusCode, ApiError> {
    if !state.0.store.unpair(&call.account.id, crate::now()).await? {
        return Err(ApiError::not_paired());
    }
    state
        .publish(BusEvent::Unpaired {
            account_id: call.account.id.clone(),
        })
        .await;
    tracing::info!(account_id = %call.account.id, "device unpaired");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/device/pending`.
pub(crate) async fn pending(
    State(state): State<AppState>,
    call: DeviceCall,
) -> Result<axum::Json<PendingResponse>, ApiError> {
    let challenges = state
        .0
        .store
        .pending_challenges(&call.account.id, crate::now())
        .await?;
    Ok(axum::Json(PendingResponse {
        key_update: None,
        challenges,
    }))
}

/// `POST /v1/device/answers` (PROTOCOL.md §7).
pub(crate) async fn answer(
    State(state): State<AppState>,
    request: Request,
) -> Result<axum::Json<AnswerResponse>, ApiError> {
    check_sdk(&state, request.headers())?;
    let ApiJson(AnswerRequest { answer: token }) = ApiJson::from_request(request, &state).await?;
    Ok(axum::Json(sessions::answer(&state, &token).await?))
}

/// State of one event stream.
struct EventStream {
    state: AppState,
    account_id: String,
    backlog: std::collections::VecDeque<Event>,
    events: DeviceSubscription,
    stop: tokio::sync::watch::Receiver<bool>,
    /// Its row in `event_streams` (every instance sees the device as reachable).
    stream_id: String,
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let store = self.state.0.store.clone();
        let stream_id = std::mem::take(&mut self.stream_id);
        // At shutdown the runtime may be gone: the row then goes stale and is swept.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            if let Err(e) = store.stream_closed(&stream_id).await {
                tracing::warn!(error = %e, "cannot forget a closed event stream");
            }
        });
    }
}

fn challenge_event(jws: &str) -> Event {
    Event::default().event("challenge").data(jws)
}

fn decided_event(session_id: &str, status: SessionStatus) -> Option<Event> {
    let data = serde_json::to_string(&DecidedEvent {
        session_id: session_id.to_owned(),
        status,
    })
    .ok()?;
    Some(Event::default().event("decided").data(data))
}

impl EventStream {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.backlog.pop_front() {
                return Some(e);
            }
            tokio::select! {
                event = self.events.rx.recv() => match event {
                    Ok(DeviceEvent::Challenge(jws)) => return Some(challenge_event(&jws)),
                    Ok(DeviceEvent::Decided { session_id, status }) => {
                        if let Some(e) = decided_event(&session_id, status) {
                            return Some(e);
                        }
                    }
                    Ok(DeviceEvent::Unpaired) => return None,
                    Err(RecvError::Lagged(_)) => {
                        // Missed events: resend what is pending (devices deduplicate by session).
                        let pending = self
                            .state
                            .0
                            .store
                            .pending_challenges(&self.account_id, crate::now())
                            .await
                            .unwrap_or_default();
                        self.backlog.extend(pending.iter().map(|j| challenge_event(j)));
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = crate::events::stopped(&mut self.stop) => return None,
            }
        }
    }
}

/// `GET /v1/device/events` (SSE): pending challenges first, then live `challenge` and
/// `decided` events, with `: keep-alive` comments.
pub(crate) async fn events(
    State(state): State<AppState>,
    call: DeviceCall,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Subscribe before reading pending, so nothing falls between the two.
    let events = state.0.bus.subscribe_device(&call.account.id);
    let pending = state
        .0
        .store
        .pending_challenges(&call.account.id, crate::now())
        .await?;
    let since = crate::now() - STREAM_STALE_SECONDS;
    let open = state.0.store.open_streams(&call.account.id, since).await?;
    let cap = state.0.config.max_event_streams_per_account;
    if open >= i64::from(cap) {
        tracing::info!(account_id = %call.account.id, open, "event stream cap reached");
        return Err(ApiError::rate_limited(
            format!(
                "This device already has {open} open event streams (at most {cap}); close one \
                 (one per running app is enough), then try again."
            ),
            u64::try_from(STREAM_STALE_SECONDS).unwrap_or(30),
        ));
    }
    let stream_id = crypto::new_id("evs_").map_err(|_| ApiError::internal())?;
    state
        .0
        .store
        .stream_opened(
            &stream_id,
            &call.account.id,
            &state.0.instance_id,
            crate::now(),
        )
        .await?;
    tracing::info!(account_id = %call.account.id, pending = pending.len(), "event stream opened");
    let keep_alive = state.0.config.event_keep_alive;
    let stream = EventStream {
        stop: state.0.shutdown.clone(),
        state,
        account_id: call.account.id,
        backlog: pending.iter().map(|j| challenge_event(j)).collect(),
        events,
        stream_id,
    };
    let stream = futures_util::stream::unfold(stream, |mut s| async move {
        let event = s.next().await?;
        Some((Ok::<_, Infallible>(event), s))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive")))
}
