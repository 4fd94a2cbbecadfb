//! Configuration: TOML shape, and a clear error at start for every unusable setting.

mod support;

use std::path::Path;

use support::*;
use tapprove_protocol::SoftwareKey;
use tapprove_protocol::api::PushEnvironment;
use tapprove_push::{PushConfig, PushConfigError, RetryConfig};

/// A config section as the service's TOML file holds it.
#[derive(serde::Deserialize)]
struct ServiceFile {
    push: PushConfig,
}

fn valid(files: &Files) -> PushConfig {
    push_config(files, None, None)
}

fn with_apns(files: &Files) -> PushConfig {
    let mut c = valid(files);
    c.apns = Some(apns_config(files, "https://127.0.0.1:1"));
    c
}

fn with_fcm(files: &Files) -> PushConfig {
    let mut c = valid(files);
    c.fcm = Some(fcm_config(files, "https://127.0.0.1:1"));
    c
}

fn files() -> Files {
    Files::new(
        &TestPki::new(),
        &SoftwareKey::generate().expect("key"),
        None,
    )
}

fn error_of(config: &PushConfig) -> String {
    let err = config.validate().expect_err("must be refused");
    // build() reports exactly the same error.
    assert_eq!(
        config.build().err().map(|e| e.to_string()),
        Some(err.to_string())
    );
    err.to_string()
}

#[test]
fn the_documented_toml_parses_with_defaults() {
    let file: ServiceFile = toml::from_str(
        r#"
        [push.apns]
        key_path = "/etc/tapprove/AuthKey_ABCDE12345.p8"
        key_id = "ABCDE12345"
        team_id = "TEAM123456"
        topic = "com.example.bank"
        environment = "sandbox"

        [push.fcm]
        service_account_path = "/etc/tapprove/firebase.json"

        [push.retry]
        max_attempts = 3
        "#,
    )
    .expect("toml");
    let apns = file.push.apns.expect("apns");
    assert_eq!(apns.environment, Some(PushEnvironment::Sandbox));
    assert_eq!(apns.default_environment(), PushEnvironment::Sandbox);
    assert_eq!(apns.host, None);
    assert_eq!(file.push.fcm.expect("fcm").token_uri, None);
    assert_eq!(
        file.push.retry,
        RetryConfig {
            max_attempts: 3,
            ..RetryConfig::default()
        }
    );

    let empty: ServiceFile = toml::from_str("[push]").expect("toml");
    assert_eq!(empty.push, PushConfig::default());

    let typo = toml::from_str::<ServiceFile>("[push.apns]\nkey_pth = \"x\"")
        .err()
        .expect("unknown field");
    assert!(typo.to_string().contains("key_pth"), "{typo}");
}

#[test]
fn valid_configs_build() {
    let f = files();
    assert!(valid(&f).validate().is_ok());
    let mut both = with_apns(&f);
    both.fcm = with_fcm(&f).fcm;
    let router = both.build_router().expect("valid");
    assert_eq!(
        format!("{router:?}"),
        "Router { apns: true, fcm: true, webpush: false }"
    );
    // Production defaults: no host, no CA file.
    let mut production = both.clone();
    production.ca_file = None;
    production.apns.as_mut().expect("apns").host = None;
    production.fcm.as_mut().expect("fcm").host = None;
    assert!(production.validate().is_ok());
    // Debug output names settings, never key material.
    let debug = format!("{:?}", both.apns_sender().expect("ok").expect("apns"));
    assert!(
        debug.contains("ABCDE12345") && !debug.contains("PRIVATE"),
        "{debug}"
    );
}

#[test]
fn missing_files_name_the_setting() {
    let f = files();
    let mut c = with_apns(&f);
    c.apns.as_mut().expect("apns").key_path = f.dir.path().join("AuthKey_ABCDE12345-missing.p8");
    let err = error_of(&c);
    assert!(
        err.contains("push.apns.key_path") && err.contains("missing.p8"),
        "{err}"
    );

    let mut c = with_fcm(&f);
    c.fcm.as_mut().expect("fcm").service_account_path = "/nonexistent/sa.json".into();
    let err = error_of(&c);
    assert!(
        err.contains("push.fcm.service_account_path") && err.contains("/nonexistent/sa.json"),
        "{err}"
    );
}

fn with_key_file(f: &Files, contents: &str) -> PushConfig {
    std::fs::write(&f.p8, contents).expect("write");
    with_apns(f)
}

#[test]
fn bad_p8_keys_are_explained() {
    let f = files();
    let err = error_of(&with_key_file(&f, "not a key"));
    assert!(
        err.contains("not usable")
            && err.contains("BEGIN PRIVATE KEY")
            && err.contains("Apple Developer"),
        "{err}"
    );

    let err = error_of(&with_key_file(
        &f,
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n",
    ));
    assert!(err.contains("openssl pkcs8 -topk8"), "{err}");

    // An RSA key is not an ES256 key.
    let rsa = include_str!("fixtures/fcm-test-only-rsa-key.pem");
    let err = error_of(&with_key_file(&f, rsa));
    assert!(err.contains("P-256"), "{err}");
    assert!(
        !err.contains("MII"),
        "key material never appears in errors: {err}"
    );
}

#[test]
fn apple_identifiers_and_topic_are_checked() {
    let f = files();
    let mut c = with_apns(&f);
    c.apns.as_mut().expect("apns").key_id = "ABC".into();
    let err = error_of(&c);
    assert!(
        err.contains("push.apns.key_id") && err.contains("10-character"),
        "{err}"
    );

    let mut c = with_apns(&f);
    c.apns.as_mut().expect("apns").team_id = "TEAM-12345".into();
    assert!(error_of(&c).contains("push.apns.team_id"));

    // The file is AuthKey_ABCDE12345.p8: another 10-character key id is a mismatch.
    let mut c = with_apns(&f);
    c.apns.as_mut().expect("apns").key_id = "ZZZZZ99999".into();
    let err = error_of(&c);
    assert!(err.contains("named for key \"ABCDE12345\""), "{err}");

    let mut c = with_apns(&f);
    c.apns.as_mut().expect("apns").topic = "com.example app".into();
    assert!(error_of(&c).contains("push.apns.topic"));
    let mut c = with_apns(&f);
    c.apns.as_mut().expect("apns").topic = String::new();
    assert!(error_of(&c).contains("bundle id"));

    let mut c = with_apns(&f);
    c.apns.as_mut().expect("apns").token_refresh_secs = Some(600);
    assert!(error_of(&c).contains("push.apns.token_refresh_secs"));
    c.apns.as_mut().expect("apns").token_refresh_secs = Some(3600);
    assert!(error_of(&c).contains("3300"));
}

#[test]
fn hosts_must_be_https_outside_loopback() {
    let f = files();
    let mut c = with_apns(&f);
    c.apns.as_mut().expect("apns").host = Some("http://apns.example.com".into());
    let err = error_of(&c);
    assert!(
        err.contains("push.apns.host") && err.contains("https"),
        "{err}"
    );
    c.apns.as_mut().expect("apns").host = Some("http://127.0.0.1:2197".into());
    assert!(c.validate().is_ok(), "h2c on loopback is allowed for tests");

    let mut c = with_fcm(&f);
    c.fcm.as_mut().expect("fcm").token_uri = Some("token".into());
    assert!(error_of(&c).contains("push.fcm.token_uri"));
    let mut c = with_fcm(&f);
    c.fcm.as_mut().expect("fcm").host = Some("https://fcm.example.com/v1".into());
    assert!(error_of(&c).contains("scheme, host and port"));
}

fn write_sa(dir: &Path, value: serde_json::Value) -> std::path::PathBuf {
    let path = dir.join("sa-edited.json");
    std::fs::write(&path, value.to_string()).expect("write");
    path
}

#[test]
fn service_account_files_are_checked() {
    let f = files();
    let check = |value: serde_json::Value, expect: &str| {
        let mut c = with_fcm(&f);
        c.fcm.as_mut().expect("fcm").service_account_path = write_sa(f.dir.path(), value);
        let err = error_of(&c);
        assert!(
            err.contains(expect) && err.contains("Service accounts"),
            "{err}"
        );
        assert!(
            !err.contains("MII"),
            "key material never appears in errors: {err}"
        );
    };
    let base = service_account_json(None);
    let edit = |key: &str, value: serde_json::Value| {
        let mut v = base.clone();
        v[key] = value;
        v
    };
    let without = |key: &str| {
        let mut v = base.clone();
        v.as_object_mut().expect("obj").remove(key);
        v
    };
    check(
        edit("type", "authorized_user".into()),
        "\"authorized_user\"",
    );
    check(without("type"), "\"type\"");
    check(without("project_id"), "project_id");
    check(edit("project_id", "a/b".into()), "project_id");
    check(without("client_email"), "client_email");
    check(without("private_key"), "private_key");
    check(edit("private_key", "garbage".into()), "PRIVATE KEY");
    check(
        edit(
            "private_key",
            p8_pem(&SoftwareKey::generate().expect("key")).into(),
        ),
        "RSA",
    );

    let mut c = with_fcm(&f);
    std::fs::write(f.dir.path().join("broken.json"), "{").expect("write");
    c.fcm.as_mut().expect("fcm").service_account_path = f.dir.path().join("broken.json");
    assert!(error_of(&c).contains("not valid JSON"));
}

#[test]
fn ca_file_and_retry_policy_are_checked() {
    let f = files();
    let mut c = with_apns(&f);
    let empty = f.dir.path().join("empty.pem");
    std::fs::write(&empty, "nothing here").expect("write");
    c.ca_file = Some(empty);
    let err = error_of(&c);
    assert!(
        err.contains("push.ca_file") && err.contains("BEGIN CERTIFICATE"),
        "{err}"
    );

    let mut c = with_apns(&f);
    c.retry.max_attempts = 0;
    assert!(error_of(&c).contains("push.retry.max_attempts"));
    let mut c = with_fcm(&f);
    c.retry.request_timeout_ms = 5;
    assert!(error_of(&c).contains("push.retry.request_timeout_ms"));
    assert!(matches!(
        c.validate(),
        Err(PushConfigError::Invalid {
            field: "push.retry.request_timeout_ms",
            ..
        })
    ));
}

#[test]
fn webpush_settings_from_toml_and_the_environment() {
    let dir = tempfile::tempdir().expect("dir");
    let (webpush, _) = support::webpush::webpush_config(dir.path());
    let file: ServiceFile = toml::from_str(&format!(
        "[push.webpush]\nvapid_key_path = {:?}\nsubject = \"mailto:ops@example.com\"\n\
         allow_addresses = [\"192.168.1.0/24\"]\n",
        webpush.vapid_key_path
    ))
    .expect("documented shape");
    let router = file.push.build_router().expect("valid");
    assert_eq!(
        format!("{router:?}"),
        "Router { apns: false, fcm: false, webpush: true }"
    );

    // The TAPPROVE_WEBPUSH_* variables are rows of `PushConfig::ENV`, proven both ways by the
    // service's settings test (server/tests/settings.rs) with the rest of docs/SERVICE.md.
    let names: Vec<&str> = PushConfig::ENV.iter().map(|v| v.var).collect();
    for var in [
        "TAPPROVE_WEBPUSH_VAPID_KEY_PATH",
        "TAPPROVE_WEBPUSH_SUBJECT",
        "TAPPROVE_WEBPUSH_ALLOW_ADDRESSES",
    ] {
        assert!(names.contains(&var), "{var} missing from PushConfig::ENV");
    }
    let config = file.push.clone();
    let mut bad = config.clone();
    bad.webpush.as_mut().expect("w").allow_addresses = vec!["lan".into()];
    let e = error_of(&bad);
    assert!(
        e.contains("push.webpush.allow_addresses") && e.contains("\"lan\""),
        "{e}"
    );
    let mut bad = config.clone();
    bad.webpush.as_mut().expect("w").vapid_key_path = dir.path().join("missing.pem");
    assert!(error_of(&bad).contains("push.webpush.vapid_key_path"));
    let mut bad = config;
    bad.webpush.as_mut().expect("w").subject = "ops@example.com".into();
    assert!(error_of(&bad).contains("push.webpush.subject"));
}
