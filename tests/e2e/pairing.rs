//! End to end, through the real binary: pairing with `tapprove device pair` against a real
//! `tapprove serve` and a fake relying-party trust webhook.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn pairing_accepted_stores_the_account_and_the_webhook_was_authentic() {
    let s = Setup::new("7KQ2-M9XD").await;
    let d = Device::new(s.dir.path(), "phone");
    let account = ok_json(&d.pair(&s.serve, &s.project, "alice", "7KQ2-M9XD").await);
    assert_eq!(account["user"], json!("alice"));
    assert_eq!(account["project_name"], json!(fixture::PROJECT_NAME));
    assert_eq!(
        account["server_url"]
            .as_str()
            .map(|u| u.trim_end_matches('/')),
        Some(s.serve.url.as_str())
    );
    let calls = s.rp_hook.calls();
    assert_eq!(calls.len(), 1);
    assert!(
        calls[0].authentic(),
        "Basic auth + Standard Webhooks HMAC must verify"
    );
    assert_eq!(
        calls[0].body,
        json!({"user": "alice", "challenge": "7KQ2-M9XD"})
    );
    let accounts = d.accounts().await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["id"], account["id"]);
    // The store is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&d.store)
            .expect("store")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    // A user can then be asked: the service now knows a device for alice.
    let session = s.rp.login("alice", json!({})).await;
    assert_eq!(session["status"], json!("sent"));
}

/// Pairing fails with one human line, and nothing is stored on either side.
async fn assert_refused(
    s: &Setup,
    d: &Device,
    user: &str,
    code: &str,
    expect_in_message: &[&str],
) -> Duration {
    let start = Instant::now();
    let o = d.pair(&s.serve, &s.project, user, code).await;
    let took = start.elapsed();
    let line = failed_line(&o).to_lowercase();
    assert!(line.contains("pairing was refused"), "{line}");
    assert!(
        expect_in_message.iter().any(|w| line.contains(w)),
        "message {line:?} should mention one of {expect_in_message:?}"
    );
    assert!(
        d.accounts().await.is_empty(),
        "nothing may be stored on the device"
    );
    let (status, body) =
        s.rp.create_raw(&json!({"user": user, "notification": {"title": "t", "body": "b"}}))
            .await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (422, Some("no_device")),
        "nothing stored on the service"
    );
    took
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_code_is_refused() {
    let s = Setup::new("7KQ2-M9XD").await;
    let d = Device::new(s.dir.path(), "phone");
    assert_refused(
        &s,
        &d,
        "bob",
        "AAAA-BBBB",
        &["not accept", "code", "rejected", "refused"],
    )
    .await;
    assert_eq!(s.rp_hook.calls().len(), 1, "the webhook was asked once");
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_down_500_slow_and_redirect_are_refused() {
    let s = Setup::new("7KQ2-M9XD").await;

    s.rp_hook.set_mode(TrustMode::Fail500);
    let d = Device::new(s.dir.path(), "phone-500");
    assert_refused(
        &s,
        &d,
        "carol",
        "7KQ2-M9XD",
        &["500", "not accept", "refused", "rejected"],
    )
    .await;

    s.rp_hook.set_mode(TrustMode::Redirect);
    let d = Device::new(s.dir.path(), "phone-redirect");
    assert_refused(&s, &d, "carol", "7KQ2-M9XD", &["redirect"]).await;
    assert_eq!(
        s.rp_hook.redirect_target_hits(),
        0,
        "redirects are not followed"
    );

    // The test service's webhook timeout is 1.5 s (the default is 10 s).
    s.rp_hook.set_mode(TrustMode::Slow(Duration::from_secs(4)));
    let d = Device::new(s.dir.path(), "phone-slow");
    let took = assert_refused(
        &s,
        &d,
        "carol",
        "7KQ2-M9XD",
        &["time", "did not answer", "unreachable", "no answer"],
    )
    .await;
    assert!(
        took < Duration::from_secs(4),
        "the service must give up at its timeout, took {took:?}"
    );

    // Down: a project whose trust URL has nobody listening.
    let project = s.serve.create_project("Dead Bank", &dead_trust_url()).await;
    let d = Device::new(s.dir.path(), "phone-down");
    let o = d.pair(&s.serve, &project, "carol", "7KQ2-M9XD").await;
    let line = failed_line(&o).to_lowercase();
    assert!(
        line.contains("pairing was refused")
            && (line.contains("reach") || line.contains("connect") || line.contains("unreachable")),
        "{line}"
    );
    assert!(d.accounts().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moved_trust_webhook_is_set_by_the_operator_without_a_restart() {
    let s = Setup::new("7KQ2-M9XD").await;
    let pid = s.project["project_id"].as_str().expect("id").to_owned();
    let admin = |url: String| {
        let db = s.serve.db.clone();
        let pid = pid.clone();
        async move {
            tapprove(&[
                "admin",
                "project",
                "set-trust-url",
                "--project",
                &pid,
                "--trust-url",
                &url,
                "--json",
                "--database",
                &db,
            ])
            .await
        }
    };
    // The site moved away: pairing fails while the project points at the old address.
    let dead = dead_trust_url();
    let set = ok_json(&admin(dead.clone()).await);
    assert_eq!(set["trust_url"], json!(dead));
    let d = Device::new(s.dir.path(), "phone");
    let o = d.pair(&s.serve, &s.project, "alice", "7KQ2-M9XD").await;
    assert!(failed_line(&o).contains("pairing was refused"));
    // The operator points the project at the live webhook; the running service uses it.
    let set = ok_json(&admin(s.rp_hook.trust_url()).await);
    assert_eq!(set["trust_url"], json!(s.rp_hook.trust_url()));
    let account = ok_json(&d.pair(&s.serve, &s.project, "alice", "7KQ2-M9XD").await);
    assert_eq!(account["user"], json!("alice"));
    assert_eq!(s.rp_hook.calls().len(), 1);
    // Bad input is refused with one line, and nothing changes.
    let o = admin("ftp://bank.example/trust".into()).await;
    assert!(!o.status.success());
    let o = tapprove(&[
        "admin",
        "project",
        "set-trust-url",
        "--project",
        "prj_nope",
        "--trust-url",
        &s.rp_hook.trust_url(),
        "--database",
        &s.serve.db,
    ])
    .await;
    assert!(failed_line(&o).contains("tapprove admin project list"));
    let list = ok_json(
        &tapprove(&[
            "admin",
            "project",
            "list",
            "--json",
            "--database",
            &s.serve.db,
        ])
        .await,
    );
    assert_eq!(list[0]["trust_url"], json!(s.rp_hook.trust_url()));
}

#[tokio::test(flavor = "multi_thread")]
async fn pairing_via_enrollment_uri_and_unpair() {
    let s = Setup::new("ZZZZ-1111").await;
    let d = Device::new(s.dir.path(), "phone");
    let uri = format!(
        "tapprove://pair?server={}&sdk_key={}&user=dave&code=ZZZZ-1111",
        url_escape(&s.serve.url),
        s.project["sdk_key"].as_str().expect("sdk")
    );
    let account = ok_json(&d.run(&["pair", "--uri", &uri, "--json"]).await);
    assert_eq!(account["user"], json!("dave"));
    let id = account["id"].as_str().expect("id").to_owned();
    let o = d.run(&["unpair", &id]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.accounts().await.is_empty());
    let (status, body) =
        s.rp.create_raw(&json!({"user": "dave", "notification": {"title": "t", "body": "b"}}))
            .await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (422, Some("no_device")),
        "the service forgot the device"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_sdk_key_and_bad_server_are_one_line_errors() {
    let s = Setup::new("7KQ2-M9XD").await;
    let d = Device::new(s.dir.path(), "phone");
    let o = d
        .run(&[
            "pair",
            "--server",
            &s.serve.url,
            "--sdk-key",
            "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA",
            "--user",
            "x",
            "--code",
            "7KQ2-M9XD",
        ])
        .await;
    assert!(failed_line(&o).contains("SDK key"));
    let o = d
        .run(&[
            "pair",
            "--server",
            &s.serve.url,
            "--sdk-key",
            "nope",
            "--user",
            "x",
            "--code",
            "7KQ2-M9XD",
        ])
        .await;
    assert!(failed_line(&o).contains("SDK key"));
    let o = d
        .run(&[
            "pair",
            "--server",
            "http://example.com",
            "--sdk-key",
            s.project["sdk_key"].as_str().expect("sdk"),
            "--user",
            "x",
            "--code",
            "7KQ2-M9XD",
        ])
        .await;
    assert!(failed_line(&o).to_lowercase().contains("https"));
    let o = d
        .run(&[
            "pair",
            "--server",
            &dead_trust_url().replace("/users/trust", ""),
            "--sdk-key",
            s.project["sdk_key"].as_str().expect("sdk"),
            "--user",
            "x",
            "--code",
            "7KQ2-M9XD",
        ])
        .await;
    assert!(failed_line(&o).contains("could not reach"));
}

fn url_escape(s: &str) -> String {
    s.replace(':', "%3A").replace('/', "%2F")
}
