//! The service serves docs/openapi.json unchanged at `/v1/openapi.json`, and the document names
//! every route the service answers (the fuzzer, `cargo xtask test apifuzz`, checks the rest).

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;

#[tokio::test]
async fn the_served_document_is_docs_openapi_json() {
    let h = Harness::start().await;
    let r = h
        .http
        .get(h.url("/v1/openapi.json"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"].to_str().expect("ascii"),
        "application/json"
    );
    let served = r.text().await.expect("body");
    let file = include_str!("../../docs/openapi.json");
    assert_eq!(served, file);
    let doc: Value = serde_json::from_str(file).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(String::as_str)
        .collect();
    for route in [
        "/v1/push/sessions",
        "/v1/push/sessions/{id}",
        "/v1/push/sessions/{id}/code",
        "/v1/users/{user}/devices",
        "/v1/devices/{id}",
        "/v1/users/{user}/lock",
        "/v1/audit",
        "/v1/device/pair",
        "/v1/device/push-token",
        "/v1/device",
        "/v1/device/pending",
        "/v1/device/answers",
        "/v1/device/shown",
        "/v1/device/events",
    ] {
        assert!(
            paths.contains(&route),
            "{route} is not in docs/openapi.json"
        );
    }
}
