//! `tapprove device listen`: shows each login request as it arrives (context, time left, the
//! options) and answers it with one key: 1/2/3 approve with that option, d denies, n reports
//! "not me", q quits. In entry mode it asks for the code (type it, then Enter; the number of
//! digits comes from the request). An approval that requires user verification asks for the
//! passphrase first (typed without echo, then Enter; Esc cancels).
//!
//! On a terminal, keys are read in raw mode (crossterm) and a countdown line is redrawn every
//! second. Without a terminal (pipes, tests), each input line is one key or one code, and
//! output is plain lines.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tapprove_core::{
    Authenticator, CoreError, Decision, DenyReason, LoginRequest, PresenceMode, RequestEvent,
    SessionStatus,
};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use super::passphrase::PassphraseVerifier;
use super::{context_line, now, outcome_line, shown};
use crate::error::CliError;

/// One input from the user.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Input {
    /// A single key.
    Key(char),
    /// Enter.
    Enter,
    /// Backspace.
    Backspace,
    /// A whole line (non-terminal input).
    Line(String),
    /// Quit (q, Esc, Ctrl-C, or the end of piped input is NOT this).
    Quit,
}

/// Restores the terminal when dropped.
struct RawMode;

impl RawMode {
    fn enable() -> Option<Self> {
        crossterm::terminal::enable_raw_mode().ok().map(|()| Self)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

fn spawn_terminal_reader(tx: mpsc::UnboundedSender<Input>) {
    use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers, read};
    std::thread::spawn(move || {
        while let Ok(event) = read() {
            let Event::Key(k) = event else { continue };
            if k.kind == KeyEventKind::Release {
                continue;
            }
            let input = match k.code {
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Input::Quit,
                KeyCode::Esc => Input::Quit,
                KeyCode::Char(c) => Input::Key(c),
                KeyCode::Enter => Input::Enter,
                KeyCode::Backspace => Input::Backspace,
                _ => continue,
            };
            if tx.send(input).is_err() {
                break;
            }
        }
    });
}

fn spawn_line_reader(tx: mpsc::UnboundedSender<Input>) {
    std::thread::spawn(move || {
        let mut line = String::new();
        loop {
            line.clear();
            match std::io::stdin().read_line(&mut line) {
                Ok(0) | Err(_) => break, // end of input: keep listening, answer nothing more
                Ok(_) => {
                    let l = line.trim().to_owned();
                    if !l.is_empty() && tx.send(Input::Line(l)).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// Output that knows whether the terminal is in raw mode (then lines end in CR LF).
struct Screen {
    raw: bool,
    status_shown: bool,
}

impl Screen {
    fn line(&mut self, text: &str) {
        let mut out = std::io::stdout().lock();
        if self.status_shown {
            let _ = write!(out, "\r\x1b[2K");
            self.status_shown = false;
        }
        let eol = if self.raw { "\r\n" } else { "\n" };
        for l in text.split('\n') {
            let _ = write!(out, "{l}{eol}");
        }
        let _ = out.flush();
    }

    /// Redraws the countdown line (terminal only).
    fn status(&mut self, text: &str) {
        if !self.raw {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\r\x1b[2K{text}");
        let _ = out.flush();
        self.status_shown = true;
    }
}

struct Listener {
    auth: Authenticator,
    verifier: Arc<PassphraseVerifier>,
    screen: Screen,
    queue: Vec<LoginRequest>,
    entry: String,
    /// An approval (or a code to show) waiting for the passphrase, and what was typed so far.
    awaiting_passphrase: Option<(AfterPassphrase, Zeroizing<String>)>,
    /// The last prompt that ended before it was answered: `n` reports it as "not me".
    just_ended: Option<String>,
}

/// What the typed passphrase unlocks.
#[derive(Clone)]
enum AfterPassphrase {
    /// Sending this answer.
    Answer(Decision),
    /// Showing the current code-to-phone request's code.
    ShowCode,
}

enum Step {
    Continue,
    Quit,
}

impl Listener {
    fn current(&self) -> Option<&LoginRequest> {
        self.queue.first()
    }

    fn show_current(&mut self) {
        self.entry.clear();
        let Some(r) = self.current().cloned() else {
            self.screen.line("Waiting for login requests… (q to quit)");
            return;
        };
        let left = (r.expires_at - now()).max(0);
        let mut text = format!(
            "\n── Login request {} ──\n{}\n{}\n  from: {}\n  user: {} (account {})",
            shown(&r.id),
            shown(&r.title),
            shown(&r.body),
            context_line(&r),
            shown(&r.user),
            shown(&r.account_id)
        );
        match r.presence_mode {
            PresenceMode::Choose => {
                let opts: Vec<String> = r
                    .options
                    .iter()
                    .enumerate()
                    .map(|(i, o)| format!("[{}] {}", i + 1, shown(o)))
                    .collect();
                text.push_str("\nPick the number shown on the login page:\n  ");
                text.push_str(&opts.join("    "));
                text.push_str("\n  [d] deny    [n] not me    [q] quit");
            }
            PresenceMode::Entry => {
                let what = match r.code_length {
                    Some(n) => format!("the {n}-digit code"),
                    None => "the code".to_owned(),
                };
                text.push_str(&format!("\nType {what} shown on the login page, then Enter.\n  [d] deny    [n] not me    [q] quit"));
            }
            PresenceMode::None => {
                text.push_str("\n  [a] approve    [d] deny    [n] not me    [q] quit")
            }
            PresenceMode::Display => text.push_str(
                "\nYou approve by typing a code from here at the login prompt.\n  [s] show the code    [d] deny    [n] this wasn't me    [q] quit",
            ),
        }
        text.push_str(&format!("\n  expires in {left} s"));
        if self.queue.len() > 1 {
            text.push_str(&format!(" · {} more waiting", self.queue.len() - 1));
        }
        self.screen.line(&text);
        self.tick();
    }

    fn tick(&mut self) {
        let Some(r) = self.current() else { return };
        let left = r.expires_at - now();
        let mode = r.presence_mode;
        if left < 0 {
            let id = r.id.clone();
            self.queue.remove(0);
            self.ended_unanswered(&id, SessionStatus::Expired);
            self.show_current();
            return;
        }
        let entry = if let Some((_, typed)) = &self.awaiting_passphrase {
            format!("  passphrase: {}_", "*".repeat(typed.chars().count()))
        } else if mode == PresenceMode::Entry {
            format!("  code: {}_", self.entry)
        } else {
            String::new()
        };
        self.screen.status(&format!("⏳ {left} s left{entry}"));
    }

    fn on_event(&mut self, event: RequestEvent) {
        match event {
            RequestEvent::Request(r) => {
                if self.queue.iter().any(|q| q.id == r.id) || self.auth.is_answered(&r.id) {
                    return;
                }
                self.queue.push(r);
                if self.queue.len() == 1 {
                    self.show_current();
                } else {
                    self.screen.line(&format!(
                        "(another request is waiting: {} in queue)",
                        self.queue.len() - 1
                    ));
                    self.tick();
                }
            }
            RequestEvent::Decided { request_id, status } => {
                let Some(pos) = self.queue.iter().position(|q| q.id == request_id) else {
                    return;
                };
                self.queue.remove(pos);
                if matches!(status, SessionStatus::Canceled | SessionStatus::Expired) {
                    self.ended_unanswered(&request_id, status);
                } else {
                    self.screen.line(&format!(
                        "{}: {} (decided elsewhere)",
                        shown(&request_id),
                        status.as_str()
                    ));
                }
                if pos == 0 {
                    self.show_current();
                }
            }
        }
    }

    /// Says a shown prompt ended unanswered and offers the late "not me".
    fn ended_unanswered(&mut self, id: &str, status: SessionStatus) {
        self.screen.line(&format!(
            "{}: ended ({}) before you answered. Not you? press [n] to report it (this wasn't me)",
            shown(id),
            status.as_str()
        ));
        self.just_ended = Some(id.to_owned());
    }

    /// Reports the prompt that just ended with "not me".
    async fn report_ended(&mut self, id: String) {
        self.screen
            .line(&format!("reporting {} as not you…", shown(&id)));
        let not_me = Decision::Deny {
            reason: DenyReason::NotMe,
        };
        match self.auth.respond(&id, not_me).await {
            Ok(outcome) => self.screen.line(&format!(
                "{}: reported as not you; the login stays {}",
                shown(&id),
                outcome.status.as_str()
            )),
            Err(e) => self
                .screen
                .line(&format!("could not report {}: {e}", shown(&id))),
        }
        self.show_current();
    }

    async fn answer(&mut self, decision: Decision) {
        let Some(r) = self.current().cloned() else {
            return;
        };
        if matches!(decision, Decision::Approve { .. })
            && r.user_verification.is_some()
            && self.verifier.is_set()
        {
            self.screen
                .line("This login asks you to confirm it is you: type your passphrase, then Enter (Esc cancels).");
            self.awaiting_passphrase = Some((
                AfterPassphrase::Answer(decision),
                Zeroizing::new(String::new()),
            ));
            self.tick();
            return;
        }
        self.send(decision).await;
    }

    /// Input while the passphrase is asked; `None` when it was consumed here.
    async fn on_passphrase_input(&mut self, input: Input) -> Option<Input> {
        let Some((after, typed)) = self.awaiting_passphrase.as_mut() else {
            return Some(input);
        };
        match input {
            Input::Line(l) => {
                let after = after.clone();
                self.awaiting_passphrase = None;
                self.verifier.provide(Zeroizing::new(l));
                self.after_passphrase(after).await;
            }
            Input::Enter => {
                let after = after.clone();
                let typed = std::mem::take(typed);
                self.awaiting_passphrase = None;
                self.verifier.provide(typed);
                self.after_passphrase(after).await;
            }
            Input::Backspace => {
                typed.pop();
                self.tick();
            }
            Input::Key(c) => {
                typed.push(c);
                self.tick();
            }
            Input::Quit => {
                self.awaiting_passphrase = None;
                self.screen.line("approval cancelled");
                self.tick();
            }
        }
        None
    }

    async fn after_passphrase(&mut self, after: AfterPassphrase) {
        match after {
            AfterPassphrase::Answer(decision) => self.send(decision).await,
            AfterPassphrase::ShowCode => self.show_code().await,
        }
    }

    /// `[s]` on a code-to-phone request: the passphrase first when it asks for verification.
    async fn reveal(&mut self) {
        let Some(r) = self.current() else { return };
        if r.user_verification.is_some() && self.verifier.is_set() {
            self.screen
                .line("Confirm it is you to see the code: type your passphrase, then Enter (Esc cancels).");
            self.awaiting_passphrase =
                Some((AfterPassphrase::ShowCode, Zeroizing::new(String::new())));
            self.tick();
            return;
        }
        self.show_code().await;
    }

    /// Shows the current request's code (the core tells the service it was shown).
    async fn show_code(&mut self) {
        let Some(r) = self.current().cloned() else {
            return;
        };
        match self.auth.show_code(&r.id).await {
            Ok(code) => self.screen.line(&format!(
                "Code to type at the login prompt: {}\n  Not you? [n] this wasn't me",
                shown(&code)
            )),
            Err(e) => self.screen.line(&format!("could not show the code: {e}")),
        }
        self.tick();
    }

    async fn send(&mut self, decision: Decision) {
        let Some(r) = self.current().cloned() else {
            return;
        };
        self.screen.line("sending the answer…");
        match self.auth.respond(&r.id, decision).await {
            Ok(outcome) => {
                self.queue.retain(|q| q.id != r.id);
                self.screen
                    .line(&format!("{}: {}", shown(&r.id), outcome_line(&outcome)));
                self.show_current();
            }
            Err(
                e @ (CoreError::AlreadyAnswered
                | CoreError::RequestEnded { .. }
                | CoreError::Expired
                | CoreError::UnknownRequest { .. }),
            ) => {
                self.queue.retain(|q| q.id != r.id);
                self.screen.line(&format!("{}: {e}", shown(&r.id)));
                match e {
                    CoreError::RequestEnded { status } => self.ended_unanswered(&r.id, status),
                    CoreError::Expired => self.ended_unanswered(&r.id, SessionStatus::Expired),
                    _ => {}
                }
                self.show_current();
            }
            Err(e) => {
                // Local refusals (e.g. PresenceAnswerNotAmongOptions) and network failures:
                // the request stays, the user can try again.
                self.screen.line(&format!("could not answer: {e}"));
                self.entry.clear();
                self.tick();
            }
        }
    }

    async fn on_input(&mut self, input: Input) -> Step {
        let Some(input) = self.on_passphrase_input(input).await else {
            return Step::Continue;
        };
        let (mode, options) = match self.current() {
            Some(r) => (Some(r.presence_mode), r.options.clone()),
            None => (None, Vec::new()),
        };
        // Piped lines: one command or one code per line.
        let input = match input {
            Input::Line(l) => {
                let lower = l.to_ascii_lowercase();
                match lower.as_str() {
                    "q" | "quit" => Input::Quit,
                    "d" | "n" | "a" | "s" => Input::Key(lower.chars().next().unwrap_or('?')),
                    "1" | "2" | "3" if mode == Some(PresenceMode::Choose) => {
                        Input::Key(lower.chars().next().unwrap_or('?'))
                    }
                    _ if mode == Some(PresenceMode::Entry) => {
                        self.entry = l;
                        Input::Enter
                    }
                    _ => Input::Key('?'),
                }
            }
            other => other,
        };
        if matches!(input, Input::Key('n' | 'N'))
            && let Some(id) = self.just_ended.take()
        {
            self.report_ended(id).await;
            return Step::Continue;
        }
        match (input, mode) {
            (Input::Quit | Input::Key('q' | 'Q'), _) => return Step::Quit,
            (_, None) => {}
            (Input::Key('d' | 'D'), Some(_)) => {
                self.answer(Decision::Deny {
                    reason: DenyReason::Cancelled,
                })
                .await;
            }
            (Input::Key('n' | 'N'), Some(_)) => {
                self.answer(Decision::Deny {
                    reason: DenyReason::NotMe,
                })
                .await;
            }
            (Input::Key(c @ '1'..='3'), Some(PresenceMode::Choose)) => {
                let idx = (c as usize) - ('1' as usize);
                if let Some(option) = options.get(idx).cloned() {
                    self.answer(Decision::Approve {
                        presence_answer: Some(option),
                    })
                    .await;
                }
            }
            (Input::Key(c), Some(PresenceMode::Entry)) if c.is_ascii_alphanumeric() => {
                if self.entry.len() < 16 {
                    self.entry.push(c);
                }
                self.tick();
            }
            (Input::Backspace, Some(PresenceMode::Entry)) => {
                self.entry.pop();
                self.tick();
            }
            (Input::Enter, Some(PresenceMode::Entry)) => {
                if self.entry.is_empty() {
                    self.screen
                        .line("type the code shown on the login page first");
                } else {
                    let code = std::mem::take(&mut self.entry);
                    self.answer(Decision::Approve {
                        presence_answer: Some(code),
                    })
                    .await;
                }
            }
            (Input::Key('s' | 'S'), Some(PresenceMode::Display)) => self.reveal().await,
            (Input::Key('a' | 'A') | Input::Enter, Some(PresenceMode::None)) => {
                self.answer(Decision::Approve {
                    presence_answer: None,
                })
                .await;
            }
            (Input::Key(c), Some(_)) if !c.is_control() => {
                self.screen.line(&format!(
                    "key {c:?} does nothing here; see the keys listed above"
                ));
                self.tick();
            }
            _ => {}
        }
        Step::Continue
    }
}

/// Runs the interactive listener until q (or Ctrl-C, or a fatal stream error).
pub async fn run(
    auth: Authenticator,
    verifier: Arc<PassphraseVerifier>,
    account: Option<String>,
) -> Result<(), CliError> {
    let accounts = auth.accounts()?;
    let accounts: Vec<_> = match &account {
        Some(id) => accounts.into_iter().filter(|a| &a.id == id).collect(),
        None => accounts,
    };
    let (revoked, accounts): (Vec<_>, Vec<_>) =
        accounts.into_iter().partition(|a| a.revoked_at.is_some());
    for a in &revoked {
        println!(
            "{} removed this device from {}'s account on {}; not listening for it (`tapprove device unpair {}` deletes it here).",
            a.project_name,
            a.user,
            a.revoked_at
                .map(tapprove_core::clock::utc_text)
                .unwrap_or_default(),
            a.id
        );
    }
    if accounts.is_empty() && !revoked.is_empty() {
        return Err(CliError::Other(
            "no account left to listen for: the site removed this device; pair again to use it"
                .into(),
        ));
    }
    if accounts.is_empty() {
        return Err(CliError::Usage(match account {
            Some(id) => format!("no account {id:?} on this device; see `tapprove device accounts`"),
            None => "no accounts on this device yet; pair one first with `tapprove device pair …`"
                .into(),
        }));
    }
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let (tx, mut inputs) = mpsc::unbounded_channel();
    let raw = if terminal { RawMode::enable() } else { None };
    if raw.is_some() {
        spawn_terminal_reader(tx);
    } else {
        spawn_line_reader(tx);
    }
    let mut l = Listener {
        auth: auth.clone(),
        verifier,
        awaiting_passphrase: None,
        just_ended: None,
        screen: Screen {
            raw: raw.is_some(),
            status_shown: false,
        },
        queue: Vec::new(),
        entry: String::new(),
    };
    let names: Vec<String> = accounts
        .iter()
        .map(|a| format!("{} at {}", a.user, a.project_name))
        .collect();
    l.screen.line(&format!(
        "Listening for login requests for {} ({}).\nKeys: 1/2/3 approve with that number · d deny · n not me · q quit",
        names.join(", "),
        if accounts.len() == 1 { "1 account".to_owned() } else { format!("{} accounts", accounts.len()) }
    ));
    l.show_current();

    let mut events = auth.events(account.as_deref());
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut inputs_open = true;
    let mut last_fatal: Option<String> = None;
    let shutdown = crate::serve::shutdown_signal();
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(e)) => l.on_event(e),
                Some(Err(e @ CoreError::Revoked { .. })) => {
                    // Fatal for that account; the stream ends once no account is left.
                    l.screen.line(&e.to_string());
                    last_fatal = Some(e.to_string());
                }
                Some(Err(e @ (CoreError::Network { .. } | CoreError::Service { .. }))) => {
                    l.screen.line(&format!("connection problem: {e} (reconnecting…)"));
                    l.tick();
                }
                Some(Err(e)) => {
                    l.screen.line(&e.to_string());
                    last_fatal = Some(e.to_string());
                    l.tick();
                }
                None => break Err(CliError::Other(last_fatal.take().unwrap_or_else(|| {
                    "the event stream ended: the service refused this device; check `tapprove device accounts` and pair again if needed".into()
                }))),
            },
            input = inputs.recv(), if inputs_open => match input {
                Some(i) => {
                    if let Step::Quit = l.on_input(i).await {
                        break Ok(());
                    }
                }
                None => inputs_open = false,
            },
            _ = ticker.tick() => l.tick(),
            () = &mut shutdown => break Ok(()),
        }
    };
    l.screen.line("stopped listening");
    drop(raw);
    result
}
