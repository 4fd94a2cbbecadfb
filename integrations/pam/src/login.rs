//! One login: a push session through the relying-party API, the prompts, the wait — all
//! within `timeout_seconds` from the module's start.

use std::future::Future;
use std::time::Duration;

use tapprove_rp::{
    Context, CreateSessionRequest, ErrorCode, Notification, PresenceMode, RpClient, RpError,
    SessionStatus, SessionView,
};
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::config::{Config, Mode};
use crate::error::PamError;

/// Longest title and body the phone shows (PROTOCOL.md §4), in characters.
const MAX_TITLE_CHARS: usize = 120;
const MAX_BODY_CHARS: usize = 500;

/// The user's side of the PAM conversation.
pub trait Conversation {
    /// Shows a line (`PAM_TEXT_INFO`).
    fn info(&mut self, text: &str) -> Result<(), PamError>;
    /// Asks a question and waits for the answer (`PAM_PROMPT_ECHO_ON`); `None` when the
    /// application returned none.
    fn ask(&mut self, prompt: &str) -> Result<Option<Zeroizing<String>>, PamError>;
}

/// The prompt of `code` mode.
pub const CODE_PROMPT: &str = "Code shown in Tapprove: ";

/// How often a code is submitted again while the phone has not yet acknowledged showing it to
/// a verified user (`code_not_shown`, under policies that require user verification).
const SHOWN_RETRY: Duration = Duration::from_millis(500);

/// Who is logging in, from the PAM items.
#[derive(Debug, Clone, Default)]
pub struct Who {
    /// `PAM_USER`: the Tapprove user name.
    pub user: String,
    /// `PAM_SERVICE` (sshd, sudo, …).
    pub service: String,
    /// `PAM_RHOST`, if the application set it.
    pub rhost: Option<String>,
}

/// The login's facts for the log line.
#[derive(Debug)]
pub struct Approved {
    /// The session id.
    pub session: String,
}

/// Runs the login; `Ok` only when the service says `accepted`.
pub fn authenticate(
    cfg: &Config,
    who: &Who,
    conv: &mut dyn Conversation,
) -> Result<Approved, PamError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PamError::Runtime(e.to_string()))?;
    let deadline = Instant::now() + cfg.timeout;
    let timeout_secs = cfg.timeout.as_secs();
    let within = Within {
        runtime: &runtime,
        deadline,
        secs: timeout_secs,
    };

    let rp = RpClient::new(&cfg.service_url, cfg.api_key.clone())?;
    let request = CreateSessionRequest {
        user: who.user.clone(),
        notification: notification(who),
        context: Some(Context {
            app: Some(format!("{} on {}", who.service, hostname())),
            ip: who
                .rhost
                .as_deref()
                .filter(|h| h.parse::<std::net::IpAddr>().is_ok())
                .map(str::to_owned),
            ..Context::default()
        }),
        presence: match cfg.mode {
            // The project's policy decides the number matching.
            Mode::Push => None,
            Mode::Code => Some(PresenceMode::Display),
        },
        // The phone's prompt lives no longer than the module waits.
        ttl_seconds: Some(u32::try_from(timeout_secs).unwrap_or(u32::MAX)),
        join_pending: false,
    };
    let created = within.run(rp.create_session(&request))?;
    let session = created.id.clone();
    let view = match cfg.mode {
        Mode::Push => {
            conv.info(&push_message(created.presence_code.as_deref()))?;
            let left = deadline.saturating_duration_since(Instant::now());
            within
                .run(rp.wait_for_decision(&session, left))?
                .ok_or(PamError::TimedOut(timeout_secs))?
        }
        Mode::Code => {
            // The application's conversation cannot be interrupted: the deadline is checked
            // when the user has answered.
            let typed = conv.ask(CODE_PROMPT)?;
            let typed = typed
                .filter(|t| !t.trim().is_empty())
                .ok_or(PamError::NoCode)?;
            if Instant::now() >= deadline {
                return Err(PamError::TimedOut(timeout_secs));
            }
            within.run(submit_code(&rp, &session, typed.trim()))?
        }
    };
    decided(view)
}

/// Runs each step of the login on the module's runtime, cut at the login's deadline.
struct Within<'a> {
    runtime: &'a tokio::runtime::Runtime,
    deadline: Instant,
    secs: u64,
}

impl Within<'_> {
    fn run<T, E>(&self, fut: impl Future<Output = Result<T, E>>) -> Result<T, PamError>
    where
        PamError: From<E>,
    {
        // The timer must be made inside the runtime: it registers with its clock.
        self.runtime
            .block_on(async { tokio::time::timeout_at(self.deadline, fut).await })
            .map_err(|_elapsed| PamError::TimedOut(self.secs))?
            .map_err(PamError::from)
    }
}

/// Submits the typed code, again while the service waits for the phone's acknowledgement.
async fn submit_code(rp: &RpClient, session: &str, code: &str) -> Result<SessionView, RpError> {
    loop {
        match rp.submit_code(session, code).await {
            Err(e) if e.code() == Some(ErrorCode::CodeNotShown) => {
                tokio::time::sleep(SHOWN_RETRY).await;
            }
            other => return other,
        }
    }
}

fn decided(view: SessionView) -> Result<Approved, PamError> {
    if view.status == SessionStatus::Accepted {
        Ok(Approved { session: view.id })
    } else {
        Err(PamError::Refused {
            status: view.status,
            reason: view.reason,
        })
    }
}

/// What the user reads while the phone rings: with number matching, the number to pick.
pub fn push_message(code: Option<&str>) -> String {
    match code {
        Some(code) => format!("Approve on your phone… (the number to match: {code})"),
        None => "Approve on your phone…".to_owned(),
    }
}

fn notification(who: &Who) -> Notification {
    let host = hostname();
    let mut body = format!("{} as {}", who.service, who.user);
    if let Some(rhost) = &who.rhost {
        body.push_str(&format!(" from {rhost}"));
    }
    Notification {
        title: truncate(&format!("Log in to {host}"), MAX_TITLE_CHARS),
        body: truncate(&body, MAX_BODY_CHARS),
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this computer".to_owned())
}
