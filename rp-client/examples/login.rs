//! One push login from a site's point of view, against a running service:
//!
//! ```sh
//! tapprove demo   # or: tapprove serve + tapprove admin project create …
//! TAPPROVE_URL=http://127.0.0.1:8080 TAPPROVE_API_KEY=tap_api_… \
//!     cargo run -p tapprove-rp --example login -- alice
//! ```
//!
//! Sends the push, prints the code the login page would show, waits up to two minutes for the
//! phone, cancels the push on Ctrl-C or at the deadline, and prints the outcome.

use std::time::Duration;

use tapprove_rp::{
    ApiKey, CreateSessionRequest, ErrorCode, Notification, RpClient, RpError, SessionStatus,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("TAPPROVE_URL").map_err(|_| "set TAPPROVE_URL")?;
    let key = ApiKey::new(std::env::var("TAPPROVE_API_KEY").map_err(|_| "set TAPPROVE_API_KEY")?);
    let user = std::env::args().nth(1).ok_or("usage: login <user>")?;
    let rp = RpClient::new(&url, key)?;

    let created = match rp
        .create_session(&CreateSessionRequest {
            user: user.clone(),
            notification: Notification {
                title: "Sign in to Example".into(),
                body: format!("Is this you signing in as {user}?"),
            },
            context: None,
            presence: None,
            ttl_seconds: Some(120),
            // A retry of the same login (the user pressed "send again") joins the pending push.
            join_pending: false,
        })
        .await
    {
        Ok(created) => created,
        Err(
            e @ RpError::Api {
                code: ErrorCode::NoDevice,
                ..
            },
        ) => {
            return Err(format!("{user} has no phone paired yet: {e}").into());
        }
        Err(e)
            if e.code() == Some(ErrorCode::Locked) || e.code() == Some(ErrorCode::RateLimited) =>
        {
            let wait = e.retry_after().unwrap_or_default();
            return Err(format!("{e}; try again in {} s", wait.as_secs()).into());
        }
        Err(e) => return Err(e.into()),
    };
    println!(
        "Push sent. Pick {} on your phone.",
        created.presence_code.as_deref().unwrap_or("(no code)")
    );

    let decided = tokio::select! {
        decided = rp.wait_for_decision(&created.id, Duration::from_secs(120)) => decided?,
        _ = tokio::signal::ctrl_c() => None,
    };
    let view = match decided {
        Some(view) => view,
        // Gave up: end the push so the phone stops asking.
        None => rp.cancel_session(&created.id).await?,
    };
    match view.status {
        SessionStatus::Accepted => println!("Signed in."),
        status => println!(
            "Not signed in: {} ({})",
            status.as_str(),
            view.reason.map_or("-", |r| r.as_str())
        ),
    }
    Ok(())
}
