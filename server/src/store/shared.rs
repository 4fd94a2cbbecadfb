//! The tables several instances share: used request proofs, rate-limit events and open
//! event streams (migration 0003).

use tapprove_protocol::api::SessionStatus;

use super::{Store, Stored, with_conn, with_key_lock};

impl Store {
    /// Records a request-proof id until `expires_at`; false if it was already used.
    pub(crate) async fn first_use_of_proof(
        &self,
        proof: &str,
        expires_at: i64,
    ) -> Result<bool, sqlx::Error> {
        let inserted = with_conn!(self, write, |c| sqlx::query(
            "INSERT INTO used_proofs (proof, expires_at) VALUES ($1, $2) \
             ON CONFLICT (proof) DO NOTHING"
        )
        .bind(proof)
        .bind(expires_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(inserted == 1)
    }

    /// Counts one attempt in `bucket` at `now` if fewer than `limit` were counted after
    /// `since`; whether it was counted.
    pub(crate) async fn take_rate(
        &self,
        bucket: &str,
        limit: u32,
        since: i64,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let key = format!("rate|{bucket}");
        let inserted = with_key_lock!(self, &key, |c| sqlx::query(
            "INSERT INTO rate_events (bucket, at) SELECT $1, $2 \
             WHERE (SELECT COUNT(*) FROM rate_events WHERE bucket = $1 AND at > $3) < $4"
        )
        .bind(bucket)
        .bind(now)
        .bind(since)
        .bind(i64::from(limit))
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected())?);
        Ok(inserted == 1)
    }

    /// The oldest attempt in `bucket` after `since` (when the window frees a place).
    pub(crate) async fn oldest_rate_event(
        &self,
        bucket: &str,
        since: i64,
    ) -> Result<Option<i64>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_scalar(
            "SELECT MIN(at) FROM rate_events WHERE bucket = $1 AND at > $2"
        )
        .bind(bucket)
        .bind(since)
        .fetch_one(c)
        .await)
    }

    /// Records an open event stream if the account has fewer than `cap` seen after `since`,
    /// counted and inserted under one lock (on every instance); otherwise how many it has.
    pub(crate) async fn stream_opened(
        &self,
        stream_id: &str,
        account_id: &str,
        instance_id: &str,
        now: i64,
        (since, cap): (i64, u32),
    ) -> Result<Result<(), i64>, sqlx::Error> {
        let key = format!("streams|{account_id}");
        with_key_lock!(self, &key, |c| {
            let open: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM event_streams WHERE account_id = $1 AND seen_at > $2",
            )
            .bind(account_id)
            .bind(since)
            .fetch_one(&mut *c)
            .await?;
            if open >= i64::from(cap) {
                Ok(Err(open))
            } else {
                sqlx::query(
                    "INSERT INTO event_streams (stream_id, account_id, instance_id, seen_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(stream_id)
                .bind(account_id)
                .bind(instance_id)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(Ok(()))
            }
        })
    }

    /// Forgets a closed event stream.
    pub(crate) async fn stream_closed(&self, stream_id: &str) -> Result<(), sqlx::Error> {
        with_conn!(self, write, |c| sqlx::query(
            "DELETE FROM event_streams WHERE stream_id = $1"
        )
        .bind(stream_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Whether any of these accounts has an event stream seen after `since`.
    pub(crate) async fn any_stream_open(
        &self,
        account_ids: &[&str],
        since: i64,
    ) -> Result<bool, sqlx::Error> {
        for account_id in account_ids {
            let open: bool = with_conn!(self, read, |c| {
                sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM event_streams WHERE account_id = $1 AND seen_at > $2)"
            )
            .bind(account_id)
            .bind(since)
            .fetch_one(c)
            .await
            })?;
            if open {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The periodic upkeep of the shared tables: this instance's streams are alive at `now`;
    /// streams not seen since `stale_before` (their instance died), expired proofs and rate
    /// events older than `rate_before` are deleted.
    pub(crate) async fn upkeep_shared(
        &self,
        instance_id: &str,
        now: i64,
        stale_before: i64,
        rate_before: i64,
    ) -> Result<(), sqlx::Error> {
        with_conn!(self, write, |c| {
            sqlx::query("UPDATE event_streams SET seen_at = $1 WHERE instance_id = $2")
                .bind(now)
                .bind(instance_id)
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM event_streams WHERE seen_at < $1")
                .bind(stale_before)
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM used_proofs WHERE expires_at < $1")
                .bind(now)
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM rate_events WHERE at < $1")
                .bind(rate_before)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Deletes sessions decided before `cutoff`, with their devices' challenges (the
    /// retention job; idempotent, so any number of instances may run it). How many sessions.
    pub(crate) async fn delete_decided_before(&self, cutoff: i64) -> Result<u64, sqlx::Error> {
        with_conn!(self, write, |c| {
            sqlx::query(
                "DELETE FROM session_devices WHERE session_id IN \
                 (SELECT id FROM sessions WHERE decided_at < $1 AND status <> $2)",
            )
            .bind(cutoff)
            .bind(Stored(SessionStatus::Sent))
            .execute(&mut *c)
            .await?;
            sqlx::query("DELETE FROM sessions WHERE decided_at < $1 AND status <> $2")
                .bind(cutoff)
                .bind(Stored(SessionStatus::Sent))
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })
    }

    /// Whether the database answers and has every migration this build knows applied.
    pub(crate) async fn ready(&self) -> Result<bool, sqlx::Error> {
        let latest = super::MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Option<i64> = with_conn!(self, read, |c| sqlx::query_scalar(
            "SELECT MAX(version) FROM _sqlx_migrations WHERE success"
        )
        .fetch_one(c)
        .await)?;
        Ok(applied == Some(latest))
    }
}
