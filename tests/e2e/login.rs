//! End to end, through the real binary: logins decided by `tapprove device respond` / `listen`
//! (and the device core library) against a real `tapprove serve`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tapprove_test_support::terminal::Terminal;

const CODE: &str = "7KQ2-M9XD";

/// The option that is (or is not) the login page's code.
fn option(request: &Value, code: &str, right: bool) -> String {
    let opts: Vec<String> = request["options"]
        .as_array()
        .expect("options")
        .iter()
        .map(|o| o.as_str().expect("str").to_owned())
        .collect();
    assert_eq!(opts.len(), 3, "choose mode offers three options");
    assert!(
        opts.iter().any(|o| o == code),
        "the page's code is among the options"
    );
    opts.into_iter()
        .find(|o| (o == code) == right)
        .expect("option")
}

async fn final_status(rp: &RpClient, id: &str) -> (String, String) {
    let v = rp.get(id, Some(5)).await;
    (
        v["status"].as_str().unwrap_or("").to_owned(),
        v["reason"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn login_accepted_with_the_right_number() {
    let s = Setup::new(CODE).await;
    let d = s.paired_device("phone", "alice", CODE).await;
    let session = s.rp.login("alice", json!({})).await;
    let id = session["id"].as_str().expect("id");
    let code = session["presence_code"].as_str().expect("code");
    assert_eq!(code.len(), 2);
    let r = d.request(id).await;
    assert_eq!(r["title"], json!(fixture::title()));
    assert_eq!(r["context"]["ip"], json!("203.0.113.7"));
    // The site long-polls while the device answers.
    let waiter = {
        let rp = rp_client(&s.serve.url, &s.project);
        let id = id.to_owned();
        tokio::spawn(async move { rp.get(&id, Some(20)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let o = d
        .run(&["respond", id, "--choose", &option(&r, code, true), "--json"])
        .await;
    assert_eq!(ok_json(&o)["status"], json!("accepted"));
    let view = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("long-poll woke")
        .expect("join");
    assert_eq!(
        (view["status"].as_str(), view["reason"].as_str()),
        (Some("accepted"), Some("approved"))
    );
    assert!(d.requests().await.is_empty(), "nothing left pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_number_rejects_the_login() {
    let s = Setup::new(CODE).await;
    let d = s.paired_device("phone", "bob", CODE).await;
    let session = s.rp.login("bob", json!({})).await;
    let id = session["id"].as_str().expect("id");
    let r = d.request(id).await;
    let wrong = option(&r, session["presence_code"].as_str().expect("code"), false);
    let v = ok_json(&d.run(&["respond", id, "--choose", &wrong, "--json"]).await);
    assert_eq!(
        (v["status"].as_str(), v["reason"].as_str()),
        (Some("rejected"), Some("wrong_number"))
    );
    assert_eq!(
        final_status(&s.rp, id).await,
        ("rejected".into(), "wrong_number".into())
    );
    // A value that is not an option is refused locally, with one line.
    let session = s.rp.login("bob", json!({})).await;
    let id = session["id"].as_str().expect("id");
    d.request(id).await;
    let line = failed_line(&d.run(&["respond", id, "--choose", "zz"]).await);
    assert!(line.contains("not one of the offered options"), "{line}");
    assert_eq!(
        final_status(&s.rp, id).await.0,
        "sent",
        "a local refusal sends nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deny_not_me_reports_fraud_and_cancel_is_user_denied() {
    let s = Setup::new(CODE).await;
    let d = s.paired_device("phone", "carol", CODE).await;
    let session = s.rp.login("carol", json!({})).await;
    let id = session["id"].as_str().expect("id");
    d.request(id).await;
    let o = d.run(&["respond", id, "--deny", "--not-me"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("fraud_reported"));
    assert_eq!(
        final_status(&s.rp, id).await,
        ("rejected".into(), "fraud_reported".into())
    );
    // "Not me" locked carol's pushes; the site lifts the lock.
    s.rp.lift_lock("carol").await;

    let session = s.rp.login("carol", json!({})).await;
    let id = session["id"].as_str().expect("id");
    d.request(id).await;
    assert!(d.run(&["respond", id, "--deny"]).await.status.success());
    assert_eq!(
        final_status(&s.rp, id).await,
        ("rejected".into(), "user_denied".into())
    );

    let line = failed_line(&d.run(&["respond", id]).await);
    assert!(line.contains("--choose"), "says how to answer: {line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn double_answer_is_refused_and_does_not_change_the_decision() {
    let s = Setup::new(CODE).await;
    let d = s.paired_device("phone", "dave", CODE).await;
    let session = s.rp.login("dave", json!({})).await;
    let id = session["id"].as_str().expect("id");
    let code = session["presence_code"].as_str().expect("code");
    let r = d.request(id).await;
    assert!(
        d.run(&["respond", id, "--choose", &option(&r, code, true)])
            .await
            .status
            .success()
    );
    // Second answer, other decision, from a new process: refused with one line.
    let line = failed_line(&d.run(&["respond", id, "--deny", "--not-me"]).await);
    assert!(
        line.contains("not pending") || line.contains("already answered"),
        "{line}"
    );
    assert_eq!(
        final_status(&s.rp, id).await,
        ("accepted".into(), "approved".into())
    );

    // Same thing inside one device-core process: the second answer never reaches the network.
    let auth = core_device(&d);
    let session = s.rp.login("dave", json!({})).await;
    let id = session["id"].as_str().expect("id");
    let code = session["presence_code"].as_str().expect("code").to_owned();
    let pending = auth.pending(None).await.expect("pending");
    assert!(pending.iter().any(|p| p.id == id));
    let approve = tapprove_core::Decision::Approve {
        presence_answer: Some(code),
    };
    auth.respond(id, approve.clone())
        .await
        .expect("first answer");
    let second = auth.respond(id, approve).await;
    assert!(
        matches!(second, Err(tapprove_core::CoreError::AlreadyAnswered)),
        "{second:?}"
    );
    assert_eq!(final_status(&s.rp, id).await.0, "accepted");
}

fn core_device(d: &Device) -> tapprove_core::Authenticator {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = Arc::new(tapprove_core::FileStore::open(&d.store).expect("store"));
    let signer = Arc::new(tapprove_core::SoftwareSigner::new(store.clone()));
    let config = tapprove_core::Config::new("http://127.0.0.1", "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA")
        .expect("config");
    tapprove_core::Authenticator::new(config, store, signer).expect("authenticator")
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_login_cannot_be_answered() {
    let s = Setup::new(CODE).await;
    let d = s.paired_device("phone", "erin", CODE).await;
    let auth = core_device(&d);
    let session = s.rp.login("erin", json!({"ttl_seconds": 2})).await;
    let id = session["id"].as_str().expect("id");
    let code = session["presence_code"].as_str().expect("code").to_owned();
    assert!(
        auth.pending(None)
            .await
            .expect("pending")
            .iter()
            .any(|p| p.id == id)
    );
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let r = auth
        .respond(
            id,
            tapprove_core::Decision::Approve {
                presence_answer: Some(code),
            },
        )
        .await;
    assert!(matches!(r, Err(tapprove_core::CoreError::Expired)), "{r:?}");
    assert_eq!(
        final_status(&s.rp, id).await,
        ("expired".into(), "timeout".into())
    );
    // The CLI, a new process, sees nothing pending: only the request the device core saw
    // expire, kept in the store as ended. Any answer but "not me" is refused in one line.
    let listed = d.requests().await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], json!(id));
    assert_eq!(listed[0]["ended"]["status"], json!("expired"));
    let line = failed_line(&d.run(&["respond", id, "--deny"]).await);
    assert!(
        line.contains("expired before anyone answered") && line.contains("--not-me"),
        "{line}"
    );
    // "Not me" is still taken: the outcome stays, the user is locked.
    let o = d.run(&["respond", id, "--not-me"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("reported as not you; the login stays expired"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        final_status(&s.rp, id).await,
        ("expired".into(), "timeout".into())
    );
    let (status, body) = s.rp.create_raw(&fixture::create_session_body("erin")).await;
    assert_eq!(status.as_u16(), 423, "locked by the late report: {body}");
    // Reported: no longer listed.
    assert!(d.requests().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_devices_answering_at_once_make_one_decision() {
    let s = Setup::new(CODE).await;
    let a = s.paired_device("phone-a", "frank", CODE).await;
    let b = s.paired_device("phone-b", "frank", CODE).await;
    for round in 0..3 {
        let session = s.rp.login("frank", json!({})).await;
        let id = session["id"].as_str().expect("id").to_owned();
        let code = session["presence_code"].as_str().expect("code").to_owned();
        let (ra, rb) = tokio::join!(a.request(&id), b.request(&id));
        let oa = option(&ra, &code, true);
        assert_eq!(
            ra["options"], rb["options"],
            "both devices offer the same options"
        );
        // One approves, the other reports fraud, at the same moment.
        let args_a = ["respond", &id, "--choose", &oa, "--json"];
        let args_b = ["respond", &id, "--not-me", "--json"];
        let (xa, xb) = tokio::join!(a.run(&args_a), b.run(&args_b));
        let wins = [&xa, &xb].iter().filter(|o| o.status.success()).count();
        assert_eq!(
            wins,
            1,
            "round {round}: exactly one answer decides (a: {}, b: {})",
            stderr(&xa),
            stderr(&xb)
        );
        let loser = if xa.status.success() { &xb } else { &xa };
        // The loser either reached the service after the decision (409) or already saw that
        // the request is gone from the pending list.
        let line = failed_line(loser);
        assert!(
            line.contains("already answered") || line.contains("not pending"),
            "{line}"
        );
        let (status, reason) = final_status(&s.rp, &id).await;
        if xa.status.success() {
            assert_eq!((status.as_str(), reason.as_str()), ("accepted", "approved"));
        } else {
            assert_eq!(
                (status.as_str(), reason.as_str()),
                ("rejected", "fraud_reported")
            );
            // "Not me" locked frank's pushes; the site lifts the lock for the next round.
            s.rp.lift_lock("frank").await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_device_cores_racing_at_the_service_make_one_decision() {
    let s = Setup::new(CODE).await;
    let a = core_device(&s.paired_device("phone-a", "ivan", CODE).await);
    let b = core_device(&s.paired_device("phone-b", "ivan", CODE).await);
    for round in 0..5 {
        let session = s.rp.login("ivan", json!({})).await;
        let id = session["id"].as_str().expect("id").to_owned();
        let code = session["presence_code"].as_str().expect("code").to_owned();
        // Both devices hold the request before either answers, so both answers hit the service.
        assert!(
            a.pending(None)
                .await
                .expect("pending a")
                .iter()
                .any(|p| p.id == id)
        );
        assert!(
            b.pending(None)
                .await
                .expect("pending b")
                .iter()
                .any(|p| p.id == id)
        );
        let approve = tapprove_core::Decision::Approve {
            presence_answer: Some(code),
        };
        let deny = tapprove_core::Decision::Deny {
            reason: tapprove_core::DenyReason::NotMe,
        };
        let (ra, rb) = tokio::join!(a.respond(&id, approve), b.respond(&id, deny));
        let oks = [ra.is_ok(), rb.is_ok()];
        assert_eq!(
            oks.iter().filter(|x| **x).count(),
            1,
            "round {round}: {ra:?} / {rb:?}"
        );
        let loser = if ra.is_ok() {
            rb.as_ref().err()
        } else {
            ra.as_ref().err()
        };
        assert!(
            matches!(loser, Some(tapprove_core::CoreError::AlreadyAnswered)),
            "{loser:?}"
        );
        let expected = if ra.is_ok() {
            ("accepted", "approved")
        } else {
            ("rejected", "fraud_reported")
        };
        let got = final_status(&s.rp, &id).await;
        assert_eq!((got.0.as_str(), got.1.as_str()), expected);
        if got.1 == "fraud_reported" {
            s.rp.lift_lock("ivan").await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn service_restarted_mid_login_keeps_the_session_answerable() {
    let mut s = Setup::new(CODE).await;
    let d = s.paired_device("phone", "gina", CODE).await;
    let session = s.rp.login("gina", json!({})).await;
    let id = session["id"].as_str().expect("id").to_owned();
    let code = session["presence_code"].as_str().expect("code").to_owned();
    let r = d.request(&id).await;
    s.serve.restart();
    // Same signing key after the restart: the device still verifies the challenge.
    let r2 = d.request(&id).await;
    assert_eq!(r2["options"], r["options"]);
    let v = ok_json(
        &d.run(&[
            "respond",
            &id,
            "--choose",
            &option(&r, &code, true),
            "--json",
        ])
        .await,
    );
    assert_eq!(v["status"], json!("accepted"));
    assert_eq!(
        final_status(&s.rp, &id).await,
        ("accepted".into(), "approved".into())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn listen_shows_requests_and_answers_with_one_key() {
    let s = Setup::new(CODE).await;
    let d = s.paired_device("phone", "hana", CODE).await;
    let mut listen = Terminal::with_bin(BIN, &d.store).listen().await;

    // 1. approve with the right key
    let session = s.rp.login("hana", json!({})).await;
    let id = session["id"].as_str().expect("id").to_owned();
    let code = session["presence_code"].as_str().expect("code").to_owned();
    listen.wait_for(&format!("Login request {id}")).await;
    let from = listen.wait_for("from:").await;
    assert!(from.contains("203.0.113.7"), "context shown: {from}");
    let opts = listen.wait_for("[1] ").await;
    let key = (1..=3)
        .find(|i| opts.contains(&format!("[{i}] {code}")))
        .expect("code among options");
    listen.type_line(&key.to_string());
    listen.wait_for("approved").await;
    assert_eq!(final_status(&s.rp, &id).await.0, "accepted");

    // 2. n reports "not me"
    let session = s.rp.login("hana", json!({})).await;
    let id = session["id"].as_str().expect("id").to_owned();
    listen.wait_for(&format!("Login request {id}")).await;
    listen.type_line("n");
    listen.wait_for("fraud_reported").await;
    assert_eq!(
        final_status(&s.rp, &id).await,
        ("rejected".into(), "fraud_reported".into())
    );
    // "Not me" locked hana's pushes; the site lifts the lock.
    s.rp.lift_lock("hana").await;

    // 3. entry mode asks for the code
    let session = s.rp.login("hana", json!({"presence": "entry"})).await;
    let id = session["id"].as_str().expect("id").to_owned();
    let code = session["presence_code"].as_str().expect("code").to_owned();
    listen.wait_for(&format!("Login request {id}")).await;
    // The prompt says how many digits the code has (from the challenge).
    listen
        .wait_for(&format!("Type the {}-digit code", code.len()))
        .await;
    listen.type_line(&code);
    listen.wait_for("approved").await;
    assert_eq!(final_status(&s.rp, &id).await.0, "accepted");

    // 4. a request decided elsewhere disappears
    let session = s.rp.login("hana", json!({})).await;
    let id = session["id"].as_str().expect("id").to_owned();
    listen.wait_for(&format!("Login request {id}")).await;
    d.run(&["respond", &id, "--deny"]).await;
    listen.wait_for("decided elsewhere").await;

    // 5. a prompt superseded before the answer: `n` still reports it ("this wasn't me")
    let first = s.rp.login("hana", json!({})).await;
    let first_id = first["id"].as_str().expect("id").to_owned();
    listen.wait_for(&format!("Login request {first_id}")).await;
    s.rp.login("hana", json!({})).await;
    listen
        .wait_for(&format!("{first_id}: ended (canceled)"))
        .await;
    listen.type_line("n");
    listen
        .wait_for("reported as not you; the login stays canceled")
        .await;
    assert_eq!(
        final_status(&s.rp, &first_id).await,
        ("canceled".into(), "superseded".into()),
        "the outcome stays"
    );
    let (status, body) = s.rp.create_raw(&fixture::create_session_body("hana")).await;
    assert_eq!(status.as_u16(), 423, "locked by the late report: {body}");
    let audit = stdout(
        &tapprove(&[
            "admin",
            "audit",
            "--database",
            &s.serve.db,
            "--user",
            "hana",
            "--json",
        ])
        .await,
    );
    assert!(
        audit.contains("session.fraud_reported_late") && audit.contains(&first_id),
        "{audit}"
    );
    s.rp.lift_lock("hana").await;

    // 6. a prompt that ended while listening is still listed and reportable from a new
    //    process (the ended request is in the device's store, not only in listen's memory)
    let first = s.rp.login("hana", json!({})).await;
    let first_id = first["id"].as_str().expect("id").to_owned();
    listen.wait_for(&format!("Login request {first_id}")).await;
    let second = s.rp.login("hana", json!({})).await;
    let second_id = second["id"].as_str().expect("id").to_owned();
    listen
        .wait_for(&format!("{first_id}: ended (canceled)"))
        .await;
    let listed = d.requests().await;
    // (Step 5's newer login is listed too: the lock canceled it unanswered.)
    let ended = listed
        .iter()
        .find(|r| r["id"] == json!(first_id))
        .unwrap_or_else(|| panic!("{first_id} not listed: {listed:?}"));
    assert_eq!(ended["ended"]["status"], json!("canceled"));
    assert!(ended["ended"]["at"].as_i64().is_some());
    assert!(
        listed
            .iter()
            .any(|r| r["id"] == json!(second_id) && r.get("ended").is_none()),
        "the newer login is pending: {listed:?}"
    );
    let text = stdout(&d.run(&["requests"]).await);
    assert!(
        text.contains(&format!("{first_id}  "))
            && text.contains("[ended]")
            && text.contains("a newer login replaced it"),
        "{text}"
    );
    let option = first["presence_code"].as_str().expect("code").to_owned();
    let line = failed_line(&d.run(&["respond", &first_id, "--choose", &option]).await);
    assert!(
        line.contains("can no longer be approved")
            && line.contains(&format!("respond {first_id} --not-me")),
        "{line}"
    );
    let o = d.run(&["respond", &first_id, "--not-me"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("reported as not you; the login stays canceled"),
        "{}",
        stdout(&o)
    );
    let (status, body) = s.rp.create_raw(&fixture::create_session_body("hana")).await;
    assert_eq!(status.as_u16(), 423, "locked by the late report: {body}");
    s.rp.lift_lock("hana").await;

    // 7. code to phone: `s` shows the code (the site never sees it), typed at the login
    let session = s.rp.login("hana", json!({"presence": "display"})).await;
    let id = session["id"].as_str().expect("id").to_owned();
    assert!(session["presence_code"].is_null(), "{session}");
    listen.wait_for(&format!("Login request {id}")).await;
    let code = listen.show_code().await;
    let view = s.rp.typed().submit_code(&id, &code).await.expect("submit");
    assert_eq!(view.status.as_str(), "accepted", "{code}");

    assert!(listen.quit().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_sets_the_presence_policy_and_the_login_follows_it() {
    let s = Setup::new(CODE).await;
    let _d = s.paired_device("phone", "nora", CODE).await;
    let project = s.project["project_id"].as_str().expect("id");
    let admin = |args: &[&str]| {
        let mut all = vec!["admin", "project"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--database", &s.serve.db]);
        let all: Vec<String> = all.into_iter().map(str::to_owned).collect();
        async move {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            tapprove(&refs).await
        }
    };
    // The default is `choose`: three 2-digit options.
    let session = s.rp.login("nora", json!({})).await;
    assert_eq!(session["presence_code"].as_str().expect("code").len(), 2);

    let o = admin(&["set-policy", "--project", project, "--policy", "nist-aal2"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("nist-aal2 (typed 6-digit code"),
        "{}",
        stdout(&o)
    );
    let session = s.rp.login("nora", json!({})).await;
    let code = session["presence_code"].as_str().expect("code");
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    let (status, body) = s
        .rp
        .create_raw(&json!({"user": "nora", "notification": {"title": "t", "body": "b"}, "presence": "choose"}))
        .await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (400, Some("policy_not_met"))
    );

    // Too short a code for nist-aal2, an unknown policy: one clear line each.
    let line = failed_line(
        &admin(&[
            "set-policy",
            "--project",
            project,
            "--policy",
            "nist-aal2",
            "--code-digits",
            "4",
        ])
        .await,
    );
    assert!(line.contains("6 to 12 digits"), "{line}");
    let line = failed_line(&admin(&["set-policy", "--project", project, "--policy", "tap"]).await);
    assert!(line.contains("choose, entry or nist-aal2"), "{line}");

    // Create prints the policy; events URL validated like the trust URL.
    let o = tapprove(&[
        "admin",
        "project",
        "create",
        "--name",
        "Strict",
        "--trust-url",
        &s.rp_hook.trust_url(),
        "--policy",
        "entry",
        "--code-digits",
        "8",
        "--events-url",
        "http://127.0.0.1:9/events",
        "--database",
        &s.serve.db,
    ])
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("entry (typed 8-digit code)"),
        "{}",
        stdout(&o)
    );
    let line = failed_line(
        &admin(&[
            "set-events-url",
            "--project",
            project,
            "--events-url",
            "http://bank.example/events",
        ])
        .await,
    );
    assert!(line.contains("https"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn code_to_phone_is_printed_by_the_terminal_authenticator_and_typed_at_the_login() {
    let s = Setup::new(CODE).await;
    let d = s.paired_device("phone", "ines", CODE).await;
    let session = s.rp.login("ines", json!({"presence": "display"})).await;
    let id = session["id"].as_str().expect("id").to_owned();
    assert!(session["presence_code"].is_null(), "{session}");
    let o = d.run(&["requests"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.contains("code to type at the login prompt: "))
        .unwrap_or_else(|| panic!("no code printed: {out}"));
    let code: String = line
        .split("prompt: ")
        .nth(1)
        .expect("code")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(code.len() >= 6, "{line}");
    let view = s.rp.typed().submit_code(&id, &code).await.expect("submit");
    assert_eq!(
        (view.status.as_str(), view.reason.map(|r| r.as_str())),
        ("accepted", Some("approved"))
    );

    // Approve-only only with the project's flag, never with nist-aal2; the listing shows it.
    let project = s.project["project_id"].as_str().expect("id");
    let admin = |args: &[&str]| {
        let mut all = vec!["admin", "project"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--database", &s.serve.db]);
        let all: Vec<String> = all.into_iter().map(str::to_owned).collect();
        async move {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            tapprove(&refs).await
        }
    };
    let (status, _) = s.rp.create_raw(&json!({"user": "ines", "notification": {"title": "t", "body": "b"}, "presence": "none"})).await;
    assert_eq!(status.as_u16(), 400);
    let line = failed_line(
        &admin(&[
            "set-policy",
            "--project",
            project,
            "--policy",
            "nist-aal2",
            "--allow-approve-only",
        ])
        .await,
    );
    assert!(line.contains("approve-only"), "{line}");
    let o = admin(&[
        "set-policy",
        "--project",
        project,
        "--policy",
        "choose",
        "--allow-approve-only",
    ])
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("approve-only sessions allowed"),
        "{}",
        stdout(&o)
    );
    let list = stdout(&admin(&["list"]).await);
    assert!(list.contains("choose +approve-only"), "{list}");
    let (status, body) = s.rp.create_raw(&json!({"user": "ines", "notification": {"title": "t", "body": "b"}, "presence": "none"})).await;
    assert_eq!(status.as_u16(), 201, "{body}");
}
