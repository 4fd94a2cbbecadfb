//! `tapprove-rp` against the real service (in-process, loopback, temp SQLite, as the harness
//! starts it), with a site whose trust webhook and events URL check the service's calls with
//! [`WebhookVerifier`]: pairing, a login decided while long-polling, deadlines, cancel, typed
//! errors, devices, the lock and the audit log.

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use tapprove_protocol::{Decision, DenyReason};
use tapprove_rp::{
    ApiKey, AuditQuery, CreateSessionRequest, ErrorCode, Notification, PresenceMode, RpClient,
    RpError, SessionReason, SessionStatus, SiteEvent, WebhookVerifier,
};
use tapprove_server::{RunningService, SealKey, Service, ServiceConfig, admin};
use tapprove_test_support::device::{SoftwareDevice, right_option};
use tapprove_test_support::endpoint::Endpoint;
use tapprove_test_support::fixture;

/// What the site's two endpoints saw: `Ok(id)` or the rejection's text.
#[derive(Default)]
struct Seen {
    verifier: Mutex<Option<Arc<WebhookVerifier>>>,
    trust: Mutex<Vec<Result<String, String>>>,
    events: Mutex<Vec<Result<SiteEvent, String>>>,
}

async fn trust(State(s): State<Arc<Seen>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let v = s.verifier.lock().unwrap().clone().unwrap();
    match v.verify_trust(&headers, &body, tapprove_test_support::now()) {
        Ok(call) if call.body.challenge == fixture::PAIRING_CODE => {
            s.trust.lock().unwrap().push(Ok(call.id));
            StatusCode::OK
        }
        Ok(call) => {
            s.trust.lock().unwrap().push(Ok(call.id));
            StatusCode::FORBIDDEN
        }
        Err(e) => {
            s.trust.lock().unwrap().push(Err(e.to_string()));
            StatusCode::UNAUTHORIZED
        }
    }
}

async fn events(State(s): State<Arc<Seen>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let v = s.verifier.lock().unwrap().clone().unwrap();
    let got = v.verify_event(&headers, &body, tapprove_test_support::now());
    let ok = got.is_ok();
    s.events
        .lock()
        .unwrap()
        .push(got.map(|c| c.body).map_err(|e| e.to_string()));
    if ok {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    }
}

struct World {
    service: RunningService,
    at: Endpoint,
    rp: RpClient,
    sdk_key: String,
    seen: Arc<Seen>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let seen = Arc::new(Seen::default());
    let app = axum::Router::new()
        .route("/trust", axum::routing::post(trust))
        .route("/events", axum::routing::post(events))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let seal = SealKey::generate().unwrap();
    let config = ServiceConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("sqlite://{}/t.db?mode=rwc", dir.path().display()),
        seal_key: Some(seal.clone()),
        ..ServiceConfig::default()
    };
    let service = Service::start(config.clone()).await.unwrap();
    let url = config.database_url.as_str();
    let trust_url = format!("http://{site}/trust");
    let project = admin::create_project(url, &seal, fixture::PROJECT_NAME, &trust_url)
        .await
        .unwrap();
    admin::set_events_url(
        url,
        &project.project_id,
        Some(&format!("http://{site}/events")),
    )
    .await
    .unwrap();
    let verifier = WebhookVerifier::new(
        &project.webhook_username,
        project.webhook_password.expose(),
        project.webhook_secret.expose(),
    )
    .unwrap();
    *seen.verifier.lock().unwrap() = Some(Arc::new(verifier));
    let base = format!("http://{}", service.local_addr());
    let rp = RpClient::new(&base, ApiKey::new(project.api_key.expose())).unwrap();
    World {
        service,
        at: Endpoint::new(&base),
        rp,
        sdk_key: project.sdk_key.clone(),
        seen,
        _dir: dir,
    }
}

fn login(user: &str) -> CreateSessionRequest {
    CreateSessionRequest {
        user: user.into(),
        notification: Notification {
            title: fixture::title(),
            body: fixture::body(user),
        },
        context: Some(fixture::context()),
        presence: None,
        ttl_seconds: None,
        join_pending: false,
    }
}

async fn paired(w: &World, user: &str) -> SoftwareDevice {
    let device = SoftwareDevice::new(&w.sdk_key);
    let (status, body) = device.pair(&w.at, user, fixture::PAIRING_CODE).await;
    assert_eq!(status.as_u16(), 201, "{body}");
    device.with_pairing(serde_json::from_value(body).unwrap())
}

fn api_code(e: &RpError) -> (Option<u16>, Option<ErrorCode>) {
    (e.status(), e.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_is_decided_while_the_site_waits_and_webhooks_verify() {
    let w = world().await;
    let device = paired(&w, fixture::USER).await;
    assert_eq!(w.seen.trust.lock().unwrap().len(), 1);
    assert!(
        w.seen.trust.lock().unwrap()[0]
            .as_ref()
            .unwrap()
            .starts_with("msg_")
    );

    let created = w.rp.create_session(&login(fixture::USER)).await.unwrap();
    assert_eq!(created.status, SessionStatus::Sent);
    let code = created.presence_code.clone().unwrap();
    let (rp, id) = (w.rp.clone(), created.id.clone());
    let waiting = tokio::spawn(async move {
        let start = Instant::now();
        (
            rp.wait_for_decision(&id, Duration::from_secs(20)).await,
            start.elapsed(),
        )
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = device.challenge_for(&w.at, &created.id).await;
    let pick = right_option(&c, &code);
    let (status, body) = device
        .answer(&w.at, &c, Decision::Approve, Some(&pick), None)
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let (view, took) = waiting.await.unwrap();
    let view = view.unwrap().expect("decided before the deadline");
    assert_eq!(
        (view.status, view.reason),
        (SessionStatus::Accepted, Some(SessionReason::Approved))
    );
    assert!(
        took < Duration::from_secs(5),
        "the long-poll answered at once: {took:?}"
    );

    // "Not me" reaches the events URL, verified as an event.
    let created = w.rp.create_session(&login(fixture::USER)).await.unwrap();
    let c = device.challenge_for(&w.at, &created.id).await;
    let (status, body) = device
        .answer(&w.at, &c, Decision::Deny, None, Some(DenyReason::NotMe))
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while w.seen.events.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = w.seen.events.lock().unwrap().clone();
    match &events[..] {
        [
            Ok(SiteEvent::FraudReported {
                user,
                session,
                locked_until,
                ..
            }),
        ] => {
            assert_eq!(
                (user.as_str(), session.as_str()),
                (fixture::USER, created.id.as_str())
            );
            assert!(locked_until.is_some());
        }
        other => panic!("expected one verified fraud event, got {other:?}"),
    }
    // The lock it set is a typed 423 with its end; lifting it lets logins through again.
    let e =
        w.rp.create_session(&login(fixture::USER))
            .await
            .unwrap_err();
    assert_eq!(api_code(&e), (Some(423), Some(ErrorCode::Locked)));
    assert!(
        matches!(
            e,
            RpError::Api {
                locked_until: Some(_),
                retry_after: Some(_),
                ..
            }
        ),
        "{e:?}"
    );
    w.rp.lift_lock(fixture::USER).await.unwrap();
    w.rp.create_session(&login(fixture::USER)).await.unwrap();
    w.service.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_cancel_and_typed_errors() {
    let w = world().await;
    let _device = paired(&w, "bob").await;
    let created = w.rp.create_session(&login("bob")).await.unwrap();

    // Nobody answers: the wait ends at its deadline, not at the next whole second.
    let start = Instant::now();
    let got =
        w.rp.wait_for_decision(&created.id, Duration::from_millis(1500))
            .await
            .unwrap();
    let took = start.elapsed();
    assert!(got.is_none(), "{got:?}");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_millis(2500),
        "{took:?}"
    );

    // Dropping a wait midway (cancel safety) leaves the session and client usable.
    let dropped = tokio::time::timeout(
        Duration::from_millis(200),
        w.rp.wait_for_decision(&created.id, Duration::from_secs(20)),
    )
    .await;
    assert!(dropped.is_err());
    let view = w.rp.session(&created.id).await.unwrap();
    assert_eq!(view.status, SessionStatus::Sent);

    let canceled = w.rp.cancel_session(&created.id).await.unwrap();
    assert_eq!(
        (canceled.status, canceled.reason),
        (
            SessionStatus::Canceled,
            Some(SessionReason::CanceledByRelyingParty)
        )
    );
    let waited =
        w.rp.wait_for_decision(&created.id, Duration::from_secs(5))
            .await
            .unwrap();
    assert_eq!(waited.unwrap().status, SessionStatus::Canceled);
    // Idempotent: a second cancel answers the same view.
    assert_eq!(w.rp.cancel_session(&created.id).await.unwrap(), canceled);

    let e = w.rp.session("ses_nothing").await.unwrap_err();
    assert_eq!(api_code(&e), (Some(404), Some(ErrorCode::NotFound)));
    let e = w.rp.create_session(&login("nobody")).await.unwrap_err();
    assert_eq!(api_code(&e), (Some(422), Some(ErrorCode::NoDevice)));
    let e = w.rp.session("..").await.unwrap_err();
    assert!(matches!(e, RpError::InvalidArgument(_)), "{e:?}");

    // The push budget: 3 a minute; the fourth is 429 with Retry-After.
    let mut last = None;
    for _ in 0..4 {
        last = Some(w.rp.create_session(&login("bob")).await);
    }
    let e = last.unwrap().unwrap_err();
    assert_eq!(api_code(&e), (Some(429), Some(ErrorCode::RateLimited)));
    assert!(
        e.retry_after().is_some_and(|d| d > Duration::ZERO) && e.is_transient(),
        "{e:?}"
    );

    let wrong = RpClient::new(w.rp.base_url(), ApiKey::new("tap_api_wrong")).unwrap();
    let e = wrong.list_devices("bob").await.unwrap_err();
    assert_eq!(api_code(&e), (Some(401), Some(ErrorCode::Unauthorized)));
    assert!(!format!("{e} {e:?}").contains("tap_api_wrong"));
    w.service.shutdown().await.unwrap();

    // Nothing listens any more.
    let e = w.rp.session(&created.id).await.unwrap_err();
    assert!(
        matches!(e, RpError::Transport(_)) && e.is_transient(),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_and_audit() {
    let w = world().await;
    let one = paired(&w, "carol").await;
    let _two = paired(&w, "carol").await;
    let list = w.rp.list_devices("carol").await.unwrap();
    assert_eq!(list.devices.len(), 2);
    assert_eq!(list.devices[0].id, one.account_id());

    w.rp.revoke_device(one.account_id()).await.unwrap();
    w.rp.revoke_device(one.account_id()).await.unwrap(); // idempotent
    assert_eq!(w.rp.list_devices("carol").await.unwrap().devices.len(), 1);
    let e = w.rp.revoke_device("acc_of_nobody").await.unwrap_err();
    assert_eq!(api_code(&e), (Some(404), Some(ErrorCode::NotFound)));
    w.rp.revoke_all_devices("carol").await.unwrap();
    assert!(w.rp.list_devices("carol").await.unwrap().devices.is_empty());

    let all =
        w.rp.audit(&AuditQuery {
            user: Some("carol".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = all.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "device.pairing").count(),
        2,
        "{actions:?}"
    );
    assert!(actions.contains(&"device.revoked"), "{actions:?}");
    // Paging with the cursor walks the same rows.
    let mut paged = Vec::new();
    let mut q = AuditQuery {
        user: Some("carol".into()),
        limit: Some(1),
        ..AuditQuery::default()
    };
    loop {
        let page = w.rp.audit(&q).await.unwrap();
        paged.extend(page.events.into_iter().map(|e| e.id));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        paged,
        all.events.iter().map(|e| e.id.clone()).collect::<Vec<_>>()
    );
    let e =
        w.rp.audit(&AuditQuery {
            limit: Some(0),
            ..AuditQuery::default()
        })
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), (Some(400), Some(ErrorCode::InvalidRequest)));
    w.service.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_to_phone_is_created_typed_and_submitted() {
    let w = world().await;
    let device = paired(&w, "carol").await;
    let mut req = login("carol");
    req.presence = Some(PresenceMode::Display);
    let created = w.rp.create_session(&req).await.unwrap();
    assert_eq!(created.presence_code, None, "the site never gets the code");
    let c = device.challenge_for(&w.at, &created.id).await;
    let code = c.presence.code.clone().expect("the phone gets the code");
    let view = w.rp.submit_code(&created.id, &code).await.unwrap();
    assert_eq!(
        (view.status, view.reason, view.presence_code),
        (SessionStatus::Accepted, Some(SessionReason::Approved), None)
    );
    let e = w.rp.submit_code(&created.id, &code).await.unwrap_err();
    assert_eq!(api_code(&e), (Some(409), Some(ErrorCode::AlreadyDecided)));
    let created = w.rp.create_session(&login("carol")).await.unwrap();
    let e = w.rp.submit_code(&created.id, "123456").await.unwrap_err();
    assert_eq!(
        api_code(&e),
        (Some(409), Some(ErrorCode::NotDisplaySession))
    );
    w.service.shutdown().await.unwrap();
}
