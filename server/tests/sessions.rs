//! Login sessions end to end: relying-party API and device answers, over loopback HTTP.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};
use tapprove_protocol::{Decision, DenyReason, PresenceMode};

#[tokio::test]
async fn rp_api_auth_and_bad_bodies() {
    let h = Harness::start().await;
    let body = json!({"user": "alice", "notification": {"title": "t", "body": "b"}});
    // Missing, wrong, and wrong-prefix keys.
    let r = h
        .http
        .post(h.url("/v1/push/sessions"))
        .json(&body)
        .send()
        .await
        .expect("send");
    let (status, b) = status_json(r).await;
    assert!(assert_error(status, &b, 401, "unauthorized").contains("X-API-Key"));
    for key in ["tap_api_wrongwrongwrongwrongwrongwrongwrongwro", "garbage"] {
        let r = h
            .http
            .post(h.url("/v1/push/sessions"))
            .header("x-api-key", key)
            .json(&body)
            .send()
            .await
            .expect("send");
        let (status, b) = status_json(r).await;
        assert_error(status, &b, 401, "unauthorized");
    }
    let r = h
        .http
        .get(h.url("/v1/push/sessions/ses_x"))
        .bearer_auth("tap_api_nope")
        .send()
        .await
        .expect("send");
    let (status, b) = status_json(r).await;
    assert_error(status, &b, 401, "unauthorized");

    // Bad bodies, all 400 invalid_request with our error body.
    let send_raw = |text: &'static str, ct: &'static str| {
        h.http
            .post(h.url("/v1/push/sessions"))
            .header("x-api-key", h.api_key())
            .header("content-type", ct)
            .body(text)
            .send()
    };
    for (text, ct) in [
        ("{not json", "application/json"),
        ("{\"user\": \"alice\"}", "application/json"),
        (
            "{\"user\": 5, \"notification\": {\"title\": \"t\", \"body\": \"b\"}}",
            "application/json",
        ),
        (
            "{\"user\": \"alice\", \"notification\": {\"title\": \"t\", \"body\": \"b\"}}",
            "text/plain",
        ),
        (
            "{\"user\": \"alice\", \"notification\": {\"title\": \"t\", \"body\": \"b\"}, \"presence\": \"shout\"}",
            "application/json",
        ),
    ] {
        let (status, b) = status_json(send_raw(text, ct).await.expect("send")).await;
        assert_error(status, &b, 400, "invalid_request");
    }
    for bad in [
        json!({"user": "", "notification": {"title": "t", "body": "b"}}),
        json!({"user": "alice", "notification": {"title": "t", "body": "b"}, "ttl_seconds": 0}),
        json!({"user": "alice", "notification": {"title": "t", "body": "b"}, "ttl_seconds": 601}),
        json!({"user": "alice", "notification": {"title": "x".repeat(121), "body": "b"}}),
    ] {
        let (status, b) = h.create_session(bad).await;
        assert_error(status, &b, 400, "invalid_request");
    }
    // Unknown user → 422; unknown session → 404; unknown route → 404 JSON; bad wait → 400.
    let (status, b) = h.create_session(body.clone()).await;
    assert!(assert_error(status, &b, 422, "no_device").contains("pair"));
    let (status, b) = h.get_session("ses_nope", None).await;
    assert_error(status, &b, 404, "not_found");
    let r = h.http.get(h.url("/v2/nothing")).send().await.expect("send");
    let (status, b) = status_json(r).await;
    assert_error(status, &b, 404, "not_found");
    let r = h
        .http
        .get(h.url("/v1/push/sessions/x?wait=soon"))
        .bearer_auth(h.api_key())
        .send()
        .await
        .expect("send");
    let (status, b) = status_json(r).await;
    assert_error(status, &b, 400, "invalid_request");
    let r = h
        .http
        .put(h.url("/v1/push/sessions"))
        .header("x-api-key", h.api_key())
        .send()
        .await
        .expect("send");
    let (status, b) = status_json(r).await;
    assert_error(status, &b, 405, "invalid_request");
}

#[tokio::test]
async fn login_accepted_with_the_right_number() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    let s = h.login("alice").await;
    let id = s["id"].as_str().expect("id");
    let code = s["presence_code"].as_str().expect("code");
    assert!(id.starts_with("ses_"));
    assert_eq!(s["status"], "sent");
    assert_eq!(code.len(), 2);
    assert!((s["expires_at"].as_i64().expect("exp") - now() - 120).abs() <= 2);

    let c = device.challenge_for(&h, id).await;
    assert_eq!(c.presence.mode, PresenceMode::Choose);
    assert_eq!(c.user, "alice");
    assert_eq!(c.title, "Log in to Demo Bank?");
    assert_eq!(c.context.ip.as_deref(), Some("203.0.113.7"));
    let (status, body) = device
        .answer(
            &h,
            &c,
            Decision::Approve,
            Some(&right_option(&c, code)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"session_id": id, "status": "accepted", "reason": "approved"})
    );

    let (status, view) = h.get_session(id, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "accepted");
    assert_eq!(view["reason"], "approved");
    assert_eq!(view["presence_code"], code);
    assert!(view["decided_at"].as_i64().is_some());
    assert!(
        device.pending(&h).await.is_empty(),
        "a decided session is no longer pending"
    );
}

#[tokio::test]
async fn wrong_number_not_me_and_cancel() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;

    let s = h.login("alice").await;
    let code = s["presence_code"].as_str().expect("code");
    let c = device
        .challenge_for(&h, s["id"].as_str().expect("id"))
        .await;
    let (status, body) = device
        .answer(
            &h,
            &c,
            Decision::Approve,
            Some(&wrong_option(&c, code)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "rejected");
    assert_eq!(body["reason"], "wrong_number");
    let (_, view) = h.get_session(s["id"].as_str().expect("id"), None).await;
    assert_eq!(
        (view["status"].as_str(), view["reason"].as_str()),
        (Some("rejected"), Some("wrong_number"))
    );

    let s = h.login("alice").await;
    let c = device
        .challenge_for(&h, s["id"].as_str().expect("id"))
        .await;
    let (_, body) = device
        .answer(&h, &c, Decision::Deny, None, Some(DenyReason::NotMe))
        .await;
    assert_eq!(
        (body["status"].as_str(), body["reason"].as_str()),
        (Some("rejected"), Some("fraud_reported"))
    );
    // "Not me" locked alice's pushes (tests/nist.rs); the site lifts the lock.
    assert_eq!(h.lift_lock("alice").await, StatusCode::NO_CONTENT);

    let s = h.login("alice").await;
    let c = device
        .challenge_for(&h, s["id"].as_str().expect("id"))
        .await;
    let (_, body) = device
        .answer(&h, &c, Decision::Deny, None, Some(DenyReason::Cancelled))
        .await;
    assert_eq!(
        (body["status"].as_str(), body["reason"].as_str()),
        (Some("rejected"), Some("user_denied"))
    );
    let (_, view) = h.get_session(s["id"].as_str().expect("id"), None).await;
    assert_eq!(view["reason"], "user_denied");
}

#[tokio::test]
async fn entry_mode_and_none_below_policy() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    let (status, s) = h
        .create_session(json!({"user": "alice", "notification": {"title": "t", "body": "b"}, "presence": "entry"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    let code = s["presence_code"].as_str().expect("code").to_owned();
    let c = device
        .challenge_for(&h, s["id"].as_str().expect("id"))
        .await;
    assert_eq!(c.presence.mode, PresenceMode::Entry);
    assert!(
        c.presence.options.is_empty(),
        "the code is never in an entry challenge"
    );
    let (_, body) = device
        .answer(&h, &c, Decision::Approve, Some(&code), None)
        .await;
    assert_eq!(body["status"], "accepted");

    assert_eq!(
        code.len(),
        6,
        "entry codes have the policy's 6 digits: {code}"
    );

    // `none` is weaker than the default policy (`choose`): refused, with a typed code.
    let (status, body) = h
        .create_session(json!({"user": "alice", "notification": {"title": "t", "body": "b"}, "presence": "none"}))
        .await;
    assert!(assert_error(status, &body, 400, "policy_not_met").contains("choose"));
}

#[tokio::test]
async fn rp_cancel_then_answer_is_already_decided() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    let s = h.login("alice").await;
    let id = s["id"].as_str().expect("id");
    let c = device.challenge_for(&h, id).await;
    let r = h
        .http
        .delete(h.url(&format!("/v1/push/sessions/{id}")))
        .header("x-api-key", h.api_key())
        .send()
        .await
        .expect("send");
    let (status, view) = status_json(r).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (view["status"].as_str(), view["reason"].as_str()),
        (Some("canceled"), Some("canceled_by_relying_party"))
    );
    let (status, body) = device
        .answer(&h, &c, Decision::Approve, s["presence_code"].as_str(), None)
        .await;
    assert_error(status, &body, 409, "already_decided");
    // Canceling again returns the final view unchanged.
    let r = h
        .http
        .delete(h.url(&format!("/v1/push/sessions/{id}")))
        .header("x-api-key", h.api_key())
        .send()
        .await
        .expect("send");
    let (_, again) = status_json(r).await;
    assert_eq!(again, view);
}

#[tokio::test]
async fn new_session_supersedes_the_pending_one() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    let first = h.login("alice").await;
    let c1 = device
        .challenge_for(&h, first["id"].as_str().expect("id"))
        .await;
    let second = h.login("alice").await;
    let (_, view) = h.get_session(first["id"].as_str().expect("id"), None).await;
    assert_eq!(
        (view["status"].as_str(), view["reason"].as_str()),
        (Some("canceled"), Some("superseded"))
    );
    let (status, body) = device
        .answer(
            &h,
            &c1,
            Decision::Approve,
            first["presence_code"].as_str(),
            None,
        )
        .await;
    assert_error(status, &body, 409, "already_decided");
    let pending = device.pending(&h).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].1.session_id, second["id"]);
}

#[tokio::test]
async fn expiry_flips_status_and_late_answers_get_410() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    let (status, s) = h
        .create_session(
            json!({"user": "alice", "notification": {"title": "t", "body": "b"}, "ttl_seconds": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    let id = s["id"].as_str().expect("id");
    let c = device.challenge_for(&h, id).await;
    // Long-poll returns at expiry with the expired status.
    let started = Instant::now();
    let (_, view) = h.get_session(id, Some(10)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        (view["status"].as_str(), view["reason"].as_str()),
        (Some("expired"), Some("timeout"))
    );
    let (status, body) = device
        .answer(&h, &c, Decision::Approve, s["presence_code"].as_str(), None)
        .await;
    assert_error(status, &body, 410, "expired");
    assert!(device.pending(&h).await.is_empty());
}

#[tokio::test]
async fn double_answer_and_replay_are_already_decided() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    let s = h.login("alice").await;
    let c = device
        .challenge_for(&h, s["id"].as_str().expect("id"))
        .await;
    let token = device.sign_answer(&c, Decision::Approve, s["presence_code"].as_str(), None);
    let (status, _) = device.send_answer(&h, &token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = device.send_answer(&h, &token).await;
    assert_error(status, &body, 409, "already_decided");
    let (status, body) = device
        .answer(&h, &c, Decision::Deny, None, Some(DenyReason::NotMe))
        .await;
    assert_error(status, &body, 409, "already_decided");
    let (_, view) = h.get_session(s["id"].as_str().expect("id"), None).await;
    assert_eq!(view["status"], "accepted", "the first decision stands");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_answering_at_once_give_one_decision() {
    let h = Harness::start().await;
    let phone = h.pair("alice").await;
    let laptop = h.pair("alice").await;
    for round in 0..3 {
        let s = h.login("alice").await;
        let id = s["id"].as_str().expect("id");
        let code = s["presence_code"].as_str().expect("code");
        let c1 = phone.challenge_for(&h, id).await;
        let c2 = laptop.challenge_for(&h, id).await;
        assert_ne!(c1.nonce, c2.nonce, "each device gets its own nonce");
        assert_ne!(c1.account_id, c2.account_id);
        let t1 = phone.sign_answer(&c1, Decision::Approve, Some(code), None);
        let t2 = laptop.sign_answer(&c2, Decision::Deny, None, Some(DenyReason::NotMe));
        let ((s1, b1), (s2, b2)) =
            tokio::join!(phone.send_answer(&h, &t1), laptop.send_answer(&h, &t2));
        let mut statuses = [s1.as_u16(), s2.as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "round {round}: {b1} / {b2}");
        let winner = if s1 == StatusCode::OK { &b1 } else { &b2 };
        let (_, view) = h.get_session(id, None).await;
        assert_eq!(view["status"], winner["status"], "round {round}");
        // Keep the push budget: a success resets it (after lifting the "not me" lock).
        if view["status"] != "accepted" {
            assert_eq!(h.lift_lock("alice").await, StatusCode::NO_CONTENT);
            let s = h.login("alice").await;
            let c = phone.challenge_for(&h, s["id"].as_str().expect("id")).await;
            phone
                .answer(&h, &c, Decision::Approve, s["presence_code"].as_str(), None)
                .await;
        }
    }
}

#[tokio::test]
async fn devices_of_other_projects_or_users_cannot_answer() {
    let h = Harness::start().await;
    let alice = h.pair("alice").await;
    let bob = h.pair("bob").await;
    // Another project on the same service, trusting the same fake site.
    let other = tapprove_server::admin::create_project(
        &h.config.database_url,
        h.config.seal_key.as_ref().expect("seal"),
        "Other Shop",
        &h.rp.trust_url(),
    )
    .await
    .expect("project");
    set_site_credentials(&h.rp, &other);
    let mut intruder = SoftwareDevice::new(&other.sdk_key);
    let (status, body) = intruder.pair(&h, "alice", PAIRING_CODE).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    intruder = intruder.with_pairing(serde_json::from_value(body).expect("pair"));

    let s = h.login("alice").await;
    let c = alice.challenge_for(&h, s["id"].as_str().expect("id")).await;
    // The other project's "alice" answers with a copy of the challenge: not found.
    let mut forged = c.clone();
    forged.account_id = intruder.account_id().to_owned();
    let (status, body) = intruder
        .answer(
            &h,
            &forged,
            Decision::Approve,
            s["presence_code"].as_str(),
            None,
        )
        .await;
    assert_error(status, &body, 404, "not_found");
    // Bob, same project, other user: not found either.
    let mut forged = c.clone();
    forged.account_id = bob.account_id().to_owned();
    let (status, body) = bob
        .answer(
            &h,
            &forged,
            Decision::Approve,
            s["presence_code"].as_str(),
            None,
        )
        .await;
    assert_error(status, &body, 404, "not_found");
    // An answer signed by the wrong key for alice's account: bad signature.
    let token = tapprove_protocol::Answer {
        uv: None,
        ver: tapprove_protocol::PROTOCOL_VERSION,
        session_id: c.session_id.clone(),
        account_id: alice.account_id().to_owned(),
        decision: Decision::Approve,
        presence_answer: s["presence_code"].as_str().map(str::to_owned),
        deny_reason: None,
        iat: now(),
        nonce: c.nonce.clone(),
    }
    .sign(bob.key.as_ref())
    .expect("sign");
    let (status, body) = alice.send_answer(&h, &token).await;
    assert_error(status, &body, 400, "bad_signature");
    // The RP of the other project cannot read the session.
    let r = h
        .http
        .get(h.url(&format!(
            "/v1/push/sessions/{}",
            s["id"].as_str().expect("id")
        )))
        .header("x-api-key", other.api_key.expose())
        .send()
        .await
        .expect("send");
    let (status, body) = status_json(r).await;
    assert_error(status, &body, 404, "not_found");
    // Alice's real answer still works.
    let (status, body) = alice
        .answer(&h, &c, Decision::Approve, s["presence_code"].as_str(), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A wrong nonce is a bad signature.
    let s = h.login("alice").await;
    let mut c = alice.challenge_for(&h, s["id"].as_str().expect("id")).await;
    c.nonce = "not-the-nonce".into();
    let (status, body) = alice
        .answer(&h, &c, Decision::Approve, s["presence_code"].as_str(), None)
        .await;
    assert_error(status, &body, 400, "bad_signature");
}

#[tokio::test]
async fn long_poll_wakes_on_decision() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    let s = h.login("alice").await;
    let id = s["id"].as_str().expect("id").to_owned();
    let c = device.challenge_for(&h, &id).await;
    let started = Instant::now();
    let poll = h.get_session(&id, Some(25));
    let answer = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        device
            .answer(&h, &c, Decision::Approve, s["presence_code"].as_str(), None)
            .await
    };
    let ((status, view), (astatus, _)) = tokio::join!(poll, answer);
    assert_eq!(astatus, StatusCode::OK);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "accepted");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // On a final session, wait returns at once.
    let started = Instant::now();
    let (_, view) = h.get_session(&id, Some(25)).await;
    assert_eq!(view["status"], "accepted");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn push_budget_gives_429_with_retry_after() {
    let h = Harness::start().await;
    let _device = h.pair("alice").await;
    for _ in 0..3 {
        h.login("alice").await;
    }
    let r = h
        .http
        .post(h.url("/v1/push/sessions"))
        .header("x-api-key", h.api_key())
        .json(&json!({"user": "alice", "notification": {"title": "t", "body": "b"}}))
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
    assert!(assert_error(status, &body, 429, "rate_limited").contains("minute"));
    // Another user is not affected.
    let _bob = h.pair("bob").await;
    h.login("bob").await;
}

#[tokio::test]
async fn restart_mid_login_keeps_the_session_answerable() {
    let mut h = Harness::start().await;
    let device = h.pair("alice").await;
    let s = h.login("alice").await;
    let id = s["id"].as_str().expect("id");
    let c = device.challenge_for(&h, id).await;
    let key_before = h
        .service
        .as_ref()
        .expect("running")
        .service_public_key()
        .clone();
    h.restart().await;
    assert_eq!(
        h.service.as_ref().expect("running").service_public_key(),
        key_before,
        "service key survives"
    );
    // The pending challenge is served again, identical, and the answer works.
    let again = device.challenge_for(&h, id).await;
    assert_eq!(again, c);
    let (status, body) = device
        .answer(&h, &c, Decision::Approve, s["presence_code"].as_str(), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, view) = h.get_session(id, None).await;
    assert_eq!(view["status"], "accepted");
}

/// The decision is one conditional UPDATE on the single write connection: however many
/// devices answer at once, while the site cancels and long-polls wait, exactly one wins and
/// every reader (long-polls, plain reads) sees that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_answers_and_a_cancel_record_one_decision() {
    let h = Harness::start_with(|c| {
        c.limits.sessions_per_minute = 1_000;
        c.limits.sessions_per_hour = 1_000;
        // Denies or the site's cancel may win several rounds in a row: that race is the
        // point here, not the cooldown after consecutive rejections (tests/nist.rs).
        c.limits.failures_before_cooldown = 0;
    })
    .await;
    let mut devices = Vec::new();
    for _ in 0..5 {
        devices.push(h.pair("alice").await);
    }
    for round in 0..4 {
        let s = h.login("alice").await;
        let id = s["id"].as_str().expect("id").to_owned();
        let code = s["presence_code"].as_str().expect("code").to_owned();
        let mut tokens = Vec::new();
        for (i, d) in devices.iter().enumerate() {
            let c = d.challenge_for(&h, &id).await;
            tokens.push(if i % 2 == 0 {
                d.sign_answer(&c, Decision::Approve, Some(&code), None)
            } else {
                d.sign_answer(&c, Decision::Deny, None, Some(DenyReason::Cancelled))
            });
        }
        let polls = futures_util::future::join_all((0..3).map(|_| h.get_session(&id, Some(10))));
        let answers = futures_util::future::join_all(
            devices
                .iter()
                .zip(&tokens)
                .map(|(d, t)| d.send_answer(&h, t)),
        );
        let cancel = async {
            if round % 2 == 1 {
                let r = h
                    .http
                    .delete(h.url(&format!("/v1/push/sessions/{id}")))
                    .header("x-api-key", h.api_key())
                    .send()
                    .await
                    .expect("cancel");
                Some(status_json(r).await)
            } else {
                None
            }
        };
        let (polled, answered, canceled) = tokio::join!(polls, answers, cancel);
        let won: Vec<&Value> = answered
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .map(|(_, b)| b)
            .collect();
        for (s, b) in &answered {
            assert!(
                *s == StatusCode::OK || s.as_u16() == 409,
                "round {round}: {s} {b}"
            );
        }
        let (_, view) = h.get_session(&id, None).await;
        let final_status = view["status"].as_str().expect("status").to_owned();
        assert_ne!(final_status, "sent", "round {round}");
        match won.as_slice() {
            [one] => assert_eq!(one["status"], view["status"], "round {round}"),
            [] => {
                // Only the site's cancel can have beaten every device.
                assert_eq!(final_status, "canceled", "round {round}");
                assert!(canceled.is_some(), "round {round}");
            }
            more => panic!("round {round}: {} answers won: {more:?}", more.len()),
        }
        if let Some((status, body)) = canceled {
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["status"], view["status"], "round {round}");
        }
        for (status, body) in polled {
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["status"], view["status"], "round {round}");
            assert_eq!(body["decided_at"], view["decided_at"], "round {round}");
        }
    }
}

#[tokio::test]
async fn woken_long_polls_return_what_a_fresh_read_returns() {
    let h = Harness::start().await;
    let device = h.pair("alice").await;
    for (decision, deny, right) in [
        (Decision::Approve, None, true),
        (Decision::Approve, None, false),
        (Decision::Deny, Some(DenyReason::NotMe), true),
    ] {
        let s = h.login("alice").await;
        let id = s["id"].as_str().expect("id").to_owned();
        let code = s["presence_code"].as_str().expect("code").to_owned();
        let c = device.challenge_for(&h, &id).await;
        let presence = if right {
            right_option(&c, &code)
        } else {
            c.presence
                .options
                .iter()
                .find(|o| **o != code)
                .expect("a wrong option")
                .clone()
        };
        // Two waiters that start before the decision (woken by it)...
        let polls =
            async { tokio::join!(h.get_session(&id, Some(25)), h.get_session(&id, Some(25))) };
        let answer = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let presence = (decision == Decision::Approve).then_some(presence.as_str());
            device.answer(&h, &c, decision, presence, deny).await
        };
        let (((s1, woken1), (s2, woken2)), (astatus, abody)) = tokio::join!(polls, answer);
        assert_eq!(astatus, StatusCode::OK, "{abody}");
        assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
        // ... return exactly the body of a fresh read, and of a waiter that starts after the
        // decision, which returns at once.
        let (_, fresh) = h.get_session(&id, None).await;
        let started = Instant::now();
        let (_, late) = h.get_session(&id, Some(25)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_ne!(fresh["status"], "sent");
        assert_eq!(fresh["status"], abody["status"]);
        assert_eq!(fresh["reason"], abody["reason"]);
        assert_eq!(woken1, fresh);
        assert_eq!(woken2, fresh);
        assert_eq!(late, fresh);
    }
}
