//! The wire names of the protocol's enums, written once per enum by [`wire_names!`]: `as_str`,
//! [`FromStr`](core::str::FromStr), `Display` and the list of every variant. Every other layer
//! (the service's database columns, metrics labels, audit rows, error bodies) uses these; the
//! match is exhaustive, so a new variant does not compile until its name is written here.

/// An enum whose every variant has a fixed wire name (its serde form).
pub trait WireName: Copy + PartialEq + Sized + 'static {
    /// Every variant, in declaration order.
    const ALL: &'static [Self];
    /// The wire name.
    fn wire_name(self) -> &'static str;
    /// The variant named `name`, if any.
    fn from_wire_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.wire_name() == name)
    }
}

/// A wire name no variant has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {name:?}")]
pub struct UnknownWireName {
    /// The enum's name.
    pub kind: &'static str,
    /// What was given.
    pub name: String,
}

/// Gives an enum its wire names: `wire_names!(Enum { Variant => "name", … });`.
macro_rules! wire_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The wire form (the serde name).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }
        }

        impl $crate::wire::WireName for $ty {
            const ALL: &'static [Self] = $ty::ALL;
            fn wire_name(self) -> &'static str {
                self.as_str()
            }
        }

        impl ::core::str::FromStr for $ty {
            type Err = $crate::wire::UnknownWireName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <Self as $crate::wire::WireName>::from_wire_name(s).ok_or_else(|| {
                    $crate::wire::UnknownWireName {
                        kind: stringify!($ty),
                        name: s.to_owned(),
                    }
                })
            }
        }

        impl ::core::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use wire_names;

#[cfg(test)]
mod tests {
    use super::WireName;
    use crate::api::{
        ErrorCode, KeyProtection, PushEnvironment, PushPlatform, SessionReason, SessionStatus,
    };
    use crate::{Decision, DenyReason, PresenceMode, UserVerification, UvMethod};

    /// The names written in `wire_names!` are the serde names, both ways.
    fn names_are_serde_names<T>()
    where
        T: WireName + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
        T: std::str::FromStr + std::fmt::Display,
    {
        assert!(!T::ALL.is_empty());
        for v in T::ALL {
            let json = serde_json::to_value(v).expect("serialise");
            assert_eq!(json.as_str(), Some(v.wire_name()), "{v:?}");
            let back: T = serde_json::from_value(json).expect("deserialise");
            assert!(back == *v, "{v:?}");
            assert!(v.wire_name().parse::<T>().ok() == Some(*v), "{v:?}");
            assert_eq!(v.to_string(), v.wire_name());
        }
        assert!("no such name".parse::<T>().is_err());
    }

    #[test]
    fn every_wire_enum_spells_its_serde_names() {
        names_are_serde_names::<Decision>();
        names_are_serde_names::<DenyReason>();
        names_are_serde_names::<UvMethod>();
        names_are_serde_names::<PresenceMode>();
        names_are_serde_names::<UserVerification>();
        names_are_serde_names::<ErrorCode>();
        names_are_serde_names::<PushPlatform>();
        names_are_serde_names::<PushEnvironment>();
        names_are_serde_names::<KeyProtection>();
        names_are_serde_names::<SessionStatus>();
        names_are_serde_names::<SessionReason>();
    }

    #[test]
    fn every_reason_decides_a_final_status() {
        use SessionReason as R;
        use SessionStatus as S;
        for r in SessionReason::ALL {
            assert!(r.status().is_final(), "{r:?}");
        }
        assert_eq!(R::Approved.status(), S::Accepted);
        assert_eq!(R::FraudReported.status(), S::Rejected);
        assert_eq!(R::Superseded.status(), S::Canceled);
        assert_eq!(R::Timeout.status(), S::Expired);
        assert_eq!(R::DeliveryFailed.status(), S::Error);
    }

    #[test]
    fn an_unknown_name_says_which_enum() {
        let e = "nope".parse::<SessionStatus>().expect_err("unknown");
        assert_eq!(e.to_string(), "unknown SessionStatus \"nope\"");
    }
}
