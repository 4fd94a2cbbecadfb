//! The one place the protocol's enums meet the database: a [`Stored`] column holds an enum by
//! its wire name (`tapprove_protocol::WireName`, written once in the protocol crate) in a TEXT
//! column, on SQLite and PostgreSQL alike.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};
use tapprove_protocol::WireName;

/// A column holding a [`StoredEnum`] by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stored<T>(pub T);

impl<DB: Database, T: WireName> Type<DB> for Stored<T>
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

impl<'r, DB: Database, T: WireName> Decode<'r, DB> for Stored<T>
where
    &'r str: Decode<'r, DB>,
{
    fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let name = <&str as Decode<DB>>::decode(value)?;
        T::from_wire_name(name)
            .map(Stored)
            .ok_or_else(|| format!("unknown stored value {name:?}").into())
    }
}

impl<'q, DB: Database, T: WireName> Encode<'q, DB> for Stored<T>
where
    for<'a> &'a str: Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        <&str as Encode<DB>>::encode(self.0.wire_name(), buf)
    }
}

/// The same column on SQLite's synchronous connections (`crate::store::sqlite_direct`).
impl<T: WireName> rusqlite::types::FromSql for Stored<T> {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let name = value.as_str()?;
        T::from_wire_name(name).map(Stored).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(format!("unknown stored value {name:?}").into())
        })
    }
}

impl<T: WireName> rusqlite::types::ToSql for Stored<T> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.0.wire_name().into())
    }
}

#[cfg(test)]
mod tests {
    use sqlx::{Connection as _, SqliteConnection};
    use tapprove_protocol::PresenceMode;
    use tapprove_protocol::api::{
        KeyProtection, PushEnvironment, PushPlatform, SessionReason, SessionStatus,
    };

    use super::*;

    /// Every variant goes into a TEXT value as its wire name and comes back as itself; a name
    /// no variant has is refused when read.
    async fn round_trips<T>(conn: &mut SqliteConnection)
    where
        T: WireName + std::fmt::Debug + Send + Unpin,
    {
        for v in T::ALL {
            let (text, back): (String, Stored<T>) = sqlx::query_as("SELECT ?1, ?1")
                .bind(Stored(*v))
                .fetch_one(&mut *conn)
                .await
                .expect("round trip");
            assert_eq!(text, v.wire_name());
            assert!(back.0 == *v, "{v:?}");
        }
        let unknown: Result<(Stored<T>,), _> = sqlx::query_as("SELECT 'no such name'")
            .fetch_one(&mut *conn)
            .await;
        assert!(unknown.is_err());
    }

    #[tokio::test]
    async fn every_stored_enum_is_its_wire_name_in_the_database() {
        let mut conn = SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("memory db");
        round_trips::<SessionStatus>(&mut conn).await;
        round_trips::<SessionReason>(&mut conn).await;
        round_trips::<PresenceMode>(&mut conn).await;
        round_trips::<PushPlatform>(&mut conn).await;
        round_trips::<PushEnvironment>(&mut conn).await;
        round_trips::<KeyProtection>(&mut conn).await;
    }
}
