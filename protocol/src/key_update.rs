//! The service key rollover message (docs/PROTOCOL.md "Service key rollover"): the service
//! announces its next signing key in a token signed by the key the device pinned at pairing.
//! A device that verifies it pins the new key and still accepts the old one until
//! `old_key_valid_until`; a key update signed by anything else is refused.

use serde::{Deserialize, Serialize};

use crate::challenge::{VersionOnly, invalid};
use crate::jws::{self, Unverified};
use crate::keys::{Es256Signer, PublicKey, SignError};
use crate::{PROTOCOL_VERSION, ProtocolError};

/// JWS `typ` of a key update.
pub const KEY_UPDATE_TYP: &str = "tapprove-key-update+jwt";

/// Longest grace period a key update may give the old key (30 days): a longer one would keep a
/// possibly leaked key alive.
pub const MAX_GRACE_SECONDS: i64 = 30 * 24 * 3600;

/// "From now on, challenges are signed with `new_key`", signed with the old (pinned) key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUpdate {
    /// Protocol version.
    pub ver: u32,
    /// The service's next signing key.
    pub new_key: PublicKey,
    /// Until when (Unix seconds) challenges signed by the old key are still accepted.
    pub old_key_valid_until: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
}

impl KeyUpdate {
    /// Signs with the current service key (the one devices pinned); `kid` is its key id.
    pub fn sign(&self, current: &dyn Es256Signer) -> Result<String, SignError> {
        jws::sign(
            self,
            KEY_UPDATE_TYP,
            &current.public_key().key_id(),
            current,
        )
    }

    /// Verifies a key update against the pinned service key at `now`. Checks, in order: size,
    /// shape, header (`kid` must name the pinned key), signature, version, field rules, time.
    pub fn verify(
        token: &str,
        pinned: &PublicKey,
        now: i64,
        skew_seconds: i64,
    ) -> Result<Self, ProtocolError> {
        let jws = Unverified::parse(token, KEY_UPDATE_TYP)?;
        if jws.header.kid != pinned.key_id() {
            return Err(ProtocolError::BadSignature);
        }
        let VersionOnly { ver } = jws.verify(pinned)?;
        if ver != PROTOCOL_VERSION {
            return Err(ProtocolError::UnsupportedVersion(ver));
        }
        let update: Self = jws.payload_unverified()?;
        if &update.new_key == pinned {
            return Err(invalid("the new key must differ from the pinned key"));
        }
        // Checked: both times are the signer's numbers, and an overflow must refuse, not wrap.
        let grace = update.old_key_valid_until.checked_sub(update.iat);
        if !grace.is_some_and(|g| (0..=MAX_GRACE_SECONDS).contains(&g)) {
            return Err(invalid("the grace period must be 0 to 30 days"));
        }
        if update.iat > now.saturating_add(skew_seconds) {
            return Err(ProtocolError::NotYetValid);
        }
        Ok(update)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SoftwareKey;

    const NOW: i64 = 1_800_000_000;

    fn update(new_key: PublicKey) -> KeyUpdate {
        KeyUpdate {
            ver: PROTOCOL_VERSION,
            new_key,
            old_key_valid_until: NOW + 7 * 24 * 3600,
            iat: NOW,
        }
    }

    #[test]
    fn signed_by_the_pinned_key_verifies() {
        let (old, new) = (
            SoftwareKey::generate().expect("key"),
            SoftwareKey::generate().expect("key"),
        );
        let token = update(new.public_key()).sign(&old).expect("sign");
        let got = KeyUpdate::verify(&token, &old.public_key(), NOW, 60).expect("valid");
        assert_eq!(got.new_key, new.public_key());
        // Still valid long after: a device offline for a week learns it on its next call.
        assert!(KeyUpdate::verify(&token, &old.public_key(), NOW + 86_400 * 6, 60).is_ok());
    }

    #[test]
    fn anything_but_the_pinned_key_is_refused() {
        let (old, new) = (
            SoftwareKey::generate().expect("key"),
            SoftwareKey::generate().expect("key"),
        );
        // Self-signed by the new key: the attacker's case.
        let token = update(new.public_key()).sign(&new).expect("sign");
        let err = KeyUpdate::verify(&token, &old.public_key(), NOW, 60).expect_err("refused");
        assert_eq!(err, ProtocolError::BadSignature);
        // Claims the pinned kid but is signed by another key.
        let forged = jws::sign(
            &update(new.public_key()),
            KEY_UPDATE_TYP,
            &old.public_key().key_id(),
            &new,
        )
        .expect("sign");
        let err = KeyUpdate::verify(&forged, &old.public_key(), NOW, 60).expect_err("refused");
        assert_eq!(err, ProtocolError::BadSignature);
    }

    #[test]
    fn field_and_time_rules() {
        let old = SoftwareKey::generate().expect("key");
        let same = update(old.public_key()).sign(&old).expect("sign");
        assert_eq!(
            KeyUpdate::verify(&same, &old.public_key(), NOW, 60).map_err(|e| e.code()),
            Err("invalid")
        );
        let new = SoftwareKey::generate().expect("key");
        let mut long = update(new.public_key());
        long.old_key_valid_until = NOW + MAX_GRACE_SECONDS + 1;
        let long = long.sign(&old).expect("sign");
        assert_eq!(
            KeyUpdate::verify(&long, &old.public_key(), NOW, 60).map_err(|e| e.code()),
            Err("invalid")
        );
        let future = update(new.public_key()).sign(&old).expect("sign");
        assert_eq!(
            KeyUpdate::verify(&future, &old.public_key(), NOW - 61, 60).map_err(|e| e.code()),
            Err("not_yet_valid")
        );
        let challenge_typ = jws::sign(
            &update(new.public_key()),
            "tapprove-challenge+jwt",
            &old.public_key().key_id(),
            &old,
        )
        .expect("sign");
        assert_eq!(
            KeyUpdate::verify(&challenge_typ, &old.public_key(), NOW, 60).map_err(|e| e.code()),
            Err("unsupported_header")
        );
    }
}
