//! The `service_keys` table: the service's challenge-signing key, sealed.

use super::{Store, with_conn};

impl Store {
    /// The service key (kid, sealed PKCS#8), oldest first if several exist.
    pub(crate) async fn service_key(&self) -> Result<Option<(String, String)>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_as(
            "SELECT kid, sealed_pkcs8 FROM service_keys ORDER BY created_at, kid LIMIT 1",
        )
        .fetch_optional(c)
        .await)
    }

    /// Stores a service key unless one with this kid exists.
    pub(crate) async fn insert_service_key(
        &self,
        kid: &str,
        public_key: &str,
        sealed_pkcs8: &str,
    ) -> Result<(), sqlx::Error> {
        with_conn!(self, write, |c| sqlx::query(
            "INSERT INTO service_keys (kid, public_key, sealed_pkcs8, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (kid) DO NOTHING",
        )
        .bind(kid)
        .bind(public_key)
        .bind(sealed_pkcs8)
        .bind(crate::now())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
}
