//! The terminal authenticator's user verification: a local passphrase, set with
//! `tapprove device passphrase set`, kept as an argon2id PHC string in the device store
//! (`terminal/passphrase`, a 0600 file in the 0700 store directory), and asked before an
//! approval whose policy wants user verification. Only the method class (`app_passphrase`)
//! goes into the signed answer.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier as _, phc::PasswordHash};
use tapprove_core::{FileStore, SecretBytes, SecureStore, UserVerifier, UvMethod, VerifyOutcome};
use zeroize::Zeroizing;

use crate::error::CliError;

/// Store key of the passphrase hash.
const PASSPHRASE_KEY: &str = "terminal/passphrase";
/// Shortest passphrase accepted, in characters.
const MIN_CHARS: usize = 8;

/// Hashes and stores a new passphrase (replacing any previous one).
pub fn set(store: &FileStore, passphrase: &str) -> Result<(), CliError> {
    if passphrase.chars().count() < MIN_CHARS {
        return Err(CliError::Usage(format!(
            "the passphrase must have at least {MIN_CHARS} characters"
        )));
    }
    let phc = Argon2::default()
        .hash_password(passphrase.as_bytes())
        .map_err(|e| CliError::Other(format!("could not hash the passphrase: {e}")))?
        .to_string();
    store.set(PASSPHRASE_KEY, SecretBytes::new(phc.into_bytes()))?;
    Ok(())
}

/// Removes the passphrase; approvals that require user verification then fail.
pub fn remove(store: &FileStore) -> Result<(), CliError> {
    Ok(store.delete(PASSPHRASE_KEY)?)
}

/// Whether a passphrase is set.
pub fn is_set(store: &FileStore) -> Result<bool, CliError> {
    Ok(store.get(PASSPHRASE_KEY)?.is_some())
}

/// Checks `passphrase` against the stored hash; `None` when none is set.
fn matches(store: &FileStore, passphrase: &str) -> Option<bool> {
    let stored = store.get(PASSPHRASE_KEY).ok()??;
    let phc = std::str::from_utf8(stored.expose_secret()).ok()?;
    let hash = PasswordHash::new(phc).ok()?;
    Some(
        Argon2::default()
            .verify_password(passphrase.as_bytes(), &hash)
            .is_ok(),
    )
}

/// The core's [`UserVerifier`] for the terminal: the command asks for the passphrase first
/// (it knows from the request whether it is needed) and hands it over with
/// [`PassphraseVerifier::provide`]; the check happens here, when the core asks.
pub struct PassphraseVerifier {
    store: Arc<FileStore>,
    typed: Mutex<Option<Zeroizing<String>>>,
}

impl PassphraseVerifier {
    /// A verifier over the passphrase in `store`.
    pub fn new(store: Arc<FileStore>) -> Self {
        Self {
            store,
            typed: Mutex::new(None),
        }
    }

    /// The passphrase the user typed for the next approval.
    pub fn provide(&self, passphrase: Zeroizing<String>) {
        *self.typed.lock().unwrap_or_else(|p| p.into_inner()) = Some(passphrase);
    }

    /// Whether a passphrase is set in the store.
    pub fn is_set(&self) -> bool {
        is_set(&self.store).unwrap_or(false)
    }
}

impl UserVerifier for PassphraseVerifier {
    fn verify(&self, _reason: &str) -> VerifyOutcome {
        let typed = self.typed.lock().unwrap_or_else(|p| p.into_inner()).take();
        match (typed, self.is_set()) {
            (_, false) => VerifyOutcome::Unavailable,
            (None, true) => VerifyOutcome::Cancelled,
            (Some(p), true) => match matches(&self.store, &p) {
                Some(true) => VerifyOutcome::Verified(UvMethod::AppPassphrase),
                _ => VerifyOutcome::Failed {
                    message: "wrong passphrase".into(),
                },
            },
        }
    }
}

/// Reads a passphrase: without echo on a terminal (prompt on stderr), else one line of stdin.
pub fn read(prompt: &str) -> Result<Zeroizing<String>, CliError> {
    if !std::io::stdin().is_terminal() {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| CliError::Other(format!("could not read the passphrase: {e}")))?;
        let trimmed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
        return Ok(trimmed);
    }
    use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers, read};
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    crossterm::terminal::enable_raw_mode()
        .map_err(|e| CliError::Other(format!("could not read the passphrase: {e}")))?;
    let mut typed = Zeroizing::new(String::new());
    let result = loop {
        match read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => match k.code {
                KeyCode::Enter => break Ok(()),
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                    break Err(CliError::Other("cancelled".into()));
                }
                KeyCode::Esc => break Err(CliError::Other("cancelled".into())),
                KeyCode::Backspace => {
                    typed.pop();
                }
                KeyCode::Char(c) => typed.push(c),
                _ => {}
            },
            Ok(_) => {}
            Err(e) => {
                break Err(CliError::Other(format!(
                    "could not read the passphrase: {e}"
                )));
            }
        }
    };
    let _ = crossterm::terminal::disable_raw_mode();
    eprintln!();
    result.map(|()| typed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passphrase_is_hashed_in_a_private_file_and_checked() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Arc::new(FileStore::open(dir.path()).expect("store"));
        let v = PassphraseVerifier::new(store.clone());
        // Not set: the device cannot verify.
        assert_eq!(v.verify("r"), VerifyOutcome::Unavailable);
        assert!(matches!(set(&store, "short"), Err(CliError::Usage(_))));
        set(&store, "correct horse battery").expect("set");
        assert!(v.is_set());
        // The file holds an argon2id hash, not the passphrase, and is 0600.
        let file = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .find(|p| p.to_string_lossy().contains("passphrase"))
            .expect("file");
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(
            text.starts_with("$argon2id$") && !text.contains("horse"),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Nothing typed: cancelled; wrong: failed; right: verified, once.
        assert_eq!(v.verify("r"), VerifyOutcome::Cancelled);
        v.provide(Zeroizing::new("wrong horse battery".into()));
        assert!(matches!(v.verify("r"), VerifyOutcome::Failed { .. }));
        v.provide(Zeroizing::new("correct horse battery".into()));
        assert_eq!(
            v.verify("r"),
            VerifyOutcome::Verified(UvMethod::AppPassphrase)
        );
        assert_eq!(v.verify("r"), VerifyOutcome::Cancelled, "used once");
        remove(&store).expect("remove");
        assert_eq!(v.verify("r"), VerifyOutcome::Unavailable);
    }
}
