//! One login: the password at the upstream (if any), then the phone, through the relying-party
//! API. Every path ends in an answer: Access-Accept, Access-Reject or (code mode)
//! Access-Challenge; an error anywhere is a Reject (fail closed), never silence.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

use tapprove_rp::{
    Context, CreateSessionRequest, ErrorCode, Notification, PresenceMode, RpError, SessionStatus,
};

use crate::config::{Client, Mode};
use crate::packet::{self, Packet, attr, code};
use crate::server::Shared;
use crate::upstream::{self, Verdict};

/// What to reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Access-Accept, -Reject or -Challenge.
    pub code: u8,
    /// Reply-Message for the user.
    pub message: Option<String>,
    /// State (Access-Challenge only).
    pub state: Option<Vec<u8>>,
}

impl Answer {
    fn accept() -> Self {
        Self {
            code: code::ACCESS_ACCEPT,
            message: None,
            state: None,
        }
    }

    /// An Access-Reject, with a message for the user if any.
    pub fn reject(message: Option<&str>) -> Self {
        Self {
            code: code::ACCESS_REJECT,
            message: message.map(str::to_owned),
            state: None,
        }
    }
}

/// Code-mode logins waiting for their code, by the State sent in the Access-Challenge.
#[derive(Default)]
#[allow(dead_code)]
pub(crate) struct CodeLogins(Mutex<HashMap<[u8; 16], CodeLogin>>);

#[allow(dead_code)]
struct CodeLogin {
    session_id: String,
    user: Vec<u8>,
    client: IpAddr,
    expires: Instant,
}

/// Decides one new Access-Request.
pub(crate) async fn answer(
    shared: &Shared,
    client: &Client,
    req: &Packet,
    from: SocketAddr,
) -> Answer {
    let Some(user) = req
        .attr(attr::USER_NAME)
        .and_then(|u| std::str::from_utf8(u).ok())
        .filter(|u| !u.is_empty())
    else {
        tracing::warn!(client = %from, "Access-Request without a usable User-Name: rejected");
        return Answer::reject(None);
    };
    let password = match req.attr(attr::USER_PASSWORD) {
        None => None,
        Some(hidden) => {
            match packet::reveal_password(hidden, client.secret.expose(), &req.authenticator) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(client = %from, user, error = %e, "rejected");
                    return Answer::reject(None);
                }
            }
        }
    };
    match (&shared.config.upstream, password) {
        (Some(up), Some(password)) => {
            match upstream::check(up, req, user.as_bytes(), &password).await {
                Ok(Verdict::Accepted) => {}
                Ok(Verdict::Rejected) => {
                    tracing::info!(client = %from, user, "the upstream refused the password: rejected, no push");
                    return Answer::reject(None);
                }
                Err(e) => {
                    tracing::error!(client = %from, user, error = %e, "no password check: rejected (fail closed)");
                    return Answer::reject(None);
                }
            }
        }
        (Some(_), None) => {
            tracing::warn!(client = %from, user, "no User-Password but an upstream is configured: rejected");
            return Answer::reject(None);
        }
        (None, Some(_)) => {
            // Without an upstream nobody checks the password: accepting a request that
            // carries one would let the NAS believe it had been checked.
            tracing::warn!(
                client = %from,
                user,
                "a password was sent but no [upstream] checks it: rejected (configure [upstream], or make the RADIUS client send no password)"
            );
            return Answer::reject(Some("This server checks the second factor only."));
        }
        (None, None) => {}
    }
    match shared.config.mode {
        Mode::Push => push(shared, user, req, from).await,
        Mode::Code => {
            tracing::error!("code mode is not available in this build: rejected");
            Answer::reject(None)
        }
    }
}

/// The session request: what the phone shows about this login.
fn session_request(
    shared: &Shared,
    user: &str,
    req: &Packet,
    presence: PresenceMode,
) -> CreateSessionRequest {
    let text = |kind| {
        req.attr(kind)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_owned)
    };
    let nas = text(attr::NAS_IDENTIFIER);
    let ip = text(attr::CALLING_STATION_ID).filter(|s| s.parse::<IpAddr>().is_ok());
    CreateSessionRequest {
        user: user.to_owned(),
        notification: Notification {
            title: match &nas {
                Some(n) => format!("Sign in to {n}"),
                None => "Sign in to the VPN".to_owned(),
            },
            body: format!("{user} is signing in."),
        },
        context: Some(Context {
            app: nas,
            ip,
            ..Context::default()
        }),
        presence: Some(presence),
        ttl_seconds: u32::try_from(shared.config.timeout.as_secs()).ok(),
        // A NAS retrying the same login with a new Identifier must not supersede its own push.
        join_pending: true,
    }
}

/// Push mode: approve-only, waiting up to `timeout_seconds`.
async fn push(shared: &Shared, user: &str, req: &Packet, from: SocketAddr) -> Answer {
    let rp = &shared.rp;
    let created = match rp
        .create_session(&session_request(shared, user, req, PresenceMode::None))
        .await
    {
        Ok(c) => c,
        Err(e) => return refused(&e, user, from),
    };
    tracing::info!(client = %from, user, session = %created.id, "push sent; waiting for the phone");
    match rp
        .wait_for_decision(&created.id, shared.config.timeout)
        .await
    {
        Ok(Some(view)) if view.status == SessionStatus::Accepted => {
            tracing::info!(client = %from, user, session = %created.id, "approved: accepted");
            Answer::accept()
        }
        Ok(Some(view)) => {
            tracing::info!(client = %from, user, session = %created.id, status = view.status.as_str(), "not approved: rejected");
            Answer::reject(Some("Sign-in was not approved."))
        }
        Ok(None) => {
            if let Err(e) = rp.cancel_session(&created.id).await {
                tracing::warn!(session = %created.id, error = %e, "cannot cancel the unanswered session");
            }
            tracing::info!(client = %from, user, session = %created.id, "no answer in time: rejected");
            Answer::reject(Some("No answer from your phone in time."))
        }
        Err(e) => {
            tracing::error!(client = %from, user, session = %created.id, error = %e, "cannot read the decision: rejected (fail closed)");
            Answer::reject(None)
        }
    }
}

/// A session the service would not create: rejected, with the why in the log.
fn refused(e: &RpError, user: &str, from: SocketAddr) -> Answer {
    let (hint, message) = match e.code() {
        Some(ErrorCode::NoDevice) => (
            "the user has no paired device",
            "No Tapprove device is paired.",
        ),
        Some(ErrorCode::Locked) => (
            "the user is locked after a \"not me\"",
            "Sign-in is blocked for now.",
        ),
        Some(ErrorCode::RateLimited) => (
            "too many pushes: cooling down",
            "Too many attempts; try again later.",
        ),
        Some(ErrorCode::PolicyNotMet) => (
            "the project does not allow approve-only pushes: run `tapprove admin project set-policy … --allow-approve-only`, or use mode = \"code\"",
            "Sign-in is not available.",
        ),
        _ => (
            "the Tapprove service refused or is unreachable",
            "Sign-in is not available.",
        ),
    };
    tracing::warn!(client = %from, user, error = %e, "{hint}: rejected");
    Answer::reject(Some(message))
}
