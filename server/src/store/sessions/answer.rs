//! What an answer reads in one statement: the answering account, the session with the
//! devices it was sent to, and its project's presence policy.

use tapprove_protocol::PresenceMode;
use tapprove_protocol::api::{SessionReason, SessionStatus};

use super::{ACCOUNT_COLUMNS, SESSION_COLUMNS, SessionRow};
use crate::store::accounts::{account_at, account_columns};
use crate::store::{AccountRow, Backend, Store, Stored, with_conn};

/// What an answer reads: the answering account and the session it answers, with the
/// devices (`account_id`, `nonce`) the session was sent to.
#[derive(Debug, Default)]
pub(crate) struct AnswerContext {
    pub account: Option<AccountRow>,
    pub session: Option<(SessionRow, Vec<(String, String)>)>,
    /// The presence-policy columns of the session's project (with the session).
    pub policy: Option<PolicyColumns>,
}

/// A project's presence-policy columns as stored (the domain reads them into its policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolicyColumns {
    pub presence_policy: String,
    pub entry_digits: i64,
    pub allow_approve_only: i64,
}

impl Store {
    /// An answer's reads in one statement: the account, and (left-joined, so absent as
    /// NULLs) the session with the devices it was sent to.
    pub(crate) async fn answer_context(
        &self,
        account_id: &str,
        session_id: &str,
    ) -> Result<AnswerContext, sqlx::Error> {
        const ANSWER_CONTEXT: &str = concat!(
            "SELECT a.*, s.id AS s_id, s.project_id AS s_project_id, s.user_name AS s_user_name, \
             s.title AS s_title, s.body AS s_body, s.context_json AS s_context_json, \
             s.presence_mode AS s_presence_mode, s.presence_code AS s_presence_code, \
             s.status AS s_status, s.reason AS s_reason, s.created_at AS s_created_at, \
             s.expires_at AS s_expires_at, s.decided_at AS s_decided_at, \
             d.account_id AS d_account_id, d.nonce AS d_nonce, \
             p.presence_policy AS p_presence_policy, p.entry_digits AS p_entry_digits, \
             p.allow_approve_only AS p_allow_approve_only \
             FROM (SELECT ",
            account_columns!(),
            " FROM accounts WHERE id = $1) a \
             LEFT JOIN sessions s ON s.id = $2 \
             LEFT JOIN projects p ON p.id = s.project_id \
             LEFT JOIN session_devices d ON d.session_id = s.id"
        );
        let rows: Vec<AnswerRow> = match &self.backend {
            Backend::Sqlite(db) => {
                db.read_direct(|sql| {
                    let mut rows = Vec::new();
                    sql.each_row(ANSWER_CONTEXT, &[&account_id, &session_id], |row| {
                        rows.push(AnswerRow::at(row)?);
                        Ok(())
                    })?;
                    Ok(rows)
                })
                .await?
            }
            Backend::Postgres(_) => with_conn!(self, read, |c| {
                sqlx::query_as(ANSWER_CONTEXT)
                    .bind(account_id)
                    .bind(session_id)
                    .fetch_all(c)
                    .await
            })?,
        };
        let devices = rows
            .iter()
            .filter_map(|r| Some((r.d_account_id.clone()?, r.d_nonce.clone()?)))
            .collect();
        let Some(first) = rows.into_iter().next() else {
            return Ok(AnswerContext::default());
        };
        let policy = match (
            first.p_presence_policy,
            first.p_entry_digits,
            first.p_allow_approve_only,
        ) {
            (Some(presence_policy), Some(entry_digits), Some(allow_approve_only)) => {
                Some(PolicyColumns {
                    presence_policy,
                    entry_digits,
                    allow_approve_only,
                })
            }
            _ => None,
        };
        let session = first.session.into_row().map(|row| (row, devices));
        Ok(AnswerContext {
            account: Some(first.account),
            session,
            policy,
        })
    }
}

/// A row of [`Store::answer_context`]: the account, the left-joined session (all NULL when
/// there is none) and one of its devices (NULL when it has none).
#[derive(sqlx::FromRow)]
struct AnswerRow {
    #[sqlx(flatten)]
    account: AccountRow,
    #[sqlx(flatten)]
    session: JoinedSession,
    d_account_id: Option<String>,
    d_nonce: Option<String>,
    p_presence_policy: Option<String>,
    p_entry_digits: Option<i64>,
    p_allow_approve_only: Option<i64>,
}

impl AnswerRow {
    /// A row of `answer_context`'s statement on SQLite's synchronous connections: the
    /// account's columns, then the session's, the device's and the project's, in its order.
    fn at(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let s = ACCOUNT_COLUMNS;
        let after = s + SESSION_COLUMNS;
        Ok(Self {
            account: account_at(row, 0)?,
            session: JoinedSession {
                s_id: row.get(s)?,
                s_project_id: row.get(s + 1)?,
                s_user_name: row.get(s + 2)?,
                s_title: row.get(s + 3)?,
                s_body: row.get(s + 4)?,
                s_context_json: row.get(s + 5)?,
                s_presence_mode: row.get(s + 6)?,
                s_presence_code: row.get(s + 7)?,
                s_status: row.get(s + 8)?,
                s_reason: row.get(s + 9)?,
                s_created_at: row.get(s + 10)?,
                s_expires_at: row.get(s + 11)?,
                s_decided_at: row.get(s + 12)?,
            },
            d_account_id: row.get(after)?,
            d_nonce: row.get(after + 1)?,
            p_presence_policy: row.get(after + 2)?,
            p_entry_digits: row.get(after + 3)?,
            p_allow_approve_only: row.get(after + 4)?,
        })
    }
}

/// The `s_` columns of [`AnswerRow`].
#[derive(sqlx::FromRow)]
struct JoinedSession {
    s_id: Option<String>,
    s_project_id: Option<String>,
    s_user_name: Option<String>,
    s_title: Option<String>,
    s_body: Option<String>,
    s_context_json: Option<String>,
    s_presence_mode: Option<Stored<PresenceMode>>,
    s_presence_code: Option<String>,
    s_status: Option<Stored<SessionStatus>>,
    s_reason: Option<Stored<SessionReason>>,
    s_created_at: Option<i64>,
    s_expires_at: Option<i64>,
    s_decided_at: Option<i64>,
}

impl JoinedSession {
    /// The session, if the join found one (its NOT NULL columns are then all present).
    fn into_row(self) -> Option<SessionRow> {
        Some(SessionRow {
            id: self.s_id?,
            project_id: self.s_project_id?,
            user_name: self.s_user_name?,
            title: self.s_title?,
            body: self.s_body?,
            context_json: self.s_context_json?,
            presence_mode: self.s_presence_mode?,
            presence_code: self.s_presence_code,
            status: self.s_status?,
            reason: self.s_reason,
            created_at: self.s_created_at?,
            expires_at: self.s_expires_at?,
            decided_at: self.s_decided_at,
        })
    }
}
