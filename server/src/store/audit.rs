//! The `audit_log` table: one append-only row per security-relevant action. The
//! rows are built in `crate::domain::audit`; this file only stores, reads and ages them out.

use super::{Store, with_conn};

/// One audit row, as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub id: String,
    pub at: i64,
    pub project_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub user_name: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
}

/// Which rows to read: at `since` or later, after the `cursor` row's position if given, of
/// one project and/or user, at most `limit`, oldest first (`newest`: newest first).
#[derive(Clone, Debug)]
pub(crate) struct AuditFilter<'a> {
    pub project_id: Option<&'a str>,
    pub user_name: Option<&'a str>,
    pub since: i64,
    /// `(at, id)` of the last row of the previous page (oldest first only).
    pub cursor: Option<(i64, &'a str)>,
    pub limit: u32,
    pub newest: bool,
}

/// The `INSERT` of an audit row (`$1`..`$11` in [`AUDIT_COLUMNS`]' order).
pub(super) const INSERT_AUDIT: &str = "INSERT INTO audit_log (id, at, project_id, actor, action, \
     subject, user_name, outcome, reason, source_ip, request_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// Binds an audit row's columns to `$q` in [`AUDIT_COLUMNS`]' order.
macro_rules! bind_audit {
    ($q:expr, $row:expr) => {{
        let row: &$crate::store::AuditRow = $row;
        $q.bind(&row.id)
            .bind(row.at)
            .bind(&row.project_id)
            .bind(&row.actor)
            .bind(&row.action)
            .bind(&row.subject)
            .bind(&row.user_name)
            .bind(&row.outcome)
            .bind(&row.reason)
            .bind(&row.source_ip)
            .bind(&row.request_id)
    }};
}

/// Appends audit rows inside an open write transaction, under a savepoint: the rows commit
/// with the action they record, and a failed audit write is logged and undone while the
/// action still commits (an audit outage must not stop logins; the same rule as
/// `domain::audit::record`). Errors are the transaction's own (the savepoint statements).
/// The last writes of their transaction: on PostgreSQL its COMMIT releases the savepoint (a
/// `RELEASE` of its own would be one more round trip per login transaction).
pub(crate) trait AuditRowsIn {
    fn insert_audit_rows(
        &mut self,
        rows: &[AuditRow],
    ) -> impl std::future::Future<Output = Result<(), sqlx::Error>> + Send;
}

pub(super) const SAVEPOINT: &str = "SAVEPOINT audit_rows";
pub(super) const RELEASE: &str = "RELEASE SAVEPOINT audit_rows";
pub(super) const UNDO: &str = "ROLLBACK TO SAVEPOINT audit_rows; RELEASE SAVEPOINT audit_rows";

pub(super) fn audit_write_failed(rows: &[AuditRow], e: &dyn std::fmt::Display) {
    tracing::error!(?rows, error = %e, "AUDIT LOG WRITE FAILED: the action happened but its audit row is not stored");
}

/// PostgreSQL: one statement per round trip (prepared statements take one statement). SQLite's
/// login transactions insert theirs with `sqlite_direct::Sql::insert_audit_rows`.
impl AuditRowsIn for sqlx::PgConnection {
    async fn insert_audit_rows(&mut self, rows: &[AuditRow]) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        sqlx::raw_sql(SAVEPOINT).execute(&mut *self).await?;
        for row in rows {
            let inserted = bind_audit!(sqlx::query(INSERT_AUDIT), row)
                .execute(&mut *self)
                .await;
            if let Err(e) = inserted {
                audit_write_failed(rows, &e);
                sqlx::raw_sql(UNDO).execute(&mut *self).await?;
                return Ok(());
            }
        }
        Ok(())
    }
}

const AUDIT_COLUMNS: &str = "id, at, project_id, actor, action, subject, user_name, outcome, \
                             reason, source_ip, request_id";

impl Store {
    /// Appends a row on its own (an action whose other writes are not in one transaction
    /// with it; otherwise [`AuditRowsIn`] in that transaction).
    pub(crate) async fn insert_audit(&self, row: &AuditRow) -> Result<(), sqlx::Error> {
        with_conn!(self, write, |c| {
            bind_audit!(sqlx::query(INSERT_AUDIT), row)
                .execute(c)
                .await
                .map(|_| ())
        })
    }

    /// Rows as `filter` says, in `(at, id)` order (newest first with `filter.newest`).
    pub(crate) async fn audit_rows(
        &self,
        filter: &AuditFilter<'_>,
    ) -> Result<Vec<AuditRow>, sqlx::Error> {
        // $1: since, $2: the limit, then the cursor, project and user when given. Only fixed
        // fragments go into the text: every value is bound.
        let mut conditions = vec!["at >= $1".to_owned()];
        let mut next = 3;
        let mut param = || {
            next += 1;
            next - 1
        };
        if filter.cursor.is_some() {
            let (a, b) = (param(), param());
            conditions.push(format!("(at, id) > (${a}, ${b})"));
        }
        if filter.project_id.is_some() {
            conditions.push(format!("project_id = ${}", param()));
        }
        if filter.user_name.is_some() {
            conditions.push(format!("user_name = ${}", param()));
        }
        let order = if filter.newest {
            "at DESC, id DESC"
        } else {
            "at, id"
        };
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE {} ORDER BY {order} LIMIT $2",
            conditions.join(" AND ")
        );
        let limit = i64::from(filter.limit);
        with_conn!(self, read, |c| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(filter.since)
                .bind(limit);
            if let Some((at, id)) = filter.cursor {
                q = q.bind(at).bind(id);
            }
            if let Some(p) = filter.project_id {
                q = q.bind(p);
            }
            if let Some(u) = filter.user_name {
                q = q.bind(u);
            }
            q.fetch_all(c).await
        })
    }

    /// Deletes the rows older than `cutoff` (the retention job; idempotent, so several
    /// instances may run it). How many went.
    pub(crate) async fn delete_audit_before(&self, cutoff: i64) -> Result<u64, sqlx::Error> {
        with_conn!(self, write, |c| {
            let r = sqlx::query("DELETE FROM audit_log WHERE at < $1")
                .bind(cutoff)
                .execute(c)
                .await?;
            Ok(r.rows_affected())
        })
    }
}
