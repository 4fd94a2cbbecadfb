//! Pairing through the trust webhook, over loopback HTTP.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use serde_json::json;
use tapprove_server::admin;

#[tokio::test]
async fn pairing_accepted_calls_the_webhook_with_basic_auth_and_signature() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    let p = device.pairing.as_ref().expect("paired");
    assert!(p.account_id.starts_with("acc_"));
    assert_eq!(p.project_id, h.project.project_id);
    assert_eq!(p.project_name, "Demo Bank");
    assert_eq!(p.user, "alice");
    assert_eq!(
        p.service_key,
        h.service.as_ref().expect("running").service_public_key()
    );
    assert!((p.server_time - now()).abs() <= 2);

    let calls = h.rp.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert!(
        call.basic_ok,
        "Basic auth with the project's webhook credentials"
    );
    assert!(
        call.signature_ok,
        "Standard Webhooks HMAC signature verifies"
    );
    assert_eq!(
        call.body,
        json!({"user": "alice", "challenge": PAIRING_CODE})
    );
    assert!((call.timestamp - now()).abs() <= 5);

    // The stored device can now be asked to log in.
    let session = h.login("alice").await;
    let pending = device.pending(&h).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].1.session_id, session["id"]);
}

#[tokio::test]
async fn wrong_code_is_rejected_and_nothing_is_stored() {
    let h = Harness::start().await;
    let device = SoftwareDevice::new(&h.project.sdk_key);
    let (status, body) = device.pair(&h, "alice", "WRNG-CODE").await;
    let msg = assert_error(status, &body, 403, "pairing_rejected");
    assert!(msg.contains("did not accept this pairing code"), "{msg}");
    assert!(msg.contains("Demo Bank"), "{msg}");
    // Nothing was stored: the user still has no device.
    let (status, body) = h
        .create_session(json!({"user": "alice", "notification": {"title": "t", "body": "b"}}))
        .await;
    assert_error(status, &body, 422, "no_device");
}

#[tokio::test]
async fn webhook_down_500_slow_and_redirect_are_refused_with_distinct_messages() {
    let h = Harness::start().await;
    let device = SoftwareDevice::new(&h.project.sdk_key);

    h.rp.set_mode(TrustMode::Fail500);
    let (status, body) = device.pair(&h, "alice", PAIRING_CODE).await;
    let msg = assert_error(status, &body, 403, "pairing_rejected");
    assert!(msg.contains("HTTP 500"), "{msg}");

    // A webhook far slower than the timeout, so a loaded machine cannot blur the two.
    h.rp.set_mode(TrustMode::Slow(Duration::from_secs(20)));
    let started = Instant::now();
    let (status, body) = device.pair(&h, "alice", PAIRING_CODE).await;
    let msg = assert_error(status, &body, 403, "pairing_rejected");
    assert!(msg.contains("in time"), "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the webhook timeout (700 ms) applies"
    );

    h.rp.set_mode(TrustMode::Redirect);
    let (status, body) = device.pair(&h, "alice", PAIRING_CODE).await;
    let msg = assert_error(status, &body, 403, "pairing_rejected");
    assert!(msg.contains("redirect"), "{msg}");
    assert_eq!(
        h.rp.redirect_target_hits(),
        0,
        "the redirect is never followed"
    );

    // Down: a project whose trust URL points at a closed port.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let closed_addr = closed.local_addr().expect("addr");
    drop(closed);
    let down = admin::create_project(
        &h.config.database_url,
        h.config.seal_key.as_ref().expect("seal"),
        "Down Bank",
        &format!("http://{closed_addr}/users/trust"),
    )
    .await
    .expect("project");
    let (status, body) = SoftwareDevice::new(&down.sdk_key)
        .pair(&h, "alice", PAIRING_CODE)
        .await;
    let msg = assert_error(status, &body, 403, "pairing_rejected");
    assert!(msg.contains("could not be reached"), "{msg}");
    assert!(msg.contains("Down Bank"), "{msg}");

    // None of these stored a device.
    let (status, body) = h
        .create_session(json!({"user": "alice", "notification": {"title": "t", "body": "b"}}))
        .await;
    assert_error(status, &body, 422, "no_device");
}

#[tokio::test]
async fn unknown_sdk_key_and_bad_pair_bodies() {
    let h = Harness::start().await;
    let (status, body) = SoftwareDevice::new("tap_sdk_unknown")
        .pair(&h, "alice", PAIRING_CODE)
        .await;
    assert_error(status, &body, 401, "invalid_sdk_key");

    for bad in [
        json!({"user": "alice", "pairing_code": PAIRING_CODE, "public_key": "not-a-key"}),
        json!({"user": "", "pairing_code": PAIRING_CODE, "public_key": SoftwareDevice::new("x").key_b64()}),
        json!({"user": "alice", "public_key": SoftwareDevice::new("x").key_b64()}),
        json!({"user": "alice", "pairing_code": PAIRING_CODE, "public_key": SoftwareDevice::new("x").key_b64(),
               "push": {"platform": "apns", "token": ""}}),
    ] {
        let r = h
            .http
            .post(h.url("/v1/device/pair"))
            .header("x-tapprove-sdk-key", &h.project.sdk_key)
            .json(&bad)
            .send()
            .await
            .expect("send");
        let (status, body) = status_json(r).await;
        assert_error(status, &body, 400, "invalid_request");
    }
    assert!(
        h.rp.calls().is_empty(),
        "bad requests never reach the webhook"
    );
}

#[tokio::test]
async fn old_sdk_gets_update_required() {
    let h = Harness::start_with(|c| c.min_sdk_version = Some("0.2.0".into())).await;
    let mut device = SoftwareDevice::new(&h.project.sdk_key);
    device.sdk_header = "kotlin/0.1.9".into();
    let (status, body) = device.pair(&h, "alice", PAIRING_CODE).await;
    let msg = assert_error(status, &body, 426, "update_required");
    assert!(msg.contains("update the app"), "{msg}");
    assert!(h.rp.calls().is_empty());

    device.sdk_header = "kotlin/0.2.0".into();
    let (status, body) = device.pair(&h, "alice", PAIRING_CODE).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let device = device.with_pairing(serde_json::from_value(body).expect("pair"));

    // Other device calls are gated too.
    let mut old = device;
    old.sdk_header = "kotlin/0.1.0".into();
    let (status, body) = old.call(&h, "GET", "/v1/device/pending", None).await;
    assert_error(status, &body, 426, "update_required");
}

#[tokio::test]
async fn pairing_attempts_are_rate_limited_per_ip() {
    let h = Harness::start_with(|c| c.limits.pairings_per_minute_per_ip = 2).await;
    let device = SoftwareDevice::new(&h.project.sdk_key);
    for _ in 0..2 {
        let (status, body) = device.pair(&h, "alice", "WRNG-CODE").await;
        assert_error(status, &body, 403, "pairing_rejected");
    }
    let r = h
        .http
        .post(h.url("/v1/device/pair"))
        .header("x-tapprove-sdk-key", &h.project.sdk_key)
        .json(
            &json!({"user": "alice", "pairing_code": PAIRING_CODE, "public_key": device.key_b64()}),
        )
        .send()
        .await
        .expect("send");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    let (status, body) = status_json(r).await;
    assert_error(status, &body, 429, "rate_limited");
    assert_eq!(
        h.rp.calls().len(),
        2,
        "the limited attempt never reached the webhook"
    );
}

#[tokio::test]
async fn rotated_webhook_credentials_are_used() {
    let h = Harness::start().await;
    let seal = h.config.seal_key.clone().expect("seal");
    let rotated =
        admin::rotate_webhook_credentials(&h.config.database_url, &seal, &h.project.project_id)
            .await
            .expect("rotate");
    assert_ne!(
        rotated.webhook_password.expose(),
        h.project.webhook_password.expose()
    );
    assert_ne!(
        rotated.webhook_secret.expose(),
        h.project.webhook_secret.expose()
    );
    assert_eq!(rotated.webhook_username, h.project.webhook_username);

    // The site still has the old credentials: pairing fails.
    let device = SoftwareDevice::new(&h.project.sdk_key);
    let (status, body) = device.pair(&h, "alice", PAIRING_CODE).await;
    assert_error(status, &body, 403, "pairing_rejected");
    let last = h.rp.calls().pop().expect("call");
    assert!(!last.basic_ok && !last.signature_ok);

    // After the site updates, it works.
    h.rp.set_credentials(
        &rotated.webhook_username,
        rotated.webhook_password.expose(),
        rotated.webhook_secret.expose(),
    );
    let (status, body) = device.pair(&h, "alice", PAIRING_CODE).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A wrong seal key cannot rotate.
    let wrong = tapprove_server::SealKey::generate().expect("key");
    let err =
        admin::rotate_webhook_credentials(&h.config.database_url, &wrong, &h.project.project_id)
            .await
            .expect_err("wrong seal key");
    assert!(err.to_string().contains("seal key"), "{err}");
    let err = admin::rotate_webhook_credentials(&h.config.database_url, &seal, "prj_nope")
        .await
        .expect_err("unknown project");
    assert!(err.to_string().contains("prj_nope"), "{err}");
}

/// A pairing request as a proxy forwards it: `X-Forwarded-For: <xff>`.
async fn pair_via(
    h: &Harness,
    device: &SoftwareDevice,
    user: &str,
    code: &str,
    xff: &str,
) -> (StatusCode, serde_json::Value) {
    let r = h
        .http
        .post(h.url("/v1/device/pair"))
        .header("x-tapprove-sdk-key", &h.project.sdk_key)
        .header("x-forwarded-for", xff)
        .json(&json!({"user": user, "pairing_code": code, "public_key": device.key_b64()}))
        .send()
        .await
        .expect("send");
    status_json(r).await
}

#[tokio::test]
async fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    let h = Harness::start_with(|c| c.limits.pairings_per_minute_per_ip = 2).await;
    // A client cannot become many clients by writing the header itself.
    for i in 0..2 {
        let d = SoftwareDevice::new(&h.project.sdk_key);
        let (status, body) =
            pair_via(&h, &d, "alice", "WRNG-CODE", &format!("198.51.100.{i}")).await;
        assert_error(status, &body, 403, "pairing_rejected");
    }
    let d = SoftwareDevice::new(&h.project.sdk_key);
    let (status, body) = pair_via(&h, &d, "bob", PAIRING_CODE, "198.51.100.99").await;
    assert_error(status, &body, 429, "rate_limited");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_limit_and_ipv6_counts_by_64() {
    let h = Harness::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.0/8".parse().expect("net")];
        c.limits.pairings_per_minute_per_ip = 2;
    })
    .await;
    let wrong = |xff: &'static str, user: &'static str| {
        let h = &h;
        async move {
            let d = SoftwareDevice::new(&h.project.sdk_key);
            pair_via(h, &d, user, "WRNG-CODE", xff).await
        }
    };
    // Two addresses of one IPv6 /64 share a bucket...
    let (s, b) = wrong("2001:db8:1:2::a", "u1").await;
    assert_error(s, &b, 403, "pairing_rejected");
    let (s, b) = wrong("2001:db8:1:2:ffff::b", "u2").await;
    assert_error(s, &b, 403, "pairing_rejected");
    let (s, b) = wrong("2001:db8:1:2::c", "u3").await;
    assert_error(s, &b, 429, "rate_limited");
    // ... the next /64 and an IPv4 client have their own.
    let (s, b) = wrong("2001:db8:1:3::a", "u4").await;
    assert_error(s, &b, 403, "pairing_rejected");
    let (s, b) = wrong("203.0.113.7", "u5").await;
    assert_error(s, &b, 403, "pairing_rejected");
    // The audit log names the client, not the proxy.
    let q = admin::AuditQuery {
        limit: 100,
        ..Default::default()
    };
    let rows = admin::read_audit(&h.config.database_url, &q)
        .await
        .expect("audit");
    assert!(
        rows.iter()
            .any(|r| r.source_ip.as_deref() == Some("203.0.113.7")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .all(|r| r.source_ip.as_deref() != Some("127.0.0.1"))
    );
}

#[tokio::test]
async fn a_strangers_wrong_tries_do_not_block_the_owner_and_each_address_has_its_own_budget_per_user()
 {
    let h = Harness::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1".parse::<std::net::IpAddr>().expect("ip").into()];
        c.limits.pairings_per_minute_per_ip = 100;
        c.limits.pairings_per_hour_per_user = 3;
    })
    .await;
    // A stranger guesses at alice's code from three addresses, three tries each (in any letter
    // case of her name): nine wrong tries, each address's budget for her spent.
    for i in 0..3 {
        for user in ["alice", "Alice", "ALICE"] {
            let d = SoftwareDevice::new(&h.project.sdk_key);
            let (s, b) = pair_via(&h, &d, user, "WRNG-CODE", &format!("198.51.100.{i}")).await;
            assert_error(s, &b, 403, "pairing_rejected");
        }
    }
    // Those addresses are out of tries for alice for the hour…
    let d = SoftwareDevice::new(&h.project.sdk_key);
    let (s, b) = pair_via(&h, &d, "alice", PAIRING_CODE, "198.51.100.0").await;
    let msg = assert_error(s, &b, 429, "rate_limited");
    assert!(msg.contains("minute"), "{msg}");
    // …but the owner, at her own address, still pairs her new phone.
    let d = SoftwareDevice::new(&h.project.sdk_key);
    let (s, b) = pair_via(&h, &d, "alice", PAIRING_CODE, "192.0.2.50").await;
    assert_eq!(
        s.as_u16(),
        201,
        "the stranger's tries blocked the owner: {b}"
    );
    // Forty addresses, two attempts each, for other users: there is no project-wide bucket,
    // so a new user on a new address still pairs.
    for i in 0..40 {
        for _ in 0..2 {
            let d = SoftwareDevice::new(&h.project.sdk_key);
            let (s, _) = pair_via(
                &h,
                &d,
                &format!("user{i}"),
                "WRNG-CODE",
                &format!("203.0.113.{i}"),
            )
            .await;
            assert_eq!(s.as_u16(), 403);
        }
    }
    let d = SoftwareDevice::new(&h.project.sdk_key);
    let (s, b) = pair_via(&h, &d, "carol", PAIRING_CODE, "192.0.2.1").await;
    assert_eq!(s.as_u16(), 201, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_pairing_attempts_pass_exactly_the_budget() {
    let h = Harness::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1".parse::<std::net::IpAddr>().expect("ip").into()];
        c.limits.pairings_per_minute_per_ip = 5;
    })
    .await;
    let h = std::sync::Arc::new(h);
    let mut tries = tokio::task::JoinSet::new();
    for i in 0..30 {
        let h = h.clone();
        tries.spawn(async move {
            let d = SoftwareDevice::new(&h.project.sdk_key);
            pair_via(&h, &d, &format!("user{i}"), "WRNG-CODE", "198.51.100.9")
                .await
                .0
        });
    }
    let mut passed = 0;
    while let Some(done) = tries.join_next().await {
        let status = done.expect("join").as_u16();
        assert!(status == 403 || status == 429, "{status}");
        passed += usize::from(status == 403);
    }
    assert_eq!(
        passed, 5,
        "the address's budget is 5 a minute whatever the concurrency"
    );
}
