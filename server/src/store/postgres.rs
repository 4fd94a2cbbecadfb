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
