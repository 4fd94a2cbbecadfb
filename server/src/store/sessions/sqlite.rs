//! The session rows' statements that differ on SQLite (a measured fast path).

use tapprove_protocol::api::SessionStatus;

use super::{CreateOutcome, NewSession, budget_blocker, guard_and_budget, session_columns};
use crate::store::AuditRow;
use crate::store::Stored;
use crate::store::audit::AuditRowsIn as _;
use crate::store::sqlite::{Connections, begin_write};

/// `Store::create_session` on SQLite: the supersede `UPDATE … RETURNING`, the session's and
/// the devices' `INSERT`s go to the writer's thread as one batch inside the transaction (one
/// hand-off instead of three; SQLite runs a multi-statement query, PostgreSQL cannot), then
/// the audit rows `audit` makes of the superseded ids. `$n` is the n-th bound value in every
/// statement; only numbers are formatted into the SQL.
pub(super) async fn create_session(
    db: &Connections,
    new: NewSession<'_>,
    audit: impl FnOnce(&[String]) -> Vec<AuditRow> + Send,
) -> Result<CreateOutcome, sqlx::Error> {
    let NewSession {
        s,
        devices,
        budget,
        superseded: supersede,
    } = new;
    let mut sql = String::from(concat!(
        "UPDATE sessions SET status = $14, reason = $15, decided_at = $17 \
         WHERE project_id = $2 AND user_name = $3 AND status = $16 RETURNING id; \
         INSERT INTO sessions (",
        session_columns!(),
        ", decided_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL);"
    ));
    if !devices.is_empty() {
        sql.push_str(
            " INSERT INTO session_devices (session_id, account_id, nonce, challenge) VALUES ",
        );
        for i in 0..devices.len() {
            let k = 18 + 3 * i;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("($1, ${}, ${}, ${})", k, k + 1, k + 2));
        }
        sql.push(';');
    }
    let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
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
        .bind(Stored(supersede.status))
        .bind(Stored(supersede.reason))
        .bind(Stored(SessionStatus::Sent))
        .bind(supersede.decided_at);
    for d in devices {
        query = query.bind(&d.account_id).bind(&d.nonce).bind(&d.challenge);
    }
    let mut conn = db.write().await?;
    let mut tx = begin_write(&mut conn).await?;
    if let Some(refused) = guard_and_budget!(tx, s, budget) {
        return Ok(refused);
    }
    // Only the UPDATE returns rows (the superseded ids).
    let superseded = query.fetch_all(&mut *tx).await?;
    tx.insert_audit_rows(&audit(&superseded)).await?;
    tx.commit().await?;
    Ok(CreateOutcome::Created { superseded })
}
