//! The session rows' statements that differ on SQLite: the create transaction runs on the
//! calling thread (`crate::store::sqlite_direct`, a measured fast path).

use rusqlite::types::ToSql;
use tapprove_protocol::WireName as _;
use tapprove_protocol::api::SessionStatus;

use super::{BUDGET, CreateOutcome, INSERT_SESSION, NewSession, SUPERSEDE, blocked, over_budget};
use crate::store::AuditRow;
use crate::store::guards::take_guard_direct;
use crate::store::sqlite::Connections;

/// One device's challenge row (`$1` session, `$2` account, `$3` nonce, `$4` challenge).
const INSERT_DEVICE: &str = "INSERT INTO session_devices (session_id, account_id, nonce, challenge) VALUES ($1, $2, $3, $4)";

/// `Store::create_session` on SQLite: the guard, the budget, the supersede `UPDATE …
/// RETURNING`, the session's and the devices' `INSERT`s and the audit rows `audit` makes of
/// the superseded ids, as one transaction on the calling thread.
pub(super) async fn create_session(
    db: &Connections,
    waited: &prometheus_client::metrics::histogram::Histogram,
    new: NewSession<'_>,
    audit: impl FnOnce(&[String]) -> Vec<AuditRow> + Send,
) -> Result<CreateOutcome, sqlx::Error> {
    let NewSession {
        s,
        devices,
        budget,
        superseded: supersede,
    } = new;
    db.write_direct(waited, |tx| {
        let guard = take_guard_direct(tx, &s.project_id, &s.user_name)?;
        if let Some(refused) = blocked(guard, s.created_at) {
            tx.discard();
            return Ok(refused);
        }
        if let Some(budget) = budget {
            let accepted = SessionStatus::Accepted.wire_name();
            let args: [&dyn ToSql; 7] = [
                &s.project_id,
                &s.user_name,
                &(s.created_at - 60),
                &(s.created_at - 3600),
                &accepted,
                &i64::from(budget.per_minute.saturating_sub(1)),
                &i64::from(budget.per_hour.saturating_sub(1)),
            ];
            let (minute, hour) = tx.one_row(BUDGET, &args, |row| Ok((row.get(0)?, row.get(1)?)))?;
            if let Some(refused) = over_budget(budget, minute, hour) {
                tx.discard();
                return Ok(refused);
            }
        }
        let mut superseded = Vec::new();
        tx.each_row(
            SUPERSEDE,
            &[
                &supersede.status.wire_name(),
                &supersede.reason.wire_name(),
                &supersede.decided_at,
                &s.project_id,
                &s.user_name,
                &SessionStatus::Sent.wire_name(),
            ],
            |row| {
                superseded.push(row.get(0)?);
                Ok(())
            },
        )?;
        tx.execute(
            INSERT_SESSION,
            &[
                &s.id,
                &s.project_id,
                &s.user_name,
                &s.title,
                &s.body,
                &s.context_json,
                &s.presence_mode.0.wire_name(),
                &s.presence_code,
                &s.status.0.wire_name(),
                &s.reason.map(|r| r.0.wire_name()),
                &s.created_at,
                &s.expires_at,
                &s.decided_at,
            ],
        )?;
        for d in devices {
            tx.execute(
                INSERT_DEVICE,
                &[&s.id, &d.account_id, &d.nonce, &d.challenge],
            )?;
        }
        tx.insert_audit_rows(&audit(&superseded))?;
        Ok(CreateOutcome::Created { superseded })
    })
    .await
}
