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
use crate::server::{Shared, lock};
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
/// Most code-mode logins waiting for their code at once.
const MAX_CODE_LOGINS: usize = 4096;

/// What the Access-Challenge asks for.
pub const CODE_PROMPT: &str = "Enter the code shown in Tapprove on your phone";

#[derive(Default)]
pub(crate) struct CodeLogins(Mutex<HashMap<[u8; 16], CodeLogin>>);

struct CodeLogin {
    session_id: String,
    user: String,
    client: IpAddr,
    expires: Instant,
}

impl CodeLogins {
    /// Keeps a login under a fresh random State; `None` when too many are waiting.
    fn insert(&self, login: CodeLogin) -> Option<[u8; 16]> {
        let mut state = [0u8; 16];
        crate::fill_random(&mut state);
        let mut map = lock(&self.0);
        let now = Instant::now();
        map.retain(|_, l| l.expires > now);
        if map.len() >= MAX_CODE_LOGINS {
            return None;
        }
        map.insert(state, login);
        Some(state)
    }

    /// Takes the login of `state` (single use) if it is still current.
    fn take(&self, state: &[u8]) -> Option<CodeLogin> {
        let key: [u8; 16] = state.try_into().ok()?;
        lock(&self.0)
            .remove(&key)
            .filter(|l| l.expires > Instant::now())
    }
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
    if let Some(kind) = unsupported_credentials(req) {
        // Nobody here can check these: answering as if they had been checked would let the
        // NAS believe the first factor passed.
        tracing::warn!(client = %from, user, kind, "credentials tapprove-radius cannot check (only User-Password): rejected");
        return Answer::reject(None);
    }
    if let Some(state) = req.attr(attr::STATE) {
        return code_given(shared, client, req, user, state, from).await;
    }
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
        Mode::Code => code_sent(shared, user, req, from).await,
    }
}

/// CHAP, MS-CHAP or EAP in the request: credentials only the NAS's own server can check.
fn unsupported_credentials(req: &Packet) -> Option<&'static str> {
    if req.attr(attr::CHAP_PASSWORD).is_some() {
        return Some("CHAP");
    }
    if req.attr(attr::EAP_MESSAGE).is_some() {
        return Some("EAP");
    }
    // Microsoft's vendor id 311, MS-CHAP-Response (1) or MS-CHAP2-Response (25).
    let ms_chap = req
        .attrs(attr::VENDOR_SPECIFIC)
        .any(|v| v.len() >= 6 && v[..4] == 311u32.to_be_bytes() && matches!(v[4], 1 | 25));
    ms_chap.then_some("MS-CHAP")
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

/// Code mode, first request: the phone gets the code, the NAS an Access-Challenge.
async fn code_sent(shared: &Shared, user: &str, req: &Packet, from: SocketAddr) -> Answer {
    let created = match shared
        .rp
        .create_session(&session_request(shared, user, req, PresenceMode::Display))
        .await
    {
        Ok(c) => c,
        Err(e) => return refused(&e, user, from),
    };
    let login = CodeLogin {
        session_id: created.id.clone(),
        user: user.to_owned(),
        client: from.ip(),
        expires: Instant::now() + shared.config.timeout,
    };
    let Some(state) = shared.code_logins.insert(login) else {
        tracing::error!(client = %from, user, "too many logins waiting for a code: rejected");
        return Answer::reject(None);
    };
    tracing::info!(client = %from, user, session = %created.id, "code sent to the phone; challenge");
    Answer {
        code: code::ACCESS_CHALLENGE,
        message: Some(CODE_PROMPT.to_owned()),
        state: Some(state.to_vec()),
    }
}

/// Code mode, second request: the State names the login, the User-Password is the code.
async fn code_given(
    shared: &Shared,
    client: &Client,
    req: &Packet,
    user: &str,
    state: &[u8],
    from: SocketAddr,
) -> Answer {
    let Some(login) = shared.code_logins.take(state) else {
        tracing::info!(client = %from, user, "unknown, used or expired State: rejected");
        return Answer::reject(Some("The sign-in has expired; try again."));
    };
    if login.user != user || login.client != from.ip() {
        tracing::warn!(client = %from, user, "State of another user or client: rejected");
        return Answer::reject(None);
    }
    let code = req
        .attr(attr::USER_PASSWORD)
        .and_then(|h| packet::reveal_password(h, client.secret.expose(), &req.authenticator).ok())
        .and_then(|c| String::from_utf8(c.to_vec()).ok());
    let Some(code) = code.map(|c| zeroize::Zeroizing::new(c.trim().to_owned())) else {
        tracing::info!(client = %from, user, "no code in the answer to the challenge: rejected");
        return Answer::reject(None);
    };
    match shared.rp.submit_code(&login.session_id, &code).await {
        Ok(view) if view.status == SessionStatus::Accepted => {
            tracing::info!(client = %from, user, session = %login.session_id, "right code: accepted");
            Answer::accept()
        }
        Ok(view) => {
            tracing::info!(client = %from, user, session = %login.session_id, status = view.status.as_str(), "wrong code: rejected");
            Answer::reject(Some("Wrong code."))
        }
        Err(e) => {
            tracing::warn!(client = %from, user, session = %login.session_id, error = %e, "the code was not taken: rejected");
            Answer::reject(Some("Wrong code."))
        }
    }
}
