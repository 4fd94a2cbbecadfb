//! `nse-probe`: what an iOS Notification Service Extension does, as a process of its own, to
//! measure its peak RSS (P3): load the stored account from a [`FileStore`] directory and
//! verify one push with `handle_push`. No network.
//!
//! - `nse-probe setup DIR` — creates DIR with a device key, an account (imported with
//!   `import_account`, pinned to a service key generated here) and `payload.json`, an APNs
//!   payload carrying a challenge signed by that service key (valid for 10 minutes); and the
//!   a second store under `DIR/sealed` whose account has a push key, with `payload_sealed.json`,
//!   the same challenge sealed to it (docs/PROTOCOL.md §11; a phone with a push key refuses
//!   readable pushes).
//! - `nse-probe verify DIR [--sealed]` — the measured run: opens the store, verifies the push
//!   (with `--sealed`, opens the sealed one first), prints `RESULT P3 peak_rss_kib=N` (the
//!   kernel's `VmHWM`, the same figure as `ru_maxrss`).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use tapprove_core::{
    AccountRecord, Authenticator, Config, DeviceSigner as _, FileStore, SoftwareSigner,
};
use tapprove_protocol::sealed::{self, PushSecretKey};
use tapprove_protocol::{Es256Signer as _, SoftwareKey};
use tapprove_test_support::fixture;

const SERVER_URL: &str = "https://auth.bench.example";
const SDK_KEY: &str = "tap_sdk_BENCHBENCHBENCHBENCHBE";
const KEY_ALIAS: &str = "bench-device";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match (args.first().map(String::as_str), args.get(1)) {
        (Some("setup"), Some(dir)) => setup(Path::new(dir)),
        (Some("verify"), Some(dir)) => {
            verify(Path::new(dir), args.get(2).is_some_and(|a| a == "--sealed"))
        }
        _ => Err("usage: nse-probe setup DIR | nse-probe verify DIR [--sealed]".to_owned()),
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

/// A store in `dir` with a device key and the account, pinned to `service`.
fn account(dir: &Path, service: &SoftwareKey, now: i64) -> Result<Authenticator, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let store = Arc::new(
        FileStore::open(dir)
            .map_err(|e| format!("cannot open the store {}: {e}", dir.display()))?,
    );
    let signer = SoftwareSigner::new(store);
    let device_key = signer.create_key(KEY_ALIAS).map_err(|e| e.to_string())?;
    let auth = open(dir)?;
    auth.import_account(AccountRecord {
        retiring_key: None,
        revoked_at: None,
        vapid_public_key: None,
        user_verification: None,
        id: fixture::ACCOUNT_ID.into(),
        project_id: "prj_bench".into(),
        project_name: fixture::PROJECT_NAME.into(),
        user: fixture::USER.into(),
        server_url: SERVER_URL.into(),
        sdk_key: SDK_KEY.into(),
        service_key: service.public_key(),
        key_alias: KEY_ALIAS.into(),
        device_key,
        clock_offset: 0,
        paired_at: now,
    })
    .map_err(|e| e.to_string())?;
    Ok(auth)
}

fn setup(dir: &Path) -> Result<(), String> {
    let service = SoftwareKey::generate().map_err(|e| format!("service key: {e:?}"))?;
    let now = now();
    let challenge = fixture::challenge(now, now + 600);
    let token = challenge
        .sign(&service)
        .map_err(|e| format!("sign: {e:?}"))?;
    // The readable push goes to a phone without a push key: one with a push key takes sealed
    // pushes only, so the sealed case is a second store under `sealed/`.
    account(dir, &service, now)?;
    let payload = fixture::apns_payload(&challenge, &token);
    let path = dir.join("payload.json");
    std::fs::write(&path, payload.to_string())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let sealed_dir = dir.join("sealed");
    let auth = account(&sealed_dir, &service, now)?;
    let push_key = PushSecretKey::generate().map_err(|e| format!("push key: {e}"))?;
    auth.import_push_key(fixture::ACCOUNT_ID, &push_key)
        .map_err(|e| e.to_string())?;
    let sealed = sealed::seal(&push_key.public_key(), fixture::ACCOUNT_ID, &token)
        .map_err(|e| format!("seal: {e}"))?;
    let payload = serde_json::json!({
        "aps": {"alert": {"title": "Login request", "body": "Open to review a sign-in"},
                "category": "TAPPROVE_LOGIN", "mutable-content": 1},
        "tapprove_sealed": sealed,
        "account": fixture::ACCOUNT_ID,
    });
    let path = sealed_dir.join("payload_sealed.json");
    std::fs::write(&path, payload.to_string())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("nse-probe: store and payload ready in {}", dir.display());
    Ok(())
}

fn verify(dir: &Path, sealed: bool) -> Result<(), String> {
    let owned;
    let dir = if sealed {
        owned = dir.join("sealed");
        owned.as_path()
    } else {
        dir
    };
    let path = dir.join(if sealed {
        "payload_sealed.json"
    } else {
        "payload.json"
    });
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
        "RESULT P3 peak_rss_kib={rss} sealed={sealed} verified={} options={}",
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
