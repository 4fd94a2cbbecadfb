//! Reading the audit log: the relying party's pages (`GET /v1/audit`) and the operator's
//! newest rows (`tapprove admin audit`).

use tapprove_protocol::api::{AuditEntry, AuditPage};

use crate::store::{AuditFilter, AuditRow, Store};

/// Rows per page of `GET /v1/audit` unless the caller says.
pub(crate) const DEFAULT_PAGE: u32 = 100;
/// Most rows per page.
pub(crate) const MAX_PAGE: u32 = 1000;

/// A page of rows as `filter` says; `next_cursor` is set when the page is full (oldest first).
pub(crate) async fn page(
    store: &Store,
    filter: &AuditFilter<'_>,
) -> Result<AuditPage, sqlx::Error> {
    let rows = store.audit_rows(filter).await?;
    let full = rows.len() == filter.limit as usize;
    let next_cursor = match rows.last() {
        Some(last) if full && !filter.newest => Some(format!("{}.{}", last.at, last.id)),
        _ => None,
    };
    Ok(AuditPage {
        events: rows.into_iter().map(entry).collect(),
        next_cursor,
    })
}

/// What `tapprove admin audit` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this project's rows.
    pub project_id: Option<String>,
    /// Only this user's rows.
    pub user: Option<String>,
    /// Rows at this Unix time or later.
    pub since: Option<i64>,
    /// The newest this many rows (at most 10 000).
    pub limit: u32,
}

/// Most rows `tapprove admin audit` prints at once.
pub const MAX_ADMIN_ROWS: u32 = 10_000;

/// The newest `query.limit` rows that match, oldest first (operators: `tapprove admin audit`).
pub async fn read_audit(
    database_url: &str,
    query: &AuditQuery,
) -> Result<Vec<AuditEntry>, crate::ServiceError> {
    if !(1..=MAX_ADMIN_ROWS).contains(&query.limit) {
        return Err(crate::ServiceError::InvalidInput(format!(
            "--limit must be between 1 and {MAX_ADMIN_ROWS}"
        )));
    }
    let store = Store::open(database_url).await?;
    let filter = AuditFilter {
        project_id: query.project_id.as_deref(),
        user_name: query.user.as_deref(),
        since: query.since.unwrap_or(0),
        cursor: None,
        limit: query.limit,
        newest: true,
    };
    let rows = store.audit_rows(&filter).await;
    store.close().await;
    let mut rows = rows.map_err(crate::ServiceError::db)?;
    rows.reverse();
    Ok(rows.into_iter().map(entry).collect())
}

/// The `(at, id)` of a `next_cursor` (`<at>.<aud_…>`).
pub(crate) fn parse_cursor(cursor: &str) -> Option<(i64, String)> {
    let (at, id) = cursor.split_once('.')?;
    let ok_id = id.starts_with("aud_")
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok_id.then_some((at.parse().ok()?, id.to_owned()))
}

/// What the relying party (and `tapprove admin audit`) sees of a row.
pub(crate) fn entry(row: AuditRow) -> AuditEntry {
    AuditEntry {
        id: row.id,
        at: row.at,
        project_id: row.project_id,
        actor: row.actor,
        action: row.action,
        subject: row.subject,
        user: row.user_name,
        outcome: row.outcome,
        reason: row.reason,
        source_ip: row.source_ip,
        request_id: row.request_id,
    }
}
