//! The `display_acks` table: a phone's acknowledgement that it showed a `display` session's
//! code to a verified user (the first one per session counts).

use tapprove_protocol::UvMethod;

use super::{Store, Stored, with_conn};

/// A session's acknowledgement.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct DisplayAckRow {
    /// The acknowledging device.
    pub account_id: String,
    /// How it verified its user.
    pub uv: Stored<UvMethod>,
}

impl Store {
    /// Records the acknowledgement unless the session has one; whether this call stored it.
    pub(crate) async fn record_display_ack(
        &self,
        session_id: &str,
        account_id: &str,
        uv: UvMethod,
        at: i64,
    ) -> Result<bool, sqlx::Error> {
        let n = with_conn!(self, write, |c| sqlx::query(
            "INSERT INTO display_acks (session_id, account_id, uv, shown_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (session_id) DO NOTHING",
        )
        .bind(session_id)
        .bind(account_id)
        .bind(Stored(uv))
        .bind(at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// The session's acknowledgement, if a phone sent one.
    pub(crate) async fn display_ack(
        &self,
        session_id: &str,
    ) -> Result<Option<DisplayAckRow>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_as(
            "SELECT account_id, uv FROM display_acks WHERE session_id = $1"
        )
        .bind(session_id)
        .fetch_optional(c)
        .await)
    }
}
