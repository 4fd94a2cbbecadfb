//! `init_logging` forwards the SDK's logs to the app's Logger, and logs hold no secrets.
//! (Own test binary: the logger is process-global.)

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};

use support::*;
use tapprove_ffi::*;

#[derive(Default)]
struct Lines(Mutex<Vec<(LogLevel, String, String)>>);

impl Logger for Lines {
    fn log(&self, level: LogLevel, target: String, message: String) -> Result<(), AuthError> {
        self.0.lock().unwrap().push((level, target, message));
        // A logger that throws must not disturb the SDK.
        Err(AuthError::Platform {
            detail: "logger threw".into(),
        })
    }
}

#[tokio::test]
async fn logs_reach_the_app_at_the_chosen_level_without_secrets() {
    let lines = Arc::new(Lines::default());
    init_logging(LogLevel::Trace, lines.clone());
    let dead = dead_server();
    let f = fixture(&dead, 1_800_000_000);
    import_vector_account(
        &f,
        &dead,
        read_vector("challenge_valid.json")["public_key"]
            .as_str()
            .unwrap(),
    );
    let push = PushRegistration {
        platform: PushPlatform::Fcm,
        token: "fcm-token-SECRET".into(),
        environment: None,
    };
    f.auth.update_push_token(push, None).await.unwrap_err();
    f.auth
        .pair("alice".into(), "CODE-SECRET".into(), None, None)
        .await
        .unwrap_err();

    let all = lines.0.lock().unwrap().clone();
    assert!(
        all.iter().any(|(l, t, m)| *l == LogLevel::Warn
            && t.starts_with("tapprove")
            && m.contains("push token update failed")),
        "{all:#?}"
    );
    assert!(
        all.iter().all(|(_, t, _)| t.starts_with("tapprove")),
        "foreign crates' logs leaked: {all:#?}"
    );
    for (_, _, m) in &all {
        assert!(!m.contains("SECRET"), "a secret was logged: {m}");
    }

    // Raising the level filters the lower ones.
    init_logging(LogLevel::Error, lines.clone());
    let before = lines.0.lock().unwrap().len();
    let push = PushRegistration {
        platform: PushPlatform::Fcm,
        token: "t".into(),
        environment: None,
    };
    f.auth.update_push_token(push, None).await.unwrap_err();
    let new: Vec<_> = lines.0.lock().unwrap()[before..].to_vec();
    assert!(
        new.iter().all(|(l, _, _)| *l == LogLevel::Error),
        "{new:#?}"
    );
}
