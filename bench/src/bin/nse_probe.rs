//! `nse-probe`: what an iOS Notification Service Extension does, as a process of its own, to
//! measure its peak RSS (P3): load the stored account from a [`FileStore`] directory and
//! verify one push with `handle_push`. No network.
//!
//! - `nse-probe setup DIR` — creates DIR with a device key, an account (imported with
//!   `import_account`, pinned to a service key generated here) and `payload.json`, an APNs
//!   payload carrying a challenge signed by that service key (valid for 10 minutes).
//! - `nse-probe verify DIR` — the measured run: opens the store, verifies the push, prints
//!   `RESULT P3 peak_rss_kib=N` (the kernel's `VmHWM`, the same figure as `ru_maxrss`).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use tapprove_core::{
    AccountRecord, Authenticator, Config, Context, DeviceSigner as _, FileStore, PresenceMode,
    SoftwareSigner,
};
use tapprove_protocol::{Challenge, Es256Signer as _, Presence, SoftwareKey};

const SERVER_URL: &str = "https://auth.bench.example";
const SDK_KEY: &str = "tap_sdk_BENCHBENCHBENCHBENCHBE";
const ACCOUNT_ID: &str = "acc_01JBENCH000000000000000000";
const KEY_ALIAS: &str = "bench-device";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match (args.first().map(String::as_str), args.get(1)) {
        (Some("setup"), Some(dir)) => setup(Path::new(dir)),
        (Some("verify"), Some(dir)) => verify(Path::new(dir)),
        _ => Err("usage: nse-probe <setup|verify> DIR".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nse-probe: {e}");
            ExitCode::FAILURE
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn open(dir: &Path) -> Result<Authenticator, String> {
    let store = Arc::new(
        FileStore::open(dir)
            .map_err(|e| format!("cannot open the store {}: {e}", dir.display()))?,
    );
    let signer = Arc::new(SoftwareSigner::new(store.clone()));
    let config = Config::new(SERVER_URL, SDK_KEY).map_err(|e| e.to_string())?;
    Authenticator::new(config, store, signer).map_err(|e| e.to_string())
}

fn setup(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let service = SoftwareKey::generate().map_err(|e| format!("service key: {e:?}"))?;
    let store = Arc::new(
        FileStore::open(dir)
            .map_err(|e| format!("cannot open the store {}: {e}", dir.display()))?,
    );
    let signer = SoftwareSigner::new(store);
    let device_key = signer.create_key(KEY_ALIAS).map_err(|e| e.to_string())?;
    let auth = open(dir)?;
    let now = now();
    auth.import_account(AccountRecord {
        retiring_key: None,
        revoked_at: None,
        user_verification: None,
        id: ACCOUNT_ID.into(),
        project_id: "prj_bench".into(),
        project_name: "Bench Bank".into(),
        user: "alice".into(),
        server_url: SERVER_URL.into(),
        sdk_key: SDK_KEY.into(),
        service_key: service.public_key(),
        key_alias: KEY_ALIAS.into(),
        device_key,
        clock_offset: 0,
        paired_at: now,
    })
    .map_err(|e| e.to_string())?;
    let challenge = Challenge {
        user_verification: None,
        ver: 1,
        session_id: "ses_01JBENCH000000000000000000".into(),
        account_id: ACCOUNT_ID.into(),
        user: "alice".into(),
        title: "Log in to Bench Bank?".into(),
        body: "Someone is signing in as alice.".into(),
        context: Context {
            app: Some("Bench Bank".into()),
            ip: Some("203.0.113.7".into()),
            location: Some("Lyon, FR".into()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
        },
        presence: Presence {
            length: None,
            mode: PresenceMode::Choose,
            options: vec!["17".into(), "42".into(), "88".into()],
        },
        iat: now,
        exp: now + 600,
        nonce: "n0nce-bench-4gJ2kQ9x".into(),
    };
    let token = challenge
        .sign(&service)
        .map_err(|e| format!("sign: {e:?}"))?;
    let payload = serde_json::json!({
        "aps": {"alert": {"title": challenge.title, "body": challenge.body},
                "category": "TAPPROVE_LOGIN", "mutable-content": 1},
        "tapprove": token,
    });
    let path = dir.join("payload.json");
    std::fs::write(&path, payload.to_string())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("nse-probe: store and payload ready in {}", dir.display());
    Ok(())
}

fn verify(dir: &Path) -> Result<(), String> {
    let path = dir.join("payload.json");
    let payload = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read {}: {e}; run `nse-probe setup {}` first",
            path.display(),
            dir.display()
        )
    })?;
    let auth = open(dir)?;
    let request = auth
        .handle_push(&payload)
        .map_err(|e| format!("handle_push: {e}"))?
        .ok_or("the payload is not a Tapprove push")?;
    let rss = peak_rss_kib().ok_or("cannot read VmHWM from /proc/self/status")?;
    println!(
        "RESULT P3 peak_rss_kib={rss} verified={} options={}",
        request.id,
        request.options.len()
    );
    Ok(())
}

/// Peak resident set size of this process in KiB (Linux `VmHWM`).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
