//! `pam_tapprove.so`: a PAM `auth` module that lets a login through only when the user's phone
//! approves it through Tapprove (docs/PAM.md).
//!
//! ```text
//! auth required pam_tapprove.so config=/etc/tapprove/pam.toml [log=/var/log/pam_tapprove.log]
//! ```
//!
//! It speaks only the relying-party API, through `tapprove-rp`. It fails closed: a bad
//! configuration, an unreachable service, a refusal, a timeout or a panic all return an error
//! code, each with one syslog line (and one in `log=FILE`).

mod config;
mod error;
mod log;
mod login;

use std::ffi::CStr;
use std::panic::{AssertUnwindSafe, catch_unwind};

use pam::constants::{PAM_ERROR_MSG, PAM_PROMPT_ECHO_ON, PAM_TEXT_INFO, PamFlag, PamResultCode};
use pam::conv::Conv;
use pam::items::{RHost, Service};
use pam::module::{PamHandle, PamHooks};
use zeroize::Zeroizing;

use crate::config::{Args, Config};
use crate::error::PamError;
use crate::log::{Level, Log};
use crate::login::{Conversation, Who};

struct TapproveModule;

/// The C entry points PAM calls (`pam_sm_authenticate`, …), from pam-bindings.
#[allow(missing_docs)]
mod entry {
    use super::TapproveModule;
    pam::pam_hooks!(TapproveModule);
}

impl PamHooks for TapproveModule {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        let mut log = Log::default();
        guarded(&mut log, |log| authenticate(pamh, &args, log))
    }

    fn sm_setcred(_pamh: &mut PamHandle, _args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        // No credentials to set; PAM stacks call this after a successful auth.
        PamResultCode::PAM_SUCCESS
    }
}

/// Runs `auth` and turns its result into PAM's answer; a panic refuses the login with a log
/// line (pam-bindings would catch it too, but silently).
fn guarded(log: &mut Log, auth: impl FnOnce(&mut Log) -> Result<(), PamError>) -> PamResultCode {
    match catch_unwind(AssertUnwindSafe(|| auth(&mut *log))) {
        Ok(Ok(())) => PamResultCode::PAM_SUCCESS,
        Ok(Err(e)) => e.code(),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let e = PamError::Panic(what);
            log.line(Level::Error, &format!("login refused: {e}"));
            e.code()
        }
    }
}

/// The whole `auth` call: its log line is written here, once.
fn authenticate(pamh: &mut PamHandle, args: &[&CStr], log: &mut Log) -> Result<(), PamError> {
    let words: Vec<&str> = args.iter().filter_map(|a| a.to_str().ok()).collect();
    let parsed = Args::parse(words.iter().copied());
    if let Ok(a) = &parsed {
        *log = Log::new(a.log.clone());
    }
    let mut who = Who::default();
    let result = (|| {
        if words.len() != args.len() {
            return Err(PamError::Argument("a module argument is not UTF-8".into()));
        }
        let args = parsed?;
        let path = args.config.ok_or(PamError::NoConfig)?;
        let cfg = Config::load(&path)?;
        who = who_is(pamh)?;
        let mut conv = PamConversation { pamh: &*pamh };
        login::authenticate(&cfg, &who, &mut conv)
    })();
    let subject = format!(
        "service={} user={} rhost={}",
        empty_dash(&who.service),
        empty_dash(&who.user),
        who.rhost.as_deref().unwrap_or("-")
    );
    match result {
        Ok(approved) => {
            log.line(
                Level::Info,
                &format!("{subject}: approved (session {})", approved.session),
            );
            Ok(())
        }
        Err(e) => {
            log.line(Level::Error, &format!("{subject}: login refused: {e}"));
            let conv = PamConversation { pamh: &*pamh };
            let _ = conv.send(PAM_ERROR_MSG, e.user_message());
            Err(e)
        }
    }
}

fn empty_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn who_is(pamh: &mut PamHandle) -> Result<Who, PamError> {
    let user = pamh.get_user(None).map_err(|code| PamError::Pam {
        what: "get_user",
        code: code as i32,
    })?;
    let text = |item: Option<&CStr>| {
        item.and_then(|c| c.to_str().ok())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let service = text(pamh.get_item::<Service>().ok().flatten().map(|s| s.0)).unwrap_or_default();
    let rhost = text(pamh.get_item::<RHost>().ok().flatten().map(|s| s.0));
    Ok(Who {
        user,
        service,
        rhost,
    })
}

/// The application's conversation function (terminal, sshd's keyboard-interactive, …).
struct PamConversation<'a> {
    pamh: &'a PamHandle,
}

impl PamConversation<'_> {
    fn send(&self, style: i32, text: &str) -> Result<Option<Zeroizing<String>>, PamError> {
        let failed = |code: PamResultCode| PamError::Pam {
            what: "conversation",
            code: code as i32,
        };
        let conv = self
            .pamh
            .get_item::<Conv>()
            .map_err(failed)?
            .ok_or(PamError::Pam {
                what: "conversation",
                code: PamResultCode::PAM_CONV_ERR as i32,
            })?;
        let reply = conv.send(style, text).map_err(failed)?;
        Ok(reply.and_then(|r| r.as_str().ok().map(|s| Zeroizing::new(s.to_owned()))))
    }
}

impl Conversation for PamConversation<'_> {
    fn info(&mut self, text: &str) -> Result<(), PamError> {
        self.send(PAM_TEXT_INFO, text).map(drop)
    }

    fn ask(&mut self, prompt: &str) -> Result<Option<Zeroizing<String>>, PamError> {
        self.send(PAM_PROMPT_ECHO_ON, prompt)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_refuses_the_login_and_is_logged() {
        let path = std::env::temp_dir().join(format!("pam-tapprove-panic-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut log = Log::default();
        let code = guarded(&mut log, |log| {
            *log = Log::new(Some(path.clone()));
            panic!("boom")
        });
        assert_eq!(code, PamResultCode::PAM_SERVICE_ERR);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("login refused: internal error (panic): boom"),
            "{text}"
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(guarded(&mut log, |_| Ok(())), PamResultCode::PAM_SUCCESS);
    }
}
