//! Device API (PROTOCOL.md §6–§7): pair, push token, unpair, pending, answers, event stream.

use std::convert::Infallible;

use std::sync::Arc;

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tapprove_protocol::api::{
    AnswerRequest, AnswerResponse, DecidedEvent, KEY_UPDATE_EVENT, KEY_UPDATE_HEADER, PairRequest,
    PairResponse, PendingResponse, PushPlatform, PushRegistration, SessionStatus, ShownRequest,
};
use tapprove_protocol::{SDK_KEY_HEADER, UserVerification};
use tokio::sync::broadcast::error::RecvError;

use super::extract::{ApiJson, DeviceCall, check_sdk, parse_json};
use crate::crypto;
use crate::domain::audit::{self, Actor, AuditEvent, Limit};
use crate::domain::bus::{BusEvent, DeviceEvent, DeviceSubscription};
use crate::domain::pairing::{self, Paired};
use crate::domain::policy::PresencePolicy;
use crate::domain::service_keys::KeySet;
use crate::domain::{ratelimit, sessions};
use crate::error::ApiError;
use crate::service::state::{AppState, STREAM_STALE_SECONDS};
use crate::store::AccountRow;

/// `X-Tapprove-Key-Update` on a successful device call, for a device pinned to a key in its
/// grace period (docs/PROTOCOL.md §5a).
type KeyUpdateHeader = Option<[(HeaderName, HeaderValue); 1]>;

fn key_update_header(keys: &KeySet, account: &AccountRow, now: i64) -> KeyUpdateHeader {
    let token = keys.update_for(account.service_kid.as_deref(), now)?;
    let value = HeaderValue::from_str(token).ok()?;
    Some([(HeaderName::from_static(KEY_UPDATE_HEADER), value)])
}

/// `POST /v1/device/pair`: the per-address limit before the body is read, then the domain's
/// pairing (docs/PROTOCOL.md §6).
pub(crate) async fn pair(
    State(state): State<AppState>,
    request: Request,
) -> Result<(StatusCode, axum::Json<PairResponse>), ApiError> {
    check_sdk(&state, request.headers())?;
    let ip = crate::http::client_ip::of(&request)
        .map(crate::http::client_ip::limit_key)
        .unwrap_or_default();
    let sdk_key = request
        .headers()
        .get(SDK_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let now = crate::now();
    let project = pairing::project_for_sdk_key(state.pairing(), &sdk_key).await?;
    pairing::limit_address(state.pairing(), &project, &ip, now).await?;
    let ApiJson(req) = ApiJson::<PairRequest>::from_request(request, &state).await?;
    let key_protection = req.key_protection.unwrap_or_default();
    let paired = pairing::pair(state.pairing(), project, req, key_protection, &ip, now).await?;
    Ok(render_paired(paired, now, state.0.push.vapid_public_key()))
}

fn render_paired(
    p: Paired,
    now: i64,
    vapid_public_key: Option<String>,
) -> (StatusCode, axum::Json<PairResponse>) {
    let Paired {
        project,
        account,
        service_key,
    } = p;
    (
        StatusCode::CREATED,
        axum::Json(PairResponse {
            user_verification: PresencePolicy::of(&project)
                .requires_user_verification()
                .then_some(UserVerification::Required),
            account_id: account.id,
            project_id: project.id,
            project_name: project.name,
            user: account.user_name,
            service_key,
            server_time: now,
            vapid_public_key,
        }),
    )
}

/// `PUT /v1/device/push-token`.
pub(crate) async fn push_token(
    State(state): State<AppState>,
    call: DeviceCall,
) -> Result<(KeyUpdateHeader, StatusCode), ApiError> {
    let reg: PushRegistration = parse_json(&call.body)?;
    pairing::validate_push(state.0.push.as_ref(), &reg)?;
    let (platform, token, environment) = pairing::push_columns(Some(&reg));
    let now = crate::now();
    if !state
        .0
        .store
        .update_push(&call.account.id, platform, &token, environment, now)
        .await?
    {
        return Err(ApiError::not_paired());
    }
    tracing::info!(account_id = %call.account.id, platform = ?platform, "push registration updated");
    let keys = state.keys().await?;
    Ok((
        key_update_header(&keys, &call.account, now),
        StatusCode::NO_CONTENT,
    ))
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
    let a = &call.account;
    let event = AuditEvent::DeviceUnpaired {
        project_id: &a.project_id,
        account_id: &a.id,
        user: &a.user_name,
    };
    audit::record(&state.0.store, event).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/device/pending`: the key update (also in the header) before the challenges, which
/// may already be signed with the new key.
pub(crate) async fn pending(
    State(state): State<AppState>,
    call: DeviceCall,
) -> Result<(KeyUpdateHeader, axum::Json<PendingResponse>), ApiError> {
    let now = crate::now();
    let keys = state.keys().await?;
    let challenges = state
        .0
        .store
        .pending_challenges(&call.account.id, now)
        .await?;
    let key_update = keys
        .update_for(call.account.service_kid.as_deref(), now)
        .map(str::to_owned);
    Ok((
        key_update_header(&keys, &call.account, now),
        axum::Json(PendingResponse {
            key_update,
            challenges,
            // A device that polls on purpose registered no push; one whose token the provider
            // refused (delivery clears it) is told so and sends it again.
            push_token_missing: call.account.push_token.is_empty()
                && call.account.push_platform.0 != PushPlatform::None,
        }),
    ))
}

/// `POST /v1/device/answers` (PROTOCOL.md §7).
pub(crate) async fn answer(
    State(state): State<AppState>,
    request: Request,
) -> Result<(KeyUpdateHeader, axum::Json<AnswerResponse>), ApiError> {
    check_sdk(&state, request.headers())?;
    let ApiJson(AnswerRequest { answer: token }) = ApiJson::from_request(request, &state).await?;
    let now = crate::now();
    let (response, account) = sessions::answer(state.sessions(), &token, now).await?;
    // The decision is made: a failure to read the keys must not hide it.
    let header = match state.keys().await {
        Ok(keys) => key_update_header(&keys, &account, now),
        Err(_) => None,
    };
    Ok((header, axum::Json(response)))
}

/// `POST /v1/device/shown` (PROTOCOL.md §7a): the phone showed a `display` session's code to
/// a verified user.
pub(crate) async fn shown(
    State(state): State<AppState>,
    request: Request,
) -> Result<(KeyUpdateHeader, axum::Json<AnswerResponse>), ApiError> {
    check_sdk(&state, request.headers())?;
    let ApiJson(ShownRequest { shown: token }) = ApiJson::from_request(request, &state).await?;
    let now = crate::now();
    let (response, account) = sessions::shown(state.sessions(), &token, now).await?;
    let header = match state.keys().await {
        Ok(keys) => key_update_header(&keys, &account, now),
        Err(_) => None,
    };
    Ok((header, axum::Json(response)))
}

/// The most an event stream's pending `next` may take, inline; a store query awaited inline
/// is ~8 KB (release build).
const IDLE_STREAM_FUTURE_BYTES: usize = 1024;

/// State of one event stream.
struct EventStream {
    state: AppState,
    account_id: String,
    backlog: std::collections::VecDeque<Event>,
    events: DeviceSubscription,
    stop: tokio::sync::watch::Receiver<bool>,
    /// Its row in `event_streams` (every instance sees the device as reachable).
    stream_id: String,
    /// The service keys: a rotation sends a `key_update` event (§5a).
    keys: tokio::sync::watch::Receiver<Arc<KeySet>>,
    /// Counts it in `tapprove_event_streams_open` while it lives.
    _open: crate::service::metrics::StreamGuard,
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let store = self.state.0.store.clone();
        let stream_id = std::mem::take(&mut self.stream_id);
        // At shutdown the runtime may be gone: the row then goes stale and is swept. Otherwise
        // the service owns the delete, so shutdown waits for it.
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        self.state.spawn(async move {
            if let Err(e) = store.stream_closed(&stream_id).await {
                tracing::warn!(error = %e, "cannot forget a closed event stream");
            }
        });
    }
}

fn key_update_event(jws: &str) -> Event {
    Event::default().event(KEY_UPDATE_EVENT).data(jws)
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
                        // Boxed, as the key update below: an idle stream holds this future,
                        // whose size is its largest await (a store query is ~8 KB inline).
                        let pending = Box::pin(
                            self.state
                                .0
                                .store
                                .pending_challenges(&self.account_id, crate::now()),
                        )
                        .await
                        .unwrap_or_default();
                        self.backlog.extend(pending.iter().map(|j| challenge_event(j)));
                    }
                    Err(RecvError::Closed) => return None,
                },
                changed = self.keys.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    if let Some(e) = Box::pin(self.key_update()).await {
                        return Some(e);
                    }
                }
                _ = crate::domain::bus::stopped(&mut self.stop) => return None,
            }
        }
    }

    /// The key update for this device after the keys changed (a rotation moves its pinned
    /// key in the database, so the row is read again).
    async fn key_update(&mut self) -> Option<Event> {
        let keys = self.keys.borrow_and_update().clone();
        let account = match self.state.0.store.account(&self.account_id).await {
            Ok(Some(a)) => a,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the account for a key update");
                return None;
            }
        };
        let token = keys.update_for(account.service_kid.as_deref(), crate::now())?;
        tracing::info!(account_id = %self.account_id, "key update sent on the event stream");
        Some(key_update_event(token))
    }
}

/// `GET /v1/device/events` (SSE): a key update if the device needs one, pending challenges,
/// then live `challenge`, `decided` and `key_update` events, with `: keep-alive` comments.
pub(crate) async fn events(
    State(state): State<AppState>,
    call: DeviceCall,
) -> Result<
    (
        KeyUpdateHeader,
        Sse<impl Stream<Item = Result<Event, Infallible>>>,
    ),
    ApiError,
> {
    let now = crate::now();
    // Subscribe before reading pending (and the keys), so nothing falls between the two.
    let events = state.0.bus.subscribe_device(&call.account.id);
    let mut keys_rx = state.0.service_keys.watch();
    keys_rx.borrow_and_update();
    let keys = state.keys().await?;
    let pending = state
        .0
        .store
        .pending_challenges(&call.account.id, now)
        .await?;
    let since = now - STREAM_STALE_SECONDS;
    let cap = state.0.config.max_event_streams_per_account;
    let stream_id = crypto::new_id("evs_").map_err(|_| ApiError::internal())?;
    // Counted and recorded in one step: parallel opens cannot all pass the last place.
    let opened = state
        .0
        .store
        .stream_opened(
            &stream_id,
            &call.account.id,
            &state.0.instance_id,
            now,
            (since, cap),
        )
        .await?;
    if let Err(open) = opened {
        tracing::info!(account_id = %call.account.id, open, "event stream cap reached");
        let a = &call.account;
        ratelimit::record_refusal(
            state.refusals(),
            &a.project_id,
            Actor::Device(Some(a.id.clone())),
            &a.id,
            Some(&a.user_name),
            Limit::EventStreams,
        )
        .await;
        return Err(ApiError::rate_limited(
            format!(
                "This device already has {open} open event streams (at most {cap}); close one \
                 (one per running app is enough), then try again."
            ),
            u64::try_from(STREAM_STALE_SECONDS).unwrap_or(30),
        ));
    }
    tracing::info!(account_id = %call.account.id, pending = pending.len(), "event stream opened");
    let keep_alive = state.0.config.event_keep_alive;
    let header = key_update_header(&keys, &call.account, now);
    // The key update first: the challenges after it may be signed with the new key.
    let backlog = keys
        .update_for(call.account.service_kid.as_deref(), now)
        .map(key_update_event)
        .into_iter()
        .chain(pending.iter().map(|j| challenge_event(j)))
        .collect();
    let mut stream = EventStream {
        _open: crate::service::metrics::StreamGuard::open(&state.0.metrics),
        stop: state.0.shutdown.clone(),
        state,
        account_id: call.account.id,
        backlog,
        events,
        stream_id,
        keys: keys_rx,
    };
    // Every idle stream holds this future: a slow path left inline costs each one kilobytes.
    debug_assert!(
        std::mem::size_of_val(&stream.next()) <= IDLE_STREAM_FUTURE_BYTES,
        "box the slow paths of EventStream::next: its future is {} bytes",
        std::mem::size_of_val(&stream.next())
    );
    let stream = futures_util::stream::unfold(stream, |mut s| async move {
        let event = s.next().await?;
        Some((Ok::<_, Infallible>(event), s))
    });
    Ok((
        header,
        Sse::new(stream).keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive")),
    ))
}
