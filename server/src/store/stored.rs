//! How the protocol's enums are stored: as their snake_case wire names in TEXT columns.
//! [`Stored`] is the column type; [`StoredEnum`] the one table of names per enum.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};
use tapprove_protocol::PresenceMode;
use tapprove_protocol::api::{PushEnvironment, PushPlatform, SessionReason, SessionStatus};

/// An enum with a fixed name per variant (its wire name).
pub(crate) trait StoredEnum: Copy + PartialEq + 'static {
    /// Every variant that can be stored.
    const ALL: &'static [Self];
    /// The stored (wire) name.
    fn name(self) -> &'static str;
    /// The variant stored as `name`.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }
}

/// A column holding a [`StoredEnum`] by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stored<T>(pub T);

impl<DB: Database, T: StoredEnum> Type<DB> for Stored<T>
where
    str: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <str as Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <str as Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: Database, T: StoredEnum> Decode<'r, DB> for Stored<T>
where
    &'r str: Decode<'r, DB>,
{
    fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let name = <&str as Decode<DB>>::decode(value)?;
        T::from_name(name)
            .map(Stored)
            .ok_or_else(|| format!("unknown stored value {name:?}").into())
    }
}

impl<'q, DB: Database, T: StoredEnum> Encode<'q, DB> for Stored<T>
where
    for<'a> &'a str: Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        <&str as Encode<DB>>::encode(self.0.name(), buf)
    }
}

impl StoredEnum for SessionStatus {
    const ALL: &'static [Self] = &[
        Self::Sent,
        Self::Accepted,
        Self::Rejected,
        Self::Expired,
        Self::Canceled,
        Self::Error,
    ];
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl StoredEnum for SessionReason {
    const ALL: &'static [Self] = &[
        Self::Approved,
        Self::WrongNumber,
        Self::UserDenied,
        Self::FraudReported,
        Self::Superseded,
        Self::CanceledByRelyingParty,
        Self::Timeout,
        Self::NoDevice,
        Self::DeliveryFailed,
    ];
    fn name(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::WrongNumber => "wrong_number",
            Self::UserDenied => "user_denied",
            Self::FraudReported => "fraud_reported",
            Self::Superseded => "superseded",
            Self::CanceledByRelyingParty => "canceled_by_relying_party",
            Self::Timeout => "timeout",
            Self::NoDevice => "no_device",
            Self::DeliveryFailed => "delivery_failed",
            // Never stored: the service only stores reasons it decided.
            _ => "unknown",
        }
    }
}

impl StoredEnum for PresenceMode {
    const ALL: &'static [Self] = &[Self::Choose, Self::Entry, Self::None];
    fn name(self) -> &'static str {
        match self {
            Self::Choose => "choose",
            Self::Entry => "entry",
            Self::None => "none",
        }
    }
}

impl StoredEnum for PushPlatform {
    const ALL: &'static [Self] = &[Self::Apns, Self::Fcm, Self::None];
    fn name(self) -> &'static str {
        match self {
            Self::Apns => "apns",
            Self::Fcm => "fcm",
            Self::None => "none",
        }
    }
}

impl StoredEnum for PushEnvironment {
    const ALL: &'static [Self] = &[Self::Production, Self::Sandbox];
    fn name(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Sandbox => "sandbox",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored names are the wire names (what the database already holds).
    fn names_are_wire_names<T: StoredEnum + serde::Serialize>() {
        for v in T::ALL {
            let wire = serde_json::to_value(v).expect("serialise");
            assert_eq!(wire.as_str(), Some(v.name()));
            assert!(T::from_name(v.name()) == Some(*v));
        }
        assert!(T::from_name("no such name").is_none());
    }

    #[test]
    fn every_stored_enum_uses_its_wire_names() {
        names_are_wire_names::<SessionStatus>();
        names_are_wire_names::<SessionReason>();
        names_are_wire_names::<PresenceMode>();
        names_are_wire_names::<PushPlatform>();
        names_are_wire_names::<PushEnvironment>();
    }
}
