//! End to end, through the real binary: the relying-party API's refusals (bad API key, bad
//! bodies, unknown users and sessions) and the CLI's one-line failures.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

async fn raw(
    method: reqwest::Method,
    url: String,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut req = client.request(method, url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<no error code>")
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_api_keys_are_401() {
    let s = Setup::new("7KQ2-M9XD").await;
    let url = format!("{}/v1/push/sessions", s.serve.url);
    let body = r#"{"user":"alice","notification":{"title":"t","body":"b"}}"#;
    let real = s.project["api_key"].as_str().expect("key");
    let wrong = format!("{}x", &real[..real.len() - 1]);
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("x-api-key", wrong.clone())],
        vec![("authorization", format!("Bearer {wrong}"))],
        vec![("x-api-key", "tap_api_short".into())],
        vec![("authorization", format!("Basic {real}"))],
        vec![(
            "x-api-key",
            s.project["sdk_key"].as_str().expect("sdk").into(),
        )],
    ];
    for headers in cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, v) = raw(reqwest::Method::POST, url.clone(), &h, Some(body)).await;
        assert_eq!(
            (status, code(&v)),
            (401, "unauthorized"),
            "headers {:?}",
            headers.iter().map(|h| h.0).collect::<Vec<_>>()
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        let (status, _) = raw(reqwest::Method::GET, format!("{url}/ses_x"), &h, None).await;
        assert_eq!(status, 401);
    }
    // Both header forms work with the right key (422: nobody paired yet, but authenticated).
    for h in [
        ("x-api-key", real.to_owned()),
        ("authorization", format!("Bearer {real}")),
    ] {
        let (status, v) = raw(
            reqwest::Method::POST,
            url.clone(),
            &[(h.0, h.1.as_str())],
            Some(body),
        )
        .await;
        assert_eq!((status, code(&v)), (422, "no_device"));
    }
    // Another project's key cannot read this project's sessions.
    s.paired_device("phone", "alice", "7KQ2-M9XD").await;
    let id = s.rp.login("alice", json!({})).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let other = s
        .serve
        .create_project("Other Bank", &s.rp_hook.trust_url())
        .await;
    let key = other["api_key"].as_str().expect("key");
    let (status, v) = raw(
        reqwest::Method::GET,
        format!("{url}/{id}"),
        &[("x-api-key", key)],
        None,
    )
    .await;
    assert_eq!((status, code(&v)), (404, "not_found"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_are_400_with_the_error_body() {
    let s = Setup::new("7KQ2-M9XD").await;
    s.paired_device("phone", "alice", "7KQ2-M9XD").await;
    let url = format!("{}/v1/push/sessions", s.serve.url);
    let key = s.project["api_key"].as_str().expect("key");
    let h = [("x-api-key", key)];
    for body in [
        "not json",
        "{}",
        "[]",
        r#"{"user":"alice"}"#,
        r#"{"user":"alice","notification":{"title":"t"}}"#,
        r#"{"user":42,"notification":{"title":"t","body":"b"}}"#,
        r#"{"user":"alice","notification":{"title":"t","body":"b"},"presence":"telepathy"}"#,
        r#"{"user":"alice","notification":{"title":"t","body":"b"},"ttl_seconds":601}"#,
        r#"{"user":"alice","notification":{"title":"t","body":"b"},"ttl_seconds":-5}"#,
        r#"{"user":"","notification":{"title":"t","body":"b"}}"#,
    ] {
        let (status, v) = raw(reqwest::Method::POST, url.clone(), &h, Some(body)).await;
        assert_eq!(
            (status, code(&v)),
            (400, "invalid_request"),
            "body {body}: {v}"
        );
    }
    // Unknown user / session, bad wait.
    let (status, v) = raw(
        reqwest::Method::POST,
        url.clone(),
        &h,
        Some(r#"{"user":"nobody","notification":{"title":"t","body":"b"}}"#),
    )
    .await;
    assert_eq!((status, code(&v)), (422, "no_device"));
    let (status, v) = raw(reqwest::Method::GET, format!("{url}/ses_unknown"), &h, None).await;
    assert_eq!((status, code(&v)), (404, "not_found"));
    let (status, v) = raw(
        reqwest::Method::DELETE,
        format!("{url}/ses_unknown"),
        &h,
        None,
    )
    .await;
    assert_eq!((status, code(&v)), (404, "not_found"));
    // Device API: garbage answers and unauthenticated calls.
    let answers = format!("{}/v1/device/answers", s.serve.url);
    let (status, v) = raw(
        reqwest::Method::POST,
        answers.clone(),
        &[],
        Some(r#"{"answer":"a.b.c"}"#),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    let (status, _) = raw(reqwest::Method::POST, answers, &[], Some("{")).await;
    assert_eq!(status, 400);
    let (status, v) = raw(
        reqwest::Method::GET,
        format!("{}/v1/device/pending", s.serve.url),
        &[],
        None,
    )
    .await;
    assert_eq!((status, code(&v)), (401, "unauthorized"));
    let (status, v) = raw(
        reqwest::Method::GET,
        format!("{}/no/such/route", s.serve.url),
        &[],
        None,
    )
    .await;
    assert_eq!(status, 404, "{v}");
    // DELETE cancels a live session.
    let id = s.rp.login("alice", json!({})).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, v) = raw(reqwest::Method::DELETE, format!("{url}/{id}"), &h, None).await;
    assert_eq!(
        (status, v["status"].as_str(), v["reason"].as_str()),
        (200, Some("canceled"), Some("canceled_by_relying_party"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_failures_are_one_actionable_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());

    // Usage errors: one line, exit code 2.
    let o = tapprove(&["admin", "project", "create", "--name", "X"]).await;
    assert!(failed_line(&o).contains("--trust-url"));
    assert_eq!(o.status.code(), Some(2));
    let o = tapprove(&["serve", "--listen", "nope"]).await;
    assert!(failed_line(&o).contains("--listen"));

    // Admin without a seal key.
    let o = std::process::Command::new(BIN)
        .args([
            "admin",
            "project",
            "create",
            "--name",
            "X",
            "--trust-url",
            "https://x.example/users/trust",
            "--database",
            &db,
        ])
        .env_remove("TAPPROVE_SEAL_KEY")
        .output()
        .expect("run");
    assert!(failed_line(&o).contains("TAPPROVE_SEAL_KEY"));

    // Plain http trust URL off loopback.
    let o = tapprove(&[
        "admin",
        "project",
        "create",
        "--name",
        "X",
        "--trust-url",
        "http://x.example/users/trust",
        "--database",
        &db,
    ])
    .await;
    assert!(failed_line(&o).contains("https"));

    // Create, list (text and JSON), rotate.
    let p = ok_json(
        &tapprove(&[
            "admin",
            "project",
            "create",
            "--name",
            "Shop",
            "--trust-url",
            "https://shop.example/users/trust",
            "--json",
            "--database",
            &db,
        ])
        .await,
    );
    for k in [
        "api_key",
        "sdk_key",
        "webhook_username",
        "webhook_password",
        "webhook_secret",
        "project_id",
    ] {
        assert!(p[k].as_str().is_some_and(|v| !v.is_empty()), "{k}");
    }
    assert!(
        p["api_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("tap_api_") && k.len() == 8 + 43)
    );
    let list = ok_json(&tapprove(&["admin", "project", "list", "--json", "--database", &db]).await);
    assert_eq!(list[0]["name"], json!("Shop"));
    assert!(
        !list
            .to_string()
            .contains(p["api_key"].as_str().expect("key")),
        "list shows no secrets"
    );
    let text = tapprove(&["admin", "project", "list", "--database", &db]).await;
    assert!(stdout(&text).contains("Shop"));
    let pid = p["project_id"].as_str().expect("id");
    let rotated = ok_json(
        &tapprove(&[
            "admin",
            "project",
            "rotate-webhook",
            "--project",
            pid,
            "--json",
            "--database",
            &db,
        ])
        .await,
    );
    assert_ne!(rotated["webhook_secret"], p["webhook_secret"]);
    let o = tapprove(&[
        "admin",
        "project",
        "rotate-webhook",
        "--project",
        "prj_nope",
        "--database",
        &db,
    ])
    .await;
    assert!(failed_line(&o).contains("tapprove admin project list"));

    // serve on a port that is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let o = tapprove(&["serve", "--listen", &addr, "--database", &db]).await;
    assert!(failed_line(&o).contains("already in use"));

    // Device commands on an empty store.
    let store = dir.path().join("dev").to_string_lossy().into_owned();
    let o = tapprove(&["device", "listen", "--store", &store]).await;
    assert!(failed_line(&o).contains("pair"));
    let o = tapprove(&["device", "unpair", "acc_nope", "--store", &store]).await;
    assert!(failed_line(&o).contains("acc_nope"));
    let o = tapprove(&[
        "device", "respond", "ses_nope", "--choose", "42", "--store", &store,
    ])
    .await;
    assert!(failed_line(&o).contains("ses_nope"));
    let o = tapprove(&[
        "device",
        "pair",
        "--uri",
        "tapprove://pair?server=x",
        "--store",
        &store,
    ])
    .await;
    assert!(failed_line(&o).contains("pairing link"));
    let accounts = tapprove(&["device", "accounts", "--store", &store]).await;
    assert!(accounts.status.success() && stdout(&accounts).contains("No accounts"));
}

/// `TAPPROVE_CONFIG` names the file as `--config` does: a bad key in it stops `serve` with a
/// line naming the file and the key.
#[tokio::test(flavor = "multi_thread")]
async fn serve_reads_the_file_tapprove_config_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tapprove.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\n[limits]\nsessions_per_minut = 3\n",
    )
    .expect("write");
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--data"])
        .arg(dir.path().join("data"))
        .env("TAPPROVE_CONFIG", &file)
        .env("TAPPROVE_SEAL_KEY", SEAL_KEY)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    // Without the variable the service would start and keep running: bounded wait.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().expect("kill");
            panic!("`tapprove serve` ignored TAPPROVE_CONFIG and started");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let o = child.wait_with_output().expect("output");
    let line = failed_line(&o);
    assert!(line.contains("sessions_per_minut"), "{line}");
    assert!(line.contains("tapprove.toml"), "{line}");
}
