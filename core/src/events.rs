//! The live event stream (`GET /v1/device/events`, Server-Sent Events) as a `Stream`.

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{self, Stream, StreamExt as _};
use reqwest::Method;
use reqwest::header::ACCEPT;
use tapprove_protocol::api::DecidedEvent;
use tracing::{debug, warn};

use crate::authenticator::Inner;
use crate::error::{CoreError, SignerError};
use crate::http::{self, Auth};
use crate::model::{AccountRecord, LoginRequest, RequestEvent};
use crate::sse::SseParser;

/// The stream returned by [`crate::Authenticator::events`].
pub type EventStream = Pin<Box<dyn Stream<Item = Result<RequestEvent, CoreError>> + Send>>;

/// Reconnect when nothing (not even a keep-alive comment, sent every 15 s) arrives this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// First reconnect delay; doubles per consecutive failure.
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest reconnect delay.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

pub(crate) fn failed(e: CoreError) -> EventStream {
    Box::pin(stream::once(async move { Err(e) }))
}

pub(crate) fn stream(inner: Arc<Inner>, accounts: Vec<Arc<AccountRecord>>) -> EventStream {
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let streams = accounts.into_iter().map(|account| {
        let state = State {
            inner: inner.clone(),
            account,
            seen: seen.clone(),
            queue: VecDeque::new(),
            body: None,
            parser: SseParser::new(),
            failures: 0,
            connected_before: false,
            done: false,
        };
        Box::pin(stream::unfold(state, next)) as EventStream
    });
    Box::pin(stream::select_all(streams))
}

struct State {
    inner: Arc<Inner>,
    account: Arc<AccountRecord>,
    /// Request ids already delivered on this stream (shared by the accounts of one stream).
    seen: Arc<Mutex<HashSet<String>>>,
    queue: VecDeque<Result<RequestEvent, CoreError>>,
    body: Option<Body>,
    parser: SseParser,
    failures: u32,
    connected_before: bool,
    done: bool,
}

/// Errors after which reconnecting cannot help.
fn is_fatal(e: &CoreError) -> bool {
    matches!(
        e,
        CoreError::NotPaired
            | CoreError::UpdateRequired { .. }
            | CoreError::UnknownAccount { .. }
            | CoreError::InvalidSdkKey
            | CoreError::Signer(SignerError::KeyNotFound { .. })
    )
}

/// Delay before reconnect attempt number `failures` (1-based).
pub(crate) fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(1 << exp).min(BACKOFF_MAX)
}

impl State {
    fn deliver(&mut self, request: LoginRequest) {
        let fresh = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request.id.clone());
        if fresh && !self.inner.is_answered(&request.id) {
            self.queue.push_back(Ok(RequestEvent::Request(request)));
        }
    }

    fn fail(&mut self, e: CoreError) {
        if is_fatal(&e) {
            self.done = true;
        } else {
            self.failures = self.failures.saturating_add(1);
        }
        self.body = None;
        self.queue.push_back(Err(e));
    }

    fn on_event(&mut self, event: &str, data: &str) {
        match event {
            "challenge" => match self.inner.accept_challenge(data, Some(&self.account.id)) {
                Ok(r) => self.deliver(r),
                Err(CoreError::AlreadyAnswered) => {}
                Err(CoreError::Expired) => {
                    debug!(account_id = %self.account.id, "skipping an expired request")
                }
                Err(e) => {
                    warn!(account_id = %self.account.id, error = %e, "refusing a request from the event stream");
                    self.queue.push_back(Err(e));
                }
            },
            "decided" => match serde_json::from_str::<DecidedEvent>(data) {
                Ok(d) => {
                    self.inner.forget_request(&d.session_id);
                    self.queue.push_back(Ok(RequestEvent::Decided {
                        request_id: d.session_id,
                        status: d.status,
                    }));
                }
                Err(e) => warn!(error = %e, "ignoring an unreadable decided event"),
            },
            other => debug!(event = other, "ignoring event"),
        }
    }
}

async fn connect(inner: &Inner, account: &AccountRecord) -> Result<Body, CoreError> {
    let auth = Auth::Proof {
        account,
        signer: inner.signer.as_ref(),
        now: inner.now_for(account),
    };
    let rb = http::request(
        &inner.http,
        &account.server_url,
        Method::GET,
        "/v1/device/events",
        None,
        auth,
    )?
    .header(ACCEPT, "text/event-stream");
    let resp = rb.send().await.map_err(|e| CoreError::network(&e))?;
    inner.observe_date(&account.server_url, resp.headers());
    let status = resp.status();
    if !status.is_success() {
        let headers = resp.headers().clone();
        let body = tokio::time::timeout(http::REQUEST_TIMEOUT, resp.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        return Err(http::error_from_response(status, &headers, &body));
    }
    Ok(Box::pin(resp.bytes_stream()))
}

async fn next(mut st: State) -> Option<(Result<RequestEvent, CoreError>, State)> {
    loop {
        if let Some(item) = st.queue.pop_front() {
            return Some((item, st));
        }
        if st.done {
            return None;
        }
        let Some(body) = st.body.as_mut() else {
            if st.failures > 0 {
                tokio::time::sleep(backoff(st.failures)).await;
            }
            if st.connected_before {
                // Re-read what may have been missed while disconnected.
                match st.inner.fetch_pending(&st.account).await {
                    Ok(list) => list.into_iter().for_each(|r| st.deliver(r)),
                    Err(e) => {
                        st.fail(e);
                        continue;
                    }
                }
            }
            match connect(&st.inner, &st.account).await {
                Ok(body) => {
                    debug!(account_id = %st.account.id, "event stream connected");
                    st.body = Some(body);
                    st.parser = SseParser::new();
                    st.connected_before = true;
                }
                Err(e) => st.fail(e),
            }
            continue;
        };
        match tokio::time::timeout(IDLE_TIMEOUT, body.next()).await {
            Ok(Some(Ok(chunk))) => {
                st.failures = 0;
                match st.parser.push(&chunk) {
                    Ok(events) => {
                        for ev in events {
                            st.on_event(&ev.event, &ev.data);
                        }
                    }
                    Err(e) => st.fail(CoreError::Network {
                        message: e.to_string(),
                    }),
                }
            }
            Ok(Some(Err(e))) => st.fail(CoreError::network(&e)),
            Ok(None) => {
                // The service closed the stream (restart, deploy): reconnect after a pause.
                debug!(account_id = %st.account.id, "event stream closed; reconnecting");
                st.body = None;
                st.failures = st.failures.saturating_add(1);
            }
            Err(_) => st.fail(CoreError::Network {
                message: format!(
                    "the event stream was silent for {} s; reconnecting",
                    IDLE_TIMEOUT.as_secs()
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let secs: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn fatal_errors_end_the_stream() {
        assert!(is_fatal(&CoreError::NotPaired));
        assert!(is_fatal(&CoreError::UpdateRequired {
            message: String::new()
        }));
        assert!(!is_fatal(&CoreError::Network {
            message: String::new()
        }));
        assert!(!is_fatal(&CoreError::Service {
            status: 500,
            code: String::new(),
            message: String::new()
        }));
    }
}
