//! The `service_keys` table: the service's challenge-signing keys, sealed. The signing key is
//! the one without `retires_at`; a rotated-out key keeps `retires_at` and the key update it
//! signed (docs/PROTOCOL.md §5a).

use super::{Store, with_conn, with_tx};

/// One service key row (the sealed private key only for the signing key).
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct ServiceKeyRow {
    pub kid: String,
    pub public_key: String,
    pub sealed_pkcs8: String,
    pub created_at: i64,
    /// `None`: the signing key. Otherwise the end of its grace period (past: retired).
    pub retires_at: Option<i64>,
    /// The key update this key signed, naming its successor.
    pub key_update: Option<String>,
}

/// What a rotation writes.
pub(crate) struct Rotation<'a> {
    /// The signing key being replaced (must still be the signing key).
    pub old_kid: &'a str,
    /// End of the old key's grace period.
    pub old_retires_at: i64,
    /// The key update signed by the old key.
    pub key_update: &'a str,
    pub new_kid: &'a str,
    pub new_public_key: &'a str,
    pub new_sealed_pkcs8: &'a str,
    pub now: i64,
}

impl Store {
    /// The signing key (kid, sealed PKCS#8); the oldest if two processes raced on first start.
    pub(crate) async fn service_key(&self) -> Result<Option<(String, String)>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_as(
            "SELECT kid, sealed_pkcs8 FROM service_keys WHERE retires_at IS NULL \
             ORDER BY seq, created_at, kid LIMIT 1",
        )
        .fetch_optional(c)
        .await)
    }

    /// Every key, oldest first (by rotation order).
    pub(crate) async fn service_keys(&self) -> Result<Vec<ServiceKeyRow>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_as(
            "SELECT kid, public_key, sealed_pkcs8, created_at, retires_at, key_update \
             FROM service_keys ORDER BY seq, created_at, kid",
        )
        .fetch_all(c)
        .await)
    }

    /// The signing key and the keys still in their grace period at `now` (small: one signing
    /// key, at most one in its grace period, plus first-start leftovers).
    pub(crate) async fn live_service_keys(
        &self,
        now: i64,
    ) -> Result<Vec<ServiceKeyRow>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_as(
            "SELECT kid, public_key, sealed_pkcs8, created_at, retires_at, key_update \
             FROM service_keys WHERE retires_at IS NULL OR retires_at > $1 \
             ORDER BY seq, created_at, kid",
        )
        .bind(now)
        .fetch_all(c)
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

    /// Replaces the signing key in one transaction: every key older than `old_kid` retires
    /// now, `old_kid` gets its grace period and key update, the new key signs, and every
    /// account counts as pinned to `old_kid` (those paired earlier either took the previous
    /// update or can no longer verify anything). `false` (nothing written) when `old_kid` is
    /// no longer the signing key: another rotation won the race.
    pub(crate) async fn rotate_service_key(&self, r: &Rotation<'_>) -> Result<bool, sqlx::Error> {
        let won = with_tx!(self, |tx| {
            // Conditional: of two concurrent rotations, exactly one finds the key unretired.
            let won = sqlx::query(
                "UPDATE service_keys SET retires_at = $1, key_update = $2 \
                 WHERE kid = $3 AND retires_at IS NULL",
            )
            .bind(r.old_retires_at)
            .bind(r.key_update)
            .bind(r.old_kid)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if won {
                sqlx::query(
                    "UPDATE service_keys SET retires_at = $1 \
                     WHERE kid <> $2 AND (retires_at IS NULL OR retires_at > $1)",
                )
                .bind(r.now)
                .bind(r.old_kid)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO service_keys (kid, public_key, sealed_pkcs8, created_at, seq) \
                     VALUES ($1, $2, $3, $4, (SELECT MAX(seq) + 1 FROM service_keys))",
                )
                .bind(r.new_kid)
                .bind(r.new_public_key)
                .bind(r.new_sealed_pkcs8)
                .bind(r.now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE accounts SET service_kid = $1 \
                     WHERE service_kid IS NULL OR service_kid <> $1",
                )
                .bind(r.old_kid)
                .execute(&mut *tx)
                .await?;
            }
            won
        });
        Ok(won)
    }
}
