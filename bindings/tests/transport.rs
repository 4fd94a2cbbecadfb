//! The exported `with_transport` with a Rust implementation of the foreign `HttpTransport`, as a
//! Kotlin/Swift app would write it: the calls reach it, its answers and its failures come back
//! as the app sees them.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};

use support::*;
use tapprove_ffi::*;

/// Answers every call with `status` and `body`, or fails like a stack with no network.
struct CannedTransport {
    status: u16,
    body: &'static str,
    fail: bool,
    seen: Mutex<Vec<HttpRequest>>,
}

impl HttpTransport for CannedTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, AuthError> {
        self.seen.lock().unwrap().push(request);
        if self.fail {
            return Err(AuthError::Network {
                detail: "java.net.UnknownHostException: auth.example.com".into(),
            });
        }
        Ok(HttpResponse {
            status: self.status,
            headers: vec![HttpHeader {
                name: "Content-Type".into(),
                value: "application/json".into(),
            }],
            body: self.body.as_bytes().to_vec(),
        })
    }
}

fn with(transport: Arc<CannedTransport>) -> Arc<Authenticator> {
    let f = fixture("https://demo.example", 1_800_000_000);
    let auth = Authenticator::with_transport(
        config("https://demo.example"),
        f.store.clone(),
        f.signer.clone(),
        transport,
        None,
    )
    .unwrap();
    f.signer.create_key("vector-key".into()).unwrap();
    auth.import_account(AccountImport {
        id: VECTOR_ACCOUNT.into(),
        project_id: "prj_demo".into(),
        project_name: "Demo Bank".into(),
        user: "alice".into(),
        server_url: "https://demo.example".into(),
        sdk_key: SDK_KEY.into(),
        service_key: read_vector("challenge_valid.json")["public_key"]
            .as_str()
            .unwrap()
            .into(),
        key_alias: "vector-key".into(),
        paired_at: 1_799_999_000,
    })
    .unwrap();
    auth
}

fn canned(status: u16, body: &'static str, fail: bool) -> Arc<CannedTransport> {
    Arc::new(CannedTransport {
        status,
        body,
        fail,
        seen: Mutex::new(Vec::new()),
    })
}

#[tokio::test]
async fn calls_go_through_the_app_transport_with_a_proof_made_in_rust() {
    let transport = canned(200, r#"{"challenges":[]}"#, false);
    let auth = with(transport.clone());
    assert!(auth.pending(None, None).await.unwrap().is_empty());
    let seen = transport.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].url.as_str()),
        ("GET", "https://demo.example/v1/device/pending")
    );
    assert!(seen[0].timeout_ms >= 1000);
    let names: Vec<String> = seen[0]
        .headers
        .iter()
        .map(|h| h.name.to_ascii_lowercase())
        .collect();
    assert!(
        names.iter().any(|n| n == "authorization") && names.iter().any(|n| n == "x-tapprove-sdk"),
        "{names:?}"
    );
    assert!(
        !format!("{:?}", seen[0]).contains("Tapprove ey"),
        "Debug shows the proof"
    );
}

#[tokio::test]
async fn error_statuses_and_failures_come_back_typed() {
    let auth = with(canned(
        503,
        r#"{"error":{"code":"unavailable","message":"down for maintenance"}}"#,
        false,
    ));
    match auth.pending(None, None).await {
        Err(AuthError::Service { status, detail, .. }) => {
            assert_eq!(status, 503);
            assert!(detail.contains("down for maintenance"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    let auth = with(canned(200, "", true));
    match auth.pending(None, None).await {
        Err(AuthError::Network { detail }) => {
            assert!(detail.contains("UnknownHostException"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}
