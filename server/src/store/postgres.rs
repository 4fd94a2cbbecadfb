//! The PostgreSQL backend: a connection pool (several instances of the service may share the
//! database; each runs the same migrations under sqlx's advisory lock).

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::MIGRATOR;

/// Connections per instance.
const MAX_CONNECTIONS: u32 = 16;

/// Connects and migrates. The error is what the driver said.
pub(super) async fn open(database_url: &str) -> Result<PgPool, String> {
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(Duration::from_secs(5))
        .connect(database_url)
        .await
        .map_err(|e| e.to_string())?;
    if let Err(e) = MIGRATOR.run(&pool).await {
        pool.close().await;
        return Err(e.to_string());
    }
    Ok(pool)
}

/// The NOTIFY channel that carries bus events between instances.
const CHANNEL: &str = "tapprove_events";

/// Sends `payload` to every instance listening on the database (delivered at commit, so
/// after the write it announces).
pub(super) async fn notify(pool: &PgPool, payload: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(payload)
        .execute(pool)
        .await?;
    Ok(())
}

/// Bus events from the other instances (and this one's own, which the caller skips).
pub(crate) struct RemoteEvents(sqlx::postgres::PgListener);

impl RemoteEvents {
    pub(super) async fn listen(pool: &PgPool) -> Result<Self, sqlx::Error> {
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(Self(listener))
    }

    /// The next event's payload. After an error the next call reconnects (events sent in
    /// between are lost: long-polls then answer from the database at their deadline).
    pub(crate) async fn next(&mut self) -> Result<String, sqlx::Error> {
        self.0.recv().await.map(|n| n.payload().to_owned())
    }
}
