//! The demo site's state: users (persisted as JSON in the data directory, file mode 0600) and
//! browser sessions (in memory; restarting the demo logs everybody out).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use tapprove_protocol::webhook::ct_eq;

use super::code;
use secrecy::SecretString;

/// How long a pairing code stays valid.
pub const CODE_TTL_SECONDS: i64 = 600;
/// Wrong codes tolerated before a pairing code is void.
pub const MAX_WRONG_TRIES: u32 = 5;

/// Errors of the site store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing the state file failed.
    #[error(
        "cannot {action} the demo site's state file {path}: {source}; check the data directory's permissions"
    )]
    Io {
        /// "read" or "write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The state file is not valid JSON.
    #[error("the demo site's state file {path} is corrupt ({source}); delete it to start over")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// The browser session to move no longer exists (ended, expired, or moved by another
    /// request holding the same id).
    #[error("this browser session has ended; log in again")]
    SessionGone,
}

/// One site user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The current pairing code, if any.
    #[serde(default)]
    pub pairing: Option<PairingState>,
    /// How many devices this site has trusted for the user (a count of trust decisions; the
    /// service's device list says which are still paired).
    #[serde(default)]
    pub devices_paired: u32,
    /// base64url SHA-256 of the user's unused recovery code (shown once; 80 random bits, so a
    /// fast hash is enough).
    #[serde(default)]
    pub recovery_sha256: Option<String>,
}

/// The one live pairing code of a user. Only its SHA-256 is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairingState {
    /// base64url SHA-256 of the canonical code.
    pub code_sha256: String,
    /// Unix seconds.
    pub issued_at: i64,
    /// Wrong codes tried so far.
    pub wrong_tries: u32,
    /// Accepted once already.
    pub used: bool,
}

/// The site's verdict on the pairing code a `{user, challenge}` trust call presents (the wire
/// answer is only 200 or 403; this says why, for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeVerdict {
    /// The code is right: trust the device.
    Trusted,
    /// Unknown user, no code, or a malformed code.
    NoCode,
    /// Wrong code; this many tries are left.
    WrongCode {
        /// Tries left before the code is void.
        tries_left: u32,
    },
    /// The code was already used.
    Used,
    /// Older than 10 minutes.
    Expired,
    /// Voided after too many wrong tries.
    Voided,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Persisted {
    users: BTreeMap<String, UserRecord>,
}

/// A login waiting for the phone.
#[derive(Debug, Clone)]
pub struct PendingLogin {
    /// The user.
    pub user: String,
    /// The service's push session id.
    pub session_id: String,
    /// The code the page shows.
    pub presence_code: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A message shown once on the next page.
#[derive(Debug, Clone)]
pub struct Flash {
    /// Heading.
    pub title: String,
    /// Sentence.
    pub message: String,
    /// `ok`, `warn` or `danger`.
    pub kind: &'static str,
}

/// How long a checked password lets the session take the "I lost my phone" path.
pub const PASSWORD_CHECK_SECONDS: i64 = 600;

/// The right password was typed in this session (for "I lost my phone"; never a login).
#[derive(Debug, Clone)]
pub struct PasswordChecked {
    /// Whose password.
    pub user: String,
    /// Unix seconds.
    pub at: i64,
}

impl PasswordChecked {
    /// Whose password, while it is recent enough.
    pub fn fresh(&self, now: i64) -> Option<&str> {
        (now - self.at <= PASSWORD_CHECK_SECONDS).then_some(self.user.as_str())
    }
}

/// One browser session.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// The token every form of this session carries (compared in constant time).
    pub csrf: SecretString,
    /// Logged-in user.
    pub user: Option<String>,
    /// Pairing code being shown: (user, canonical code).
    pub pairing: Option<(String, String)>,
    /// Login waiting for the phone.
    pub pending: Option<PendingLogin>,
    /// One-shot message.
    pub flash: Option<Flash>,
    /// The password checked at the last login attempt, until the login completes.
    pub password_checked: Option<PasswordChecked>,
    /// The pairing code shown is the "lost my phone" recovery (every device was revoked).
    pub recovery: bool,
    /// A recovery code just issued, shown once on the next pairing page, then dropped.
    pub new_recovery_code: Option<SecretString>,
}

impl WebSession {
    /// No login, pairing code or waiting login: only a form's token.
    fn is_anonymous(&self) -> bool {
        self.user.is_none()
            && self.pairing.is_none()
            && self.pending.is_none()
            && self.password_checked.is_none()
    }

    fn new(csrf: SecretString) -> Self {
        Self {
            csrf,
            user: None,
            pairing: None,
            pending: None,
            flash: None,
            password_checked: None,
            recovery: false,
            new_recovery_code: None,
        }
    }
}

/// Browser sessions idle longer than this are dropped.
pub const SESSION_IDLE_SECONDS: i64 = 2 * 3600;
/// Most browser sessions kept; beyond, idle ones go first, then the least recently used.
pub const MAX_SESSIONS: usize = 10_000;

struct SessionEntry {
    session: WebSession,
    last_seen: i64,
}

/// All site state.
pub struct SiteStore {
    path: PathBuf,
    data: Mutex<Persisted>,
    sessions: Mutex<HashMap<String, SessionEntry>>,
    rng: SystemRandom,
    paired: tokio::sync::watch::Sender<u64>,
}

fn sha256_b64(code: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, code.as_bytes()))
}

impl SiteStore {
    /// Opens (or creates on first write) the state file `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let data = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
                path: path.to_owned(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Persisted::default(),
            Err(source) => {
                return Err(StoreError::Io {
                    action: "read",
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Ok(Self {
            path: path.to_owned(),
            data: Mutex::new(data),
            sessions: Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
            paired: tokio::sync::watch::channel(0).0,
        })
    }

    fn lock_data(&self) -> std::sync::MutexGuard<'_, Persisted> {
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionEntry>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn save(&self, data: &Persisted) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            action: "write",
            path: self.path.clone(),
            source,
        };
        let json = serde_json::to_vec_pretty(data).map_err(|e| io(std::io::Error::other(e)))?;
        let tmp = self.path.with_extension("json.tmp");
        write_private(&tmp, &json).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }

    /// A random token (32 bytes, base64url).
    pub fn random_token(&self) -> Result<String, StoreError> {
        let mut b = [0u8; 32];
        self.rng.fill(&mut b).map_err(|_| StoreError::Random)?;
        Ok(URL_SAFE_NO_PAD.encode(b))
    }

    /// Whether `user` exists.
    pub fn user_exists(&self, user: &str) -> bool {
        self.lock_data().users.contains_key(user)
    }

    /// The stored password hash of `user`.
    pub fn password_hash(&self, user: &str) -> Option<String> {
        self.lock_data()
            .users
            .get(user)
            .map(|u| u.password_hash.clone())
    }

    /// Adds a user; `false` if the name is taken.
    pub fn add_user(
        &self,
        user: &str,
        password_hash: String,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut data = self.lock_data();
        if data.users.contains_key(user) {
            return Ok(false);
        }
        data.users.insert(
            user.to_owned(),
            UserRecord {
                password_hash,
                created_at: now,
                pairing: None,
                devices_paired: 0,
                recovery_sha256: None,
            },
        );
        self.save(&data)?;
        Ok(true)
    }

    /// How many devices were paired for `user` (the service's device list is the truth).
    #[cfg(test)]
    pub fn devices_paired(&self, user: &str) -> u32 {
        self.lock_data()
            .users
            .get(user)
            .map_or(0, |u| u.devices_paired)
    }

    /// Issues a new pairing code for `user` (replacing any older one) and returns it.
    pub fn new_pairing_code(&self, user: &str, now: i64) -> Result<String, StoreError> {
        let code = code::generate(&self.rng).map_err(|_| StoreError::Random)?;
        let mut data = self.lock_data();
        if let Some(u) = data.users.get_mut(user) {
            u.pairing = Some(PairingState {
                code_sha256: sha256_b64(&code),
                issued_at: now,
                wrong_tries: 0,
                used: false,
            });
            self.save(&data)?;
        }
        Ok(code)
    }

    /// Issues a new recovery code for `user` (replacing any older one) and returns it, to be
    /// shown once: only its hash is kept.
    pub fn new_recovery_code(&self, user: &str) -> Result<String, StoreError> {
        let code = code::generate_recovery(&self.rng).map_err(|_| StoreError::Random)?;
        let mut data = self.lock_data();
        if let Some(u) = data.users.get_mut(user) {
            u.recovery_sha256 = Some(sha256_b64(&code));
            self.save(&data)?;
        }
        Ok(code)
    }

    /// Spends `user`'s recovery code if `typed` is it: the check and the removal are one step,
    /// so of two requests with the same code only one succeeds. Returns what was removed (to
    /// put back with [`SiteStore::restore_recovery_code`] if the recovery then fails), or
    /// `None` for a wrong code or none.
    pub fn spend_recovery_code(
        &self,
        user: &str,
        typed: &str,
    ) -> Result<Option<String>, StoreError> {
        let Some(canonical) = code::normalize_recovery(typed) else {
            return Ok(None);
        };
        let mut data = self.lock_data();
        let Some(u) = data.users.get_mut(user) else {
            return Ok(None);
        };
        let right = u
            .recovery_sha256
            .as_ref()
            .is_some_and(|h| ct_eq(h.as_bytes(), sha256_b64(&canonical).as_bytes()));
        if !right {
            return Ok(None);
        }
        let spent = u.recovery_sha256.take();
        self.save(&data)?;
        Ok(spent)
    }

    /// Puts back a recovery code spent by a recovery that then failed, unless a new one was
    /// issued meanwhile.
    pub fn restore_recovery_code(&self, user: &str, spent: String) -> Result<(), StoreError> {
        let mut data = self.lock_data();
        if let Some(u) = data.users.get_mut(user)
            && u.recovery_sha256.is_none()
        {
            u.recovery_sha256 = Some(spent);
            self.save(&data)?;
        }
        Ok(())
    }

    /// Whether the code `code` of `user` has been accepted by the webhook.
    pub fn code_used(&self, user: &str, code: &str) -> bool {
        let data = self.lock_data();
        data.users
            .get(user)
            .and_then(|u| u.pairing.as_ref())
            .is_some_and(|p| p.used && ct_eq(p.code_sha256.as_bytes(), sha256_b64(code).as_bytes()))
    }

    /// A receiver that changes whenever a device is paired.
    pub fn pair_events(&self) -> tokio::sync::watch::Receiver<u64> {
        self.paired.subscribe()
    }

    /// The trust webhook's decision for `user` presenting `challenge`: a code is accepted once,
    /// within 10 minutes, and is void after 5 wrong tries.
    pub fn check_pairing(
        &self,
        user: &str,
        challenge: &str,
        now: i64,
    ) -> Result<CodeVerdict, StoreError> {
        let mut data = self.lock_data();
        let Some(state) = data.users.get_mut(user).and_then(|u| u.pairing.as_mut()) else {
            return Ok(CodeVerdict::NoCode);
        };
        if state.used {
            return Ok(CodeVerdict::Used);
        }
        if state.wrong_tries >= MAX_WRONG_TRIES {
            return Ok(CodeVerdict::Voided);
        }
        if now - state.issued_at > CODE_TTL_SECONDS {
            return Ok(CodeVerdict::Expired);
        }
        let matches = code::normalize(challenge)
            .is_some_and(|c| ct_eq(state.code_sha256.as_bytes(), sha256_b64(&c).as_bytes()));
        let outcome = if matches {
            state.used = true;
            CodeVerdict::Trusted
        } else {
            state.wrong_tries += 1;
            CodeVerdict::WrongCode {
                tries_left: MAX_WRONG_TRIES - state.wrong_tries,
            }
        };
        if let (CodeVerdict::Trusted, Some(u)) = (outcome, data.users.get_mut(user)) {
            u.devices_paired += 1;
        }
        self.save(&data)?;
        drop(data);
        if outcome == CodeVerdict::Trusted {
            self.paired.send_modify(|n| *n += 1);
        }
        Ok(outcome)
    }

    /// Creates an empty browser session (fresh id and CSRF token) and returns its id.
    pub fn new_session(&self, now: i64) -> Result<String, StoreError> {
        self.insert_session(now, |_| {})
    }

    /// Moves session `old` to a fresh id and CSRF token, changed by `f`, and returns the new id;
    /// `old` no longer exists. Called whenever a session gains rights (sign-up, a pairing code,
    /// a verified password, a completed login), so an id planted in a browser beforehand is
    /// worth nothing. Fails with [`StoreError::SessionGone`] when `old` does not exist: of two
    /// requests holding one id, only the first moves it, and a missing session never becomes a
    /// new one with rights.
    pub fn rotate_session(
        &self,
        old: &str,
        now: i64,
        f: impl FnOnce(&mut WebSession),
    ) -> Result<String, StoreError> {
        let previous = self.lock_sessions().remove(old).map(|e| e.session);
        let previous = previous.ok_or(StoreError::SessionGone)?;
        self.insert_session(now, |w| {
            w.user = previous.user;
            w.pairing = previous.pairing;
            w.pending = previous.pending;
            w.flash = previous.flash;
            w.password_checked = previous.password_checked;
            w.recovery = previous.recovery;
            w.new_recovery_code = previous.new_recovery_code;
            f(w);
        })
    }

    /// Ends session `old` and starts an empty one (new id and token) with `flash`.
    pub fn replace_session(&self, old: &str, now: i64, flash: Flash) -> Result<String, StoreError> {
        self.lock_sessions().remove(old);
        self.insert_session(now, |w| w.flash = Some(flash))
    }

    fn insert_session(
        &self,
        now: i64,
        f: impl FnOnce(&mut WebSession),
    ) -> Result<String, StoreError> {
        let sid = self.random_token()?;
        let mut session = WebSession::new(SecretString::from(self.random_token()?));
        f(&mut session);
        let mut sessions = self.lock_sessions();
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, e| now - e.last_seen <= SESSION_IDLE_SECONDS);
        }
        if sessions.len() >= MAX_SESSIONS {
            // Anonymous sessions (a form was shown, nothing more) go before anyone's login, so
            // a flood of page views cannot log users out.
            let oldest = sessions
                .iter()
                .min_by_key(|(_, e)| (!e.session.is_anonymous(), e.last_seen))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                sessions.remove(&k);
            }
        }
        sessions.insert(
            sid.clone(),
            SessionEntry {
                session,
                last_seen: now,
            },
        );
        Ok(sid)
    }

    /// A copy of the browser session `sid`, unless it does not exist or has been idle too long.
    pub fn session(&self, sid: &str, now: i64) -> Option<WebSession> {
        let mut sessions = self.lock_sessions();
        let entry = sessions.get_mut(sid)?;
        if now - entry.last_seen > SESSION_IDLE_SECONDS {
            sessions.remove(sid);
            return None;
        }
        entry.last_seen = now;
        Some(entry.session.clone())
    }

    /// Changes the browser session `sid` (no-op if it does not exist).
    pub fn update_session<T>(&self, sid: &str, f: impl FnOnce(&mut WebSession) -> T) -> Option<T> {
        self.lock_sessions().get_mut(sid).map(|e| f(&mut e.session))
    }
}

/// Writes `bytes` to `path`, created with mode 0600 on Unix.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    fn store() -> (tempfile::TempDir, SiteStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = SiteStore::open(&dir.path().join("site.json")).expect("open");
        assert!(s.add_user("alice", "hash".into(), 0).expect("add"));
        (dir, s)
    }

    #[test]
    fn code_is_accepted_once() {
        let (dir, s) = store();
        let code = s.new_pairing_code("alice", 100).expect("code");
        assert!(!s.code_used("alice", &code));
        let typed = code::display(&code).to_lowercase();
        assert_eq!(
            s.check_pairing("alice", &typed, 150).expect("check"),
            CodeVerdict::Trusted
        );
        assert!(s.code_used("alice", &code));
        assert_eq!(
            s.check_pairing("alice", &code, 151).expect("check"),
            CodeVerdict::Used
        );
        assert_eq!(s.devices_paired("alice"), 1);
        // persisted, 0600
        let reopened = SiteStore::open(&dir.path().join("site.json")).expect("reopen");
        assert_eq!(reopened.devices_paired("alice"), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("site.json"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn code_expires_after_ten_minutes() {
        let (_dir, s) = store();
        let code = s.new_pairing_code("alice", 0).expect("code");
        assert_eq!(
            s.check_pairing("alice", &code, 601).expect("check"),
            CodeVerdict::Expired
        );
    }

    #[test]
    fn five_wrong_tries_void_the_code() {
        let (_dir, s) = store();
        let code = s.new_pairing_code("alice", 0).expect("code");
        for left in (0..5).rev() {
            assert_eq!(
                s.check_pairing("alice", "0000-0000", 1).expect("check"),
                CodeVerdict::WrongCode { tries_left: left }
            );
        }
        assert_eq!(
            s.check_pairing("alice", &code, 2).expect("check"),
            CodeVerdict::Voided
        );
        assert_eq!(
            s.check_pairing("bob", &code, 2).expect("check"),
            CodeVerdict::NoCode
        );
        // a new code starts over
        let fresh = s.new_pairing_code("alice", 3).expect("code");
        assert_eq!(
            s.check_pairing("alice", &fresh, 4).expect("check"),
            CodeVerdict::Trusted
        );
    }

    #[test]
    fn rotation_moves_the_session_to_a_new_id_and_token() {
        let (_dir, s) = store();
        let old = s.new_session(0).expect("session");
        let old_csrf = s.session(&old, 0).expect("live").csrf;
        s.update_session(&old, |w| w.pairing = Some(("alice".into(), "CODE".into())));
        let new = s
            .rotate_session(&old, 1, |w| w.user = Some("alice".into()))
            .expect("rotate");
        assert_ne!(old, new);
        assert!(s.session(&old, 1).is_none(), "the old id is dead");
        let w = s.session(&new, 1).expect("new");
        assert_eq!(w.user.as_deref(), Some("alice"));
        assert_eq!(w.pairing.map(|p| p.0).as_deref(), Some("alice"));
        assert_ne!(
            w.csrf.expose_secret(),
            old_csrf.expose_secret(),
            "a new token"
        );
        let flash = Flash {
            title: "t".into(),
            message: "m".into(),
            kind: "ok",
        };
        // The old id cannot be moved again: no second session comes out of it.
        assert!(matches!(
            s.rotate_session(&old, 1, |w| w.user = Some("mallory".into())),
            Err(StoreError::SessionGone)
        ));
        assert!(matches!(
            s.rotate_session("never-issued", 1, |w| w.user = Some("mallory".into())),
            Err(StoreError::SessionGone)
        ));
        let fresh = s.replace_session(&new, 2, flash).expect("replace");
        assert!(s.session(&new, 2).is_none());
        let w = s.session(&fresh, 2).expect("fresh");
        assert!(w.user.is_none() && w.flash.is_some());
    }

    #[test]
    fn idle_sessions_expire_and_the_map_is_bounded() {
        let (_dir, s) = store();
        let sid = s.new_session(0).expect("session");
        assert!(s.session(&sid, SESSION_IDLE_SECONDS).is_some());
        assert!(s.session(&sid, 2 * SESSION_IDLE_SECONDS + 1).is_none());
        let logged_in = s.new_session(99).expect("session");
        s.update_session(&logged_in, |w| w.user = Some("alice".into()));
        let first = s.new_session(100).expect("session");
        for _ in 0..MAX_SESSIONS + 5 {
            s.new_session(101).expect("session");
        }
        assert_eq!(s.lock_sessions().len(), MAX_SESSIONS);
        assert!(
            s.session(&first, 102).is_none(),
            "the least recently used went first"
        );
        assert!(
            s.session(&logged_in, 102).is_some(),
            "anonymous sessions are evicted before a login"
        );
    }
}
