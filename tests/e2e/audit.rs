//! End to end, through the real binary: a pairing with `tapprove device pair`, a login
//! answered with `tapprove device respond`, a revocation with `tapprove admin device revoke`,
//! all read back with `tapprove admin audit` against a real `tapprove serve`.

mod common;

use common::*;
use serde_json::{Value, json};

const CODE: &str = "7KQ2-M9XD";

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_reads_the_audit_log_with_tapprove_admin_audit() {
    let s = Setup::new(CODE).await;
    let pid = s.project["project_id"].as_str().expect("id").to_owned();
    let d = s.paired_device("phone", "alice", CODE).await;
    let account = d.accounts().await[0]["id"].as_str().expect("id").to_owned();
    s.paired_device("tablet", "bob", CODE).await;
    let session = s.rp.login("alice", json!({})).await;
    let id = session["id"].as_str().expect("id");
    let code = session["presence_code"].as_str().expect("code");
    d.request(id).await;
    let o = d.run(&["respond", id, "--choose", code, "--json"]).await;
    assert_eq!(ok_json(&o)["status"], json!("accepted"));
    let o = tapprove(&[
        "admin",
        "device",
        "revoke",
        "--project",
        &pid,
        "--user",
        "alice",
        "--json",
        "--database",
        &s.serve.db,
    ])
    .await;
    assert_eq!(ok_json(&o)["revoked"], json!([account]));

    let audit = |extra: &[&str]| {
        let mut args = vec!["admin", "audit", "--database", &s.serve.db];
        args.extend_from_slice(extra);
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            tapprove(&args).await
        }
    };
    let rows = ok_json(&audit(&["--project", &pid, "--user", "alice", "--json"]).await);
    let got: Vec<(String, String, String)> = rows
        .as_array()
        .expect("array")
        .iter()
        .map(|r: &Value| {
            let s = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
            (s("actor"), s("action"), s("outcome"))
        })
        .collect();
    let dev = format!("device:{account}");
    let want: Vec<(String, String, String)> = [
        (dev.as_str(), "device.pairing", "ok"),
        ("rp", "session.created", "ok"),
        (dev.as_str(), "session.decided", "accepted"),
        ("operator", "device.revoked", "ok"),
    ]
    .iter()
    .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
    .collect();
    assert_eq!(got, want, "{rows}");
    assert_eq!(rows[1]["subject"], json!(id));
    assert_eq!(rows[0]["source_ip"], json!("127.0.0.1"));

    // The table: a header and one line per row; --limit keeps the newest.
    let text = stdout(&audit(&["--project", &pid, "--limit", "2"]).await);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("TIME") && lines[0].contains("ACTION"),
        "{text}"
    );
    assert!(
        lines[1].contains("session.decided") && lines[2].contains("device.revoked"),
        "{text}"
    );
    // --since as RFC 3339 and as an age; a time after everything matches nothing.
    let all = ok_json(&audit(&["--since", "24h", "--json"]).await);
    assert_eq!(
        all.as_array().expect("array").len(),
        6,
        "project, 2 pairings, login x2, revoke: {all}"
    );
    let none = stdout(&audit(&["--since", "2999-01-01T00:00:00Z"]).await);
    assert_eq!(none.trim(), "No audit-log rows match.");
    // Bad input: one line saying what to write.
    let line = failed_line(&audit(&["--since", "yesterday"]).await);
    assert!(line.contains("RFC 3339"), "{line}");
    let line = failed_line(&audit(&["--limit", "0"]).await);
    assert!(line.contains("--limit"), "{line}");
}
