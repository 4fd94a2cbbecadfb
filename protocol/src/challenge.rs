//! The signed challenge: what the service sends to a phone and the phone verifies offline with
//! the service key it pinned at pairing.

use serde::{Deserialize, Serialize};

use crate::jws::{self, Unverified};
use crate::keys::{Es256Signer, PublicKey, SignError};
use crate::{PROTOCOL_VERSION, ProtocolError};

/// JWS `typ` of a challenge.
pub const CHALLENGE_TYP: &str = "tapprove-challenge+jwt";

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 120;
/// Longest body, in characters.
pub const MAX_BODY_CHARS: usize = 500;
/// Longest presence option, in characters.
pub const MAX_OPTION_CHARS: usize = 8;

/// Where the login comes from, as shown to the user so they can spot a login that is not theirs.
/// Every field is optional; the relying party supplies what it knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// The application or site name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The client's IP address as the site saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Approximate location, e.g. "Lyon, FR".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The browser's user agent as the relying party received it (sanitised). It is the
    /// attacker's own text: the service reads it once into [`Context::browser`] and
    /// [`Context::os`], and clients show those, never this string as if it were the service's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The browser's name (e.g. "Firefox"), read by the service from the user agent; no
    /// version, since a version is digits of the attacker's choosing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    /// The operating system's name (e.g. "Windows 10", "Android"), read by the service from
    /// the user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
}

impl Context {
    /// Every member through [`crate::text::sanitize`]; members that end up empty are dropped.
    #[must_use]
    pub fn sanitized(self) -> Self {
        let clean = |v: Option<String>| {
            v.map(|s| crate::text::sanitize(&s))
                .filter(|s| !s.is_empty())
        };
        Self {
            app: clean(self.app),
            ip: clean(self.ip),
            location: clean(self.location),
            user_agent: clean(self.user_agent),
            browser: clean(self.browser),
            os: clean(self.os),
        }
    }

    /// Every member with its name, in display order; for rules that apply to each of them.
    pub fn members(&self) -> [(&'static str, Option<&str>); 6] {
        [
            ("app", self.app.as_deref()),
            ("ip", self.ip.as_deref()),
            ("location", self.location.as_deref()),
            ("browser", self.browser.as_deref()),
            ("os", self.os.as_deref()),
            ("user_agent", self.user_agent.as_deref()),
        ]
    }
}

/// How the user proves they are in front of the login page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceMode {
    /// Pick the code the login page shows out of three options.
    Choose,
    /// Type the code the login page shows (stronger: no 1-in-3 blind guess).
    Entry,
    /// No presence check: approve or deny only.
    None,
    /// Code to phone: the phone shows a secret code (carried only in this signed challenge)
    /// and the user types it at the login prompt; the relying party submits it. The phone
    /// only denies.
    Display,
}

crate::wire::wire_names!(PresenceMode {
    Choose => "choose",
    Entry => "entry",
    None => "none",
    Display => "display",
});

/// Shortest code a `display` challenge carries, in digits (NIST SP 800-63B-4: at least six).
pub const MIN_DISPLAY_DIGITS: usize = 6;

/// Longest typed code an `entry` challenge may ask for, in digits.
pub const MAX_CODE_DIGITS: u8 = 12;

/// Whether the phone must verify its user (biometrics, device passcode, app passphrase) before
/// it signs an approval (docs/PROTOCOL.md §4a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserVerification {
    /// Verify, or do not approve: an approval without `uv` is refused by the service.
    Required,
    /// Verify when the device can; approve without `uv` when it cannot.
    Preferred,
}

crate::wire::wire_names!(UserVerification {
    Required => "required",
    Preferred => "preferred",
});

/// The presence check of a challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The mode.
    pub mode: PresenceMode,
    /// For `choose`: exactly three distinct options, one of which is the code. Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// For `entry`: the code has exactly this many decimal digits (1 to 12). Absent: the code's
    /// length is not announced (older services), the device only checks it is not empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u8>,
    /// For `display`: the code the phone shows for the user to type at the login prompt (6 to
    /// 12 decimal digits). Absent in every other mode. A secret: it travels only in the
    /// challenge (sealed push, authenticated fetch), never to the relying party.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl Presence {
    /// Checks the rules of each mode.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if self.mode != PresenceMode::Entry && self.length.is_some() {
            return Err(invalid("only entry mode carries a code length"));
        }
        if self.mode != PresenceMode::Display && self.code.is_some() {
            return Err(invalid("only display mode carries a code"));
        }
        match self.mode {
            PresenceMode::Choose => {
                if self.options.len() != 3 {
                    return Err(invalid("choose mode needs exactly three options"));
                }
                for (i, o) in self.options.iter().enumerate() {
                    if o.is_empty() || o.chars().count() > MAX_OPTION_CHARS {
                        return Err(invalid("presence options must be 1 to 8 characters"));
                    }
                    if self.options[..i].contains(o) {
                        return Err(invalid("presence options must be distinct"));
                    }
                }
                Ok(())
            }
            PresenceMode::Entry | PresenceMode::None | PresenceMode::Display
                if !self.options.is_empty() =>
            {
                Err(invalid("only choose mode carries options"))
            }
            PresenceMode::Display => {
                let digits = self.code.as_deref().unwrap_or_default();
                let n = digits.len();
                if !(MIN_DISPLAY_DIGITS..=usize::from(MAX_CODE_DIGITS)).contains(&n)
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(invalid("display mode needs a code of 6 to 12 digits"));
                }
                Ok(())
            }
            PresenceMode::Entry if self.length.is_some_and(|n| n == 0 || n > MAX_CODE_DIGITS) => {
                Err(invalid("the code length must be 1 to 12 digits"))
            }
            _ => Ok(()),
        }
    }
}

/// A login request as signed by the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Protocol version, [`PROTOCOL_VERSION`].
    pub ver: u32,
    /// The push session id; answers refer to it.
    pub session_id: String,
    /// The paired account (device registration) this challenge is for.
    pub account_id: String,
    /// The user name at the relying party.
    pub user: String,
    /// Notification title.
    pub title: String,
    /// Notification body.
    pub body: String,
    /// Where the login comes from.
    #[serde(default)]
    pub context: Context,
    /// The presence check.
    pub presence: Presence,
    /// Whether the phone must verify its user before approving; absent = not asked (the
    /// account's policy from pairing may still ask).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_verification: Option<UserVerification>,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Random value the answer must echo, binding it to this exact challenge.
    pub nonce: String,
}

/// Read first, so a payload of a newer version is reported as such rather than as malformed.
#[derive(Deserialize)]
pub(crate) struct VersionOnly {
    pub(crate) ver: u32,
}

impl Challenge {
    /// Signs the challenge with the service key; `kid` is the key's [`PublicKey::key_id`].
    pub fn sign(&self, signer: &dyn Es256Signer) -> Result<String, SignError> {
        jws::sign(self, CHALLENGE_TYP, &signer.public_key().key_id(), signer)
    }

    /// Verifies a challenge token against the pinned service key, at time `now` (Unix seconds)
    /// allowing `skew_seconds` of clock difference either way. Checks, in order: size, shape,
    /// header, signature, version, field rules, time.
    pub fn verify(
        token: &str,
        service_key: &PublicKey,
        now: i64,
        skew_seconds: i64,
    ) -> Result<Self, ProtocolError> {
        let challenge = Self::verify_signature(token, service_key)?;
        challenge.check_time(now, skew_seconds)?;
        Ok(challenge)
    }

    /// Everything [`Challenge::verify`] checks except time, for callers that check time with
    /// their own (corrected) clock.
    pub fn verify_signature(token: &str, service_key: &PublicKey) -> Result<Self, ProtocolError> {
        let jws = Unverified::parse(token, CHALLENGE_TYP)?;
        let VersionOnly { ver } = jws.verify(service_key)?;
        if ver != PROTOCOL_VERSION {
            return Err(ProtocolError::UnsupportedVersion(ver));
        }
        let challenge: Self = jws.payload_unverified()?;
        challenge.validate()?;
        Ok(challenge)
    }

    /// The account id a token claims to be for, without verifying anything: used only to pick
    /// the account (and so the pinned key) to verify with.
    pub fn peek_account_id(token: &str) -> Result<String, ProtocolError> {
        #[derive(Deserialize)]
        struct Route {
            account_id: String,
        }
        let route: Route = Unverified::parse(token, CHALLENGE_TYP)?.payload_unverified()?;
        Ok(route.account_id)
    }

    /// Field rules that do not depend on time.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if self.session_id.is_empty() || self.account_id.is_empty() || self.nonce.is_empty() {
            return Err(invalid(
                "session_id, account_id and nonce must not be empty",
            ));
        }
        if self.title.chars().count() > MAX_TITLE_CHARS
            || self.body.chars().count() > MAX_BODY_CHARS
        {
            return Err(invalid("title or body too long"));
        }
        if self.exp <= self.iat {
            return Err(invalid("exp must be after iat"));
        }
        self.presence.validate()
    }

    /// Time rules: not expired and not issued in the future, within `skew_seconds`.
    pub fn check_time(&self, now: i64, skew_seconds: i64) -> Result<(), ProtocolError> {
        if now > self.exp.saturating_add(skew_seconds) {
            return Err(ProtocolError::Expired);
        }
        if self.iat > now.saturating_add(skew_seconds) {
            return Err(ProtocolError::NotYetValid);
        }
        Ok(())
    }
}

pub(crate) fn invalid(msg: &str) -> ProtocolError {
    ProtocolError::Invalid(msg.to_owned())
}
