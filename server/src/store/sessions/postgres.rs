//! The session rows' statements that differ on PostgreSQL.

use sqlx::PgPool;
use tapprove_protocol::api::SessionStatus;

use super::{CreateOutcome, INSERT_SESSION, NewSession, SUPERSEDE, guard_and_budget};
use crate::store::AuditRow;
use crate::store::Stored;
use crate::store::audit::AuditRowsIn as _;

/// `Store::create_session` on PostgreSQL: three statements and the audit rows in a
/// transaction (PostgreSQL prepares one statement per query).
pub(super) async fn create_session(
    pool: &PgPool,
    new: NewSession<'_>,
    audit: impl FnOnce(&[String]) -> Vec<AuditRow> + Send,
) -> Result<CreateOutcome, sqlx::Error> {
    let NewSession {
        s,
        devices,
        budget,
        superseded: supersede,
    } = new;
    let mut tx = pool.begin().await?;
    if let Some(refused) = guard_and_budget!(tx, s, budget) {
        return Ok(refused);
    }
    let superseded: Vec<String> = sqlx::query_scalar(SUPERSEDE)
        .bind(Stored(supersede.status))
        .bind(Stored(supersede.reason))
        .bind(supersede.decided_at)
        .bind(&s.project_id)
        .bind(&s.user_name)
        .bind(Stored(SessionStatus::Sent))
        .fetch_all(&mut *tx)
        .await?;
    sqlx::query(INSERT_SESSION)
        .bind(&s.id)
        .bind(&s.project_id)
        .bind(&s.user_name)
        .bind(&s.title)
        .bind(&s.body)
        .bind(&s.context_json)
        .bind(s.presence_mode)
        .bind(&s.presence_code)
        .bind(s.status)
        .bind(s.reason)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.decided_at)
        .execute(&mut *tx)
        .await?;
    if !devices.is_empty() {
        // One multi-row INSERT; only placeholder numbers are formatted into the SQL.
        let mut sql = String::from(
            "INSERT INTO session_devices (session_id, account_id, nonce, challenge) VALUES ",
        );
        for i in 0..devices.len() {
            let k = 2 + 3 * i;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("($1, ${}, ${}, ${})", k, k + 1, k + 2));
        }
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&s.id);
        for d in devices {
            insert = insert.bind(&d.account_id).bind(&d.nonce).bind(&d.challenge);
        }
        insert.execute(&mut *tx).await?;
    }
    tx.insert_audit_rows(&audit(&superseded)).await?;
    tx.commit().await?;
    Ok(CreateOutcome::Created { superseded })
}
