//! End to end, through the real binary: what `tapprove admin` prints of data devices sent
//! goes through the one escaping rule (`cli/src/output.rs`), so a device name holding terminal
//! escape sequences or bidi controls cannot drive or fool the operator's terminal.

mod common;

use common::*;
use serde_json::json;
use tapprove_test_support::device::SoftwareDevice;
use tapprove_test_support::endpoint::{Endpoint, ServiceEndpoint as _, status_json};

#[tokio::test(flavor = "multi_thread")]
async fn device_names_are_printed_escaped() {
    let s = Setup::new(fixture::PAIRING_CODE).await;
    let sdk_key = s.project["sdk_key"].as_str().expect("sdk_key");
    let device = SoftwareDevice::new(sdk_key);
    let at = Endpoint::new(&s.serve.url);
    // Clears the screen, retitles the terminal, and reverses the rest of the line.
    let name = "\u{1b}[2J\u{1b}]0;pwned\u{7}phone\u{202e}enohp";
    let r = at
        .http()
        .post(at.url("/v1/device/pair"))
        .header("x-tapprove-sdk-key", sdk_key)
        .header("x-tapprove-sdk", "rust/0.1.0")
        .json(
            &json!({"user": "alice", "pairing_code": fixture::PAIRING_CODE,
                      "public_key": device.key_b64(), "device_name": name}),
        )
        .send()
        .await
        .expect("pair");
    let (status, body) = status_json(r).await;
    assert_eq!(status.as_u16(), 201, "{body}");
    let project_id = s.project["project_id"].as_str().expect("project_id");

    let o = tapprove(&[
        "admin",
        "device",
        "list",
        "--project",
        project_id,
        "--database",
        &s.serve.db,
    ])
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{7}') && !out.contains('\u{202e}'),
        "raw control characters reached the terminal: {out:?}"
    );
    assert!(
        out.contains(r"\u{1b}[2J\u{1b}]0;pwned\u{7}phone\u{202e}enohp"),
        "{out}"
    );
    // JSON output keeps the exact value (JSON escapes it itself).
    let o = tapprove(&[
        "admin",
        "device",
        "list",
        "--project",
        project_id,
        "--json",
        "--database",
        &s.serve.db,
    ])
    .await;
    assert_eq!(ok_json(&o)[0]["name"], json!(name));
}
