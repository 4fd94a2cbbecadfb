//! The HTTP API fuzzed through its OpenAPI document (docs/openapi.json): schemathesis runs
//! every operation against a real service on loopback, with a paired device whose key signs
//! the per-request proofs (xtask/apifuzz/tapprove_hooks.py), and checks that no response is a
//! 5xx, every response matches the document, and every error is the JSON error body with its
//! code. Needs schemathesis: `cargo xtask test apifuzz` installs it in a venv under target/
//! and runs this test (ignored in a plain `cargo test`, which has no Python packages).

mod common;

use std::path::PathBuf;
use std::process::Command;

use base64::Engine as _;
use common::*;
use serde_json::json;

/// Environment variable naming the `schemathesis` executable (set by the xtask step).
const SCHEMATHESIS_ENV: &str = "TAPPROVE_SCHEMATHESIS";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs schemathesis: run with `cargo xtask test apifuzz`"]
async fn every_operation_answers_as_the_openapi_document_says() {
    let schemathesis = std::env::var(SCHEMATHESIS_ENV).unwrap_or_else(|_| {
        panic!("{SCHEMATHESIS_ENV} is not set: run `cargo xtask test apifuzz`")
    });
    let h = Harness::start().await;
    let phone = h.pair("alice").await;
    // A pending session, so the event stream has an event to send at once (the fuzzer reads
    // one event and closes it).
    let (status, body) = h
        .create_session(json!({"user": "alice", "ttl_seconds": 600,
            "notification": {"title": "Log in to Demo Bank?", "body": "Someone is signing in."}}))
        .await;
    assert_eq!(status.as_u16(), 201, "{body}");

    let config = h.dir.path().join("schemathesis.toml");
    let toml = format!(
        "max-stream-events = 1\n\n\
         [auth.openapi.apiKey]\napi_key = {api:?}\n\n\
         [auth.openapi.sdkKey]\napi_key = {sdk:?}\n\n\
         [auth.openapi.deviceProof]\napi_key = \"Tapprove fuzz-placeholder\"\n",
        api = h.api_key(),
        sdk = h.project.sdk_key,
    );
    std::fs::write(&config, toml).expect("config");
    let key = base64::engine::general_purpose::STANDARD.encode(phone.key.secret_pkcs8_der());
    let output = tokio::task::spawn_blocking({
        // schemathesis keeps its state in the working directory: the test's temp dir, so a
        // run leaves the tree clean.
        let workdir = h.dir.path().to_owned();
        let base = h.base.clone();
        let account = phone.account_id().to_owned();
        move || {
            Command::new(&schemathesis)
                .args(["--config-file"])
                .arg(&config)
                .args(["run", &format!("{base}/v1/openapi.json")])
                .args([
                    "--checks",
                    "not_a_server_error,status_code_conformance,content_type_conformance,\
                     response_headers_conformance,response_schema_conformance,\
                     negative_data_rejection,ignored_auth,missing_required_header,\
                     unsupported_method",
                    "--phases",
                    "examples,coverage,fuzzing",
                    "--request-timeout",
                    "10",
                    "--workers",
                    "1",
                    "--max-examples",
                    "25",
                    "--seed",
                    "1",
                ])
                .env("SCHEMATHESIS_HOOKS", "tapprove_hooks")
                .env("PYTHONPATH", repo().join("xtask/apifuzz"))
                .env("TAPPROVE_FUZZ_ACCOUNT", account)
                .env("TAPPROVE_FUZZ_KEY", key)
                .env("NO_COLOR", "1")
                .current_dir(&workdir)
                .output()
                .expect("schemathesis starts")
        }
    })
    .await
    .expect("join");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{text}");
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{text}"
    );
}
