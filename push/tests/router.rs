//! The router as the service uses it: one message to all of a user's devices, both providers.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use support::*;
use tapprove_protocol::api::PushPlatform;
use tapprove_protocol::{Es256Signer as _, SoftwareKey};
use tapprove_push::{
    PushConfig, PushMessage, PushOutcome, PushSender, PushTarget, RetryConfig, Router, send_to_all,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_dead_or_failing_device_never_stops_the_others() {
    let pki = TestPki::new();
    let key = SoftwareKey::generate().expect("key");
    let apns = MockApns::start(&pki, key.public_key(), true);
    let fcm = MockFcm::start(&pki);
    let files = Files::new(&pki, &key, Some(&fcm.token_url));
    let mut config = push_config(&files, Some(&apns), Some(&fcm));
    config.retry = RetryConfig {
        max_attempts: 10,
        initial_backoff_ms: 300,
        max_backoff_ms: 600,
        request_timeout_ms: 5000,
    };
    let sender = config.build().expect("config");

    let (ok_ios, dead_ios, flaky_ios, ok_android, dead_android) = (
        apns_token(1),
        apns_token(2),
        apns_token(3),
        fcm_token(1),
        fcm_token(2),
    );
    apns.script(
        &dead_ios,
        vec![ApnsReply::Error {
            status: 410,
            reason: "Unregistered",
            timestamp_ms: Some(unix_now() * 1000),
        }],
    );
    apns.always(
        &flaky_ios,
        ApnsReply::Error {
            status: 503,
            reason: "ServiceUnavailable",
            timestamp_ms: None,
        },
    );
    fcm.script(
        &dead_android,
        vec![FcmReply::Error {
            http: 404,
            status: "NOT_FOUND",
            code: Some("UNREGISTERED"),
            retry_after: None,
        }],
    );
    let mut no_push = fcm_target("poller", "");
    no_push.platform = PushPlatform::None;
    let targets = vec![
        apns_target("ios-ok", &ok_ios),
        apns_target("ios-dead", &dead_ios),
        apns_target("ios-flaky", &flaky_ios),
        fcm_target("android-ok", &ok_android),
        fcm_target("android-dead", &dead_android),
        no_push,
    ];
    let msg = message(3);

    // The healthy devices are served at once, while the failing one still retries.
    let start = Instant::now();
    let healthy = async {
        let a = sender.send(&targets[0], &msg).await;
        let b = sender.send(&targets[3], &msg).await;
        (a, b, start.elapsed())
    };
    let everyone = async {
        let report = send_to_all(sender.as_ref(), &targets, &msg).await;
        (report, start.elapsed())
    };
    let ((all, all_done), (a, b, healthy_done)) = tokio::join!(everyone, healthy);
    assert_eq!((a, b), (PushOutcome::Delivered, PushOutcome::Delivered));
    assert!(
        healthy_done + Duration::from_millis(500) < all_done,
        "healthy devices are not held up by the retrying one: {healthy_done:?} vs {all_done:?}"
    );

    let outcome = |device: &str| {
        all.outcomes
            .iter()
            .find(|(d, _)| d == device)
            .map(|(_, o)| o.clone())
            .expect("device")
    };
    assert_eq!(outcome("ios-ok"), PushOutcome::Delivered);
    assert_eq!(outcome("android-ok"), PushOutcome::Delivered);
    assert_eq!(
        outcome("ios-dead"),
        PushOutcome::DeadToken {
            reason: "Unregistered".into()
        }
    );
    assert_eq!(
        outcome("android-dead"),
        PushOutcome::DeadToken {
            reason: "UNREGISTERED".into()
        }
    );
    assert!(matches!(outcome("ios-flaky"), PushOutcome::Failed { .. }));
    assert_eq!(outcome("poller"), PushOutcome::NotConfigured);
    assert!(all.any_delivered());
    let mut dead: Vec<_> = all.dead_devices().collect();
    dead.sort_unstable();
    assert_eq!(dead, ["android-dead", "ios-dead"]);
    assert_eq!(all.outcomes.len(), targets.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconfigured_platforms_report_not_configured() {
    let router = PushConfig::default()
        .build_router()
        .expect("empty config is valid");
    assert!(!router.handles(PushPlatform::Apns) && !router.handles(PushPlatform::Fcm));
    let report = send_to_all(
        &router,
        &[
            apns_target("i", &apns_token(1)),
            fcm_target("a", &fcm_token(1)),
        ],
        &message(60),
    )
    .await;
    assert!(
        report
            .outcomes
            .iter()
            .all(|(_, o)| *o == PushOutcome::NotConfigured)
    );
    assert!(
        !report.any_delivered(),
        "the service ends such a session `delivery_failed` unless devices poll"
    );
}

/// A fake provider, as the service's own tests can plug in.
struct Fixed(PushOutcome);

impl PushSender for Fixed {
    fn send<'a>(&'a self, _: &'a PushTarget, _: &'a PushMessage) -> BoxFuture<'a, PushOutcome> {
        let outcome = self.0.clone();
        Box::pin(async move { outcome })
    }
}

#[tokio::test]
async fn the_router_dispatches_by_platform() {
    let router =
        Router::default().with(PushPlatform::Apns, Arc::new(Fixed(PushOutcome::Delivered)));
    assert!(router.handles(PushPlatform::Apns) && !router.handles(PushPlatform::Fcm));
    assert_eq!(
        router
            .send(&apns_target("i", &apns_token(1)), &message(60))
            .await,
        PushOutcome::Delivered
    );
    assert_eq!(
        router
            .send(&fcm_target("a", &fcm_token(1)), &message(60))
            .await,
        PushOutcome::NotConfigured
    );
    assert_eq!(
        format!("{router:?}"),
        "Router { apns: true, fcm: false, webpush: false }"
    );
}
