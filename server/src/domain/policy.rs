//! A project's presence policy: how strong a session's presence check must be, and
//! the code each mode gets. The one place that decides a session's presence mode and code.

use serde::Serialize;
use tapprove_protocol::PresenceMode;

use crate::crypto;
use crate::error::ServiceError;

/// Default length of a typed code, digits (NIST SP 800-63B-4 §3.1.3: at least six).
pub const DEFAULT_ENTRY_DIGITS: u8 = 6;
/// Shortest typed code `entry` accepts, digits.
pub const MIN_ENTRY_DIGITS: u8 = 4;
/// Shortest typed code `nist-aal2` accepts, digits.
pub const MIN_NIST_DIGITS: u8 = 6;
/// Longest typed code, digits (what a device accepts, PROTOCOL.md §4).
pub const MAX_ENTRY_DIGITS: u8 = 12;

/// The policy kinds, as stored and as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// Pick the shown number among three (2 digits). A blind tap is right 1 time in 3.
    Choose,
    /// Type the shown code on the phone.
    Entry,
    /// Type a code of at least 6 digits, user verification on the phone, and the push limits.
    NistAal2,
}

impl PolicyKind {
    /// The stored and command-line form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Choose => "choose",
            Self::Entry => "entry",
            Self::NistAal2 => "nist-aal2",
        }
    }

    /// Parses the stored and command-line form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "choose" => Some(Self::Choose),
            "entry" => Some(Self::Entry),
            "nist-aal2" => Some(Self::NistAal2),
            _ => None,
        }
    }
}

/// A project's presence policy: its kind, the typed code's length, and whether sessions may
/// be approve-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PresencePolicy {
    /// Which policy.
    pub kind: PolicyKind,
    /// Length of typed codes, digits (used by `entry`, `nist-aal2`, and a session that asks
    /// for `entry` under `choose`); a `display` code has this many digits, at least 6.
    pub entry_digits: u8,
    /// Whether a session may ask for `none` (approve-only: for login sides that can show
    /// nothing). Off by default; never under `nist-aal2`.
    pub allow_approve_only: bool,
}

impl Default for PresencePolicy {
    fn default() -> Self {
        Self {
            kind: PolicyKind::Choose,
            entry_digits: DEFAULT_ENTRY_DIGITS,
            allow_approve_only: false,
        }
    }
}

/// Why a policy cannot be built from what an operator gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPolicy(pub String);

impl PresencePolicy {
    /// Builds a policy from its command-line parts; `digits` defaults to 6.
    pub fn new(kind: &str, digits: Option<u8>) -> Result<Self, InvalidPolicy> {
        let kind = PolicyKind::parse(kind).ok_or_else(|| {
            InvalidPolicy(format!(
                "unknown presence policy {kind:?}: use choose, entry or nist-aal2"
            ))
        })?;
        let entry_digits = digits.unwrap_or(DEFAULT_ENTRY_DIGITS);
        let min = if kind == PolicyKind::NistAal2 {
            MIN_NIST_DIGITS
        } else {
            MIN_ENTRY_DIGITS
        };
        if !(min..=MAX_ENTRY_DIGITS).contains(&entry_digits) {
            return Err(InvalidPolicy(format!(
                "a {} code must have {min} to {MAX_ENTRY_DIGITS} digits, not {entry_digits}",
                kind.as_str()
            )));
        }
        Ok(Self {
            kind,
            entry_digits,
            allow_approve_only: false,
        })
    }

    /// This policy with approve-only sessions allowed or not; refused under `nist-aal2`,
    /// whose sessions must prove presence.
    pub fn with_approve_only(self, allow: bool) -> Result<Self, InvalidPolicy> {
        if allow && self.kind == PolicyKind::NistAal2 {
            return Err(InvalidPolicy(
                "nist-aal2 never allows approve-only sessions: leave out --allow-approve-only \
                 or choose the choose or entry policy"
                    .into(),
            ));
        }
        Ok(Self {
            allow_approve_only: allow,
            ..self
        })
    }

    /// A project row's policy.
    pub(crate) fn of(p: &crate::store::ProjectRow) -> Self {
        Self::from_stored(
            &p.presence_policy,
            p.entry_digits,
            p.allow_approve_only != 0,
        )
    }

    /// The policy columns read with an answer's session.
    pub(crate) fn of_columns(p: &crate::store::PolicyColumns) -> Self {
        Self::from_stored(
            &p.presence_policy,
            p.entry_digits,
            p.allow_approve_only != 0,
        )
    }

    /// Reads the stored columns; an unreadable row falls back to the strictest policy.
    pub(crate) fn from_stored(kind: &str, digits: i64, allow_approve_only: bool) -> Self {
        let digits = u8::try_from(digits).unwrap_or(DEFAULT_ENTRY_DIGITS);
        Self::new(kind, Some(digits))
            .and_then(|p| p.with_approve_only(allow_approve_only))
            .unwrap_or_else(|e| {
                tracing::error!(policy = kind, digits, error = %e.0, "unreadable stored policy: using nist-aal2");
                Self {
                    kind: PolicyKind::NistAal2,
                    entry_digits: DEFAULT_ENTRY_DIGITS,
                    allow_approve_only: false,
                }
            })
    }

    /// Whether approvals must carry user verification.
    pub fn requires_user_verification(self) -> bool {
        self.kind == PolicyKind::NistAal2
    }

    /// One line for operators, e.g. `nist-aal2 (typed 6-digit code, user verification required)`.
    pub fn describe(self) -> String {
        let kind = self.describe_kind();
        if self.allow_approve_only {
            format!("{kind}, approve-only sessions allowed")
        } else {
            kind
        }
    }

    fn describe_kind(self) -> String {
        match self.kind {
            PolicyKind::Choose => "choose (pick 1 of 3 two-digit numbers)".into(),
            PolicyKind::Entry => format!("entry (typed {}-digit code)", self.entry_digits),
            PolicyKind::NistAal2 => format!(
                "nist-aal2 (typed {}-digit code, user verification required)",
                self.entry_digits
            ),
        }
    }

    /// The presence mode of a session that asked for `requested` (None = the policy's own),
    /// or `None` when the request is weaker than the policy allows. Approve-only (`none`)
    /// passes only where the project allows it (never under `nist-aal2`).
    pub(crate) fn mode_for(self, requested: Option<PresenceMode>) -> Option<PresenceMode> {
        let floor = match self.kind {
            PolicyKind::Choose => PresenceMode::Choose,
            PolicyKind::Entry | PolicyKind::NistAal2 => PresenceMode::Entry,
        };
        let requested = requested.unwrap_or(floor);
        if requested == PresenceMode::None {
            let allowed = self.allow_approve_only && self.kind != PolicyKind::NistAal2;
            return allowed.then_some(requested);
        }
        (strength(requested) >= strength(floor)).then_some(requested)
    }

    /// The code and (for `choose`) the three options of a session in `mode`.
    pub(crate) fn presence(
        self,
        mode: PresenceMode,
    ) -> Result<(Option<String>, Vec<String>), ServiceError> {
        presence_code(mode, self.entry_digits)
    }
}

/// Orders the modes by how much they prove: none < choose < entry <= display. A displayed
/// code is at least as strong as a typed one: it is at least 6 digits, the user must read it
/// off the phone (so it proves the same link between phone and login), and it never reaches
/// the login side before the user types it.
fn strength(mode: PresenceMode) -> u8 {
    match mode {
        PresenceMode::None => 0,
        PresenceMode::Choose => 1,
        PresenceMode::Entry => 2,
        PresenceMode::Display => 3,
    }
}

/// The code and options of `mode`: `entry` gets `digits` decimal digits, `display` as many
/// but at least 6 (it is the secret the phone shows), `choose` a 2-digit
/// code plus two distinct decoys, shuffled; every digit comes from the OS RBG.
fn presence_code(
    mode: PresenceMode,
    digits: u8,
) -> Result<(Option<String>, Vec<String>), ServiceError> {
    let decimal = |digits: u8| -> Result<String, ServiceError> {
        let mut code = String::with_capacity(usize::from(digits));
        for _ in 0..digits {
            let d = crypto::random_below(10)?;
            code.push(char::from(b'0' + d as u8));
        }
        Ok(code)
    };
    match mode {
        PresenceMode::None => Ok((None, Vec::new())),
        PresenceMode::Entry => Ok((Some(decimal(digits)?), Vec::new())),
        PresenceMode::Display => Ok((Some(decimal(digits.max(MIN_NIST_DIGITS))?), Vec::new())),
        PresenceMode::Choose => {
            let code = crypto::random_below(100)?;
            let mut picks = vec![code];
            while picks.len() < 3 {
                let d = crypto::random_below(100)?;
                if !picks.contains(&d) {
                    picks.push(d);
                }
            }
            // Fisher–Yates with the CSPRNG.
            for i in (1..picks.len()).rev() {
                let j = crypto::random_below(i as u32 + 1)? as usize;
                picks.swap(i, j);
            }
            Ok((
                Some(format!("{code:02}")),
                picks.iter().map(|p| format!("{p:02}")).collect(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapprove_protocol::Presence;

    fn policy(kind: &str) -> PresencePolicy {
        PresencePolicy::new(kind, None).expect("policy")
    }

    #[test]
    fn sessions_may_ask_for_more_never_less() {
        use PresenceMode::{Choose, Entry};
        let choose = policy("choose");
        assert_eq!(choose.mode_for(None), Some(Choose));
        assert_eq!(choose.mode_for(Some(Entry)), Some(Entry));
        assert_eq!(choose.mode_for(Some(PresenceMode::None)), None);
        for strict in [policy("entry"), policy("nist-aal2")] {
            assert_eq!(strict.mode_for(None), Some(Entry));
            assert_eq!(strict.mode_for(Some(Entry)), Some(Entry));
            assert_eq!(strict.mode_for(Some(Choose)), None);
            assert_eq!(strict.mode_for(Some(PresenceMode::None)), None);
        }
    }

    #[test]
    fn display_passes_every_policy_and_approve_only_needs_the_setting() {
        for kind in ["choose", "entry", "nist-aal2"] {
            let p = policy(kind);
            assert_eq!(
                p.mode_for(Some(PresenceMode::Display)),
                Some(PresenceMode::Display)
            );
            assert_eq!(p.mode_for(Some(PresenceMode::None)), None, "{kind}");
        }
        for kind in ["choose", "entry"] {
            let p = policy(kind).with_approve_only(true).expect("allowed");
            assert_eq!(
                p.mode_for(Some(PresenceMode::None)),
                Some(PresenceMode::None)
            );
            assert!(p.describe().contains("approve-only"));
        }
        assert!(policy("nist-aal2").with_approve_only(true).is_err());
        assert!(!PresencePolicy::from_stored("nist-aal2", 6, true).allow_approve_only);
        let p = PresencePolicy::new("entry", Some(4)).expect("4 digits");
        let (code, options) = p.presence(PresenceMode::Display).expect("code");
        let code = code.expect("code");
        assert_eq!(code.len(), 6, "a display code has at least 6 digits");
        assert!(code.bytes().all(|b| b.is_ascii_digit()) && options.is_empty());
    }

    #[test]
    fn code_lengths_are_bounded() {
        assert!(PresencePolicy::new("nist-aal2", Some(5)).is_err());
        assert!(PresencePolicy::new("nist-aal2", Some(13)).is_err());
        assert!(PresencePolicy::new("entry", Some(3)).is_err());
        assert_eq!(
            PresencePolicy::new("entry", Some(4))
                .expect("4")
                .entry_digits,
            4
        );
        assert!(PresencePolicy::new("sometimes", None).is_err());
        assert_eq!(policy("nist-aal2").entry_digits, 6);
        assert_eq!(
            PresencePolicy::from_stored("garbage", 6, false).kind,
            PolicyKind::NistAal2
        );
    }

    #[test]
    fn entry_codes_have_the_policy_length_and_vary() {
        let p = PresencePolicy::new("nist-aal2", Some(8)).expect("policy");
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let (code, options) = p.presence(PresenceMode::Entry).expect("code");
            let code = code.expect("code");
            assert_eq!(code.len(), 8);
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
            assert!(options.is_empty());
            seen.insert(code);
        }
        assert!(
            seen.len() > 45,
            "8-digit codes from the RBG repeat: {seen:?}"
        );
    }

    #[test]
    fn presence_options_are_distinct_and_contain_the_code() {
        for _ in 0..200 {
            let (code, options) = policy("choose")
                .presence(PresenceMode::Choose)
                .expect("presence");
            let code = code.expect("code");
            assert_eq!(code.len(), 2);
            assert_eq!(options.len(), 3);
            assert!(options.contains(&code));
            assert!(
                options[0] != options[1] && options[1] != options[2] && options[0] != options[2]
            );
            Presence {
                code: None,
                length: None,
                mode: PresenceMode::Choose,
                options,
            }
            .validate()
            .expect("valid");
        }
        let (code, options) = policy("choose").presence(PresenceMode::None).expect("none");
        assert!(code.is_none() && options.is_empty());
    }

    #[test]
    fn code_position_is_not_fixed() {
        let mut positions = [0u32; 3];
        for _ in 0..300 {
            let (code, options) = policy("choose")
                .presence(PresenceMode::Choose)
                .expect("presence");
            let code = code.expect("code");
            let pos = options.iter().position(|o| *o == code).expect("present");
            positions[pos] += 1;
        }
        assert!(positions.iter().all(|n| *n > 40), "{positions:?}");
    }
}
