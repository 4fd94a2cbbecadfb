//! The `sessions` and `session_devices` tables: push sessions and each device's challenge.

use tapprove_protocol::api::{SessionReason, SessionStatus};
use tapprove_protocol::{PresenceMode, UvMethod};

mod answer;
mod decide;
mod postgres;
mod sqlite;

pub(crate) use answer::{AnswerContext, PolicyColumns};

use super::accounts::{account_at, account_columns};
use super::{AccountRow, AuditRow, Backend, GuardRow, Store, Stored, with_conn};

/// A push session row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub id: String,
    pub project_id: String,
    pub user_name: String,
    pub title: String,
    pub body: String,
    pub context_json: String,
    pub presence_mode: Stored<PresenceMode>,
    pub presence_code: Option<String>,
    pub status: Stored<SessionStatus>,
    pub reason: Option<Stored<SessionReason>>,
    pub created_at: i64,
    pub expires_at: i64,
    pub decided_at: Option<i64>,
}

/// A session's final outcome as [`Store::decide`] stores it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decision<'a> {
    pub id: &'a str,
    /// What to store (the domain chose it).
    pub outcome: Outcome,
    /// The deciding device and how it verified its user; `None` when not a device's answer.
    pub decided_by: Option<(&'a str, Option<UvMethod>)>,
    /// Decide only if the session has not expired at this time.
    pub unexpired_at: Option<i64>,
}

/// The deciding UPDATE: `$1` status, `$2` reason, `$3` when, `$4` the deciding account (or
/// NULL), `$5` session, `$6` `sent`, `$7` the time it must not have expired by (or NULL), `$8`
/// the user-verification method. It decides only a `sent` session (so of racing answers
/// exactly one decides), not past `$7`, and only while the deciding device is still paired:
/// an approval racing the device's revocation loses, whichever commits first.
pub(super) const DECIDE: &str = "UPDATE sessions SET status = $1, reason = $2, decided_at = $3, \
     decided_by = $4, decided_uv = $8 WHERE id = $5 AND status = $6 \
     AND ($7 IS NULL OR expires_at >= $7) \
     AND ($4 IS NULL OR EXISTS (SELECT 1 FROM accounts a WHERE a.id = $4 \
     AND a.unpaired_at IS NULL))";

impl Decision<'_> {
    /// The deciding account and how it verified its user, as [`DECIDE`] stores them.
    pub(super) fn by(&self) -> (Option<&str>, Option<&'static str>) {
        (
            self.decided_by.map(|(account, _)| account),
            self.decided_by
                .and_then(|(_, uv)| uv)
                .map(tapprove_protocol::UvMethod::as_str),
        )
    }

    /// [`DECIDE`] on the SQLite writer's own connection; the rows changed (0 or 1).
    pub(super) fn decide_direct(
        &self,
        tx: &crate::store::sqlite_direct::Sql<'_>,
    ) -> rusqlite::Result<usize> {
        use tapprove_protocol::WireName as _;
        let (by, uv) = self.by();
        tx.execute(
            DECIDE,
            &[
                &self.outcome.status.wire_name(),
                &self.outcome.reason.wire_name(),
                &self.outcome.decided_at,
                &by,
                &self.id,
                &SessionStatus::Sent.wire_name(),
                &self.unexpired_at,
                &uv,
            ],
        )
    }
}

/// [`DECIDE`] on connection or transaction `$c` (a `&Decision`); evaluates to the rows
/// changed.
macro_rules! decide_in {
    ($c:expr, $d:expr) => {{
        let d: &$crate::store::Decision<'_> = $d;
        let (by, uv) = d.by();
        sqlx::query($crate::store::sessions::DECIDE)
            .bind($crate::store::Stored(d.outcome.status))
            .bind($crate::store::Stored(d.outcome.reason))
            .bind(d.outcome.decided_at)
            .bind(by)
            .bind(d.id)
            .bind($crate::store::Stored(
                tapprove_protocol::api::SessionStatus::Sent,
            ))
            .bind(d.unexpired_at)
            .bind(uv)
            .execute(&mut *$c)
            .await
            .map(|r| r.rows_affected())
    }};
}
pub(crate) use decide_in;

/// One device's copy of a session's challenge.
#[derive(Clone, Debug)]
pub(crate) struct SessionDeviceRow {
    pub account_id: String,
    pub nonce: String,
    pub challenge: String,
}

/// What creating a session reads: the user's paired devices and the push budget.
#[derive(Debug)]
pub(crate) struct UserDevices {
    /// Paired devices, oldest first.
    pub accounts: Vec<AccountRow>,
    /// Creation time of the session that fills the per-minute budget, if it is full.
    pub minute_blocker: Option<i64>,
    /// Creation time of the session that fills the per-hour budget, if it is full.
    pub hour_blocker: Option<i64>,
}

/// How many columns [`session_columns!`] and [`account_columns!`] name.
const SESSION_COLUMNS: usize = 13;
const ACCOUNT_COLUMNS: usize = 18;

/// A [`SessionRow`] from [`session_columns!`] starting at column `at` of a row of SQLite's
/// synchronous connections.
fn session_at(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: row.get(at)?,
        project_id: row.get(at + 1)?,
        user_name: row.get(at + 2)?,
        title: row.get(at + 3)?,
        body: row.get(at + 4)?,
        context_json: row.get(at + 5)?,
        presence_mode: row.get(at + 6)?,
        presence_code: row.get(at + 7)?,
        status: row.get(at + 8)?,
        reason: row.get(at + 9)?,
        created_at: row.get(at + 10)?,
        expires_at: row.get(at + 11)?,
        decided_at: row.get(at + 12)?,
    })
}

/// The columns of [`SessionRow`], in its order.
macro_rules! session_columns {
    () => {
        "id, project_id, user_name, title, body, context_json, presence_mode, presence_code, \
         status, reason, created_at, expires_at, decided_at"
    };
}

/// "The N-th newest of the user's sessions created after `$window_start` and after their
/// last approved login": `$1` project, `$2` user; `$offset` is N - 1; the last approval is
/// [`last_approval!`]'s row, joined to the statement. Times are whole seconds, so within the
/// approval's own second the session ids decide (they sort by creation time, in
/// milliseconds): what was created after the last approved session counts, what came before
/// it does not (else a burst in that second would go uncounted, or a refusal just before the
/// approval would outlive it).
///
/// Both conditions are one lower bound on `(created_at, id)`, the larger of "after the window
/// start" (`(start + 1, '')`: ids are never empty) and "after the last approval" (its second
/// and id), so the lookup is a range of `sessions_by_user` that holds only the counted
/// sessions, and the last approval is the end of a range of `sessions_by_user_status`: the
/// cost does not grow with the user's history (walking the window filtered row by row did:
/// ~0.5 ms per lookup after a thousand approvals in the hour).
macro_rules! budget_blocker {
    ($window_start:literal, $offset:literal) => {
        concat!(
            "(SELECT created_at FROM sessions WHERE project_id = $1 AND user_name = $2 \
             AND (created_at, id) > (CASE WHEN last_approval.approved_at > ",
            $window_start,
            " THEN last_approval.approved_at ELSE ",
            $window_start,
            " + 1 END, CASE WHEN last_approval.approved_at > ",
            $window_start,
            " THEN last_approval.approved_id ELSE '' END) \
             ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ",
            $offset,
            ")"
        )
    };
}

/// The push budget's two blockers (`minute_blocker`, `hour_blocker`) and the join they read
/// the last approval from: `$1` project, `$2` user, `$3` a minute ago, `$4` an hour ago, `$5`
/// `accepted`, `$6`/`$7` each window's limit - 1. The statement goes on with
/// `FROM <table> last_approval!()`.
macro_rules! budget_blockers {
    () => {
        concat!(
            $crate::store::sessions::budget_blocker!("$3", "$6"),
            " AS minute_blocker, ",
            $crate::store::sessions::budget_blocker!("$4", "$7"),
            " AS hour_blocker"
        )
    };
}

/// The user's last approved session as `last_approval (approved_at, approved_id)`, its
/// columns NULL when there is none: `$1` project, `$2` user, `$5` `accepted`. Looked up once
/// per statement (as a subquery in each blocker it was six index lookups, a third of a
/// PostgreSQL login's statement time).
macro_rules! last_approval {
    () => {
        " LEFT JOIN (SELECT decided_at AS approved_at, id AS approved_id FROM sessions \
         WHERE project_id = $1 AND user_name = $2 AND status = $5 AND decided_at IS NOT NULL \
         ORDER BY decided_at DESC, id DESC LIMIT 1) last_approval ON TRUE"
    };
}

/// The push budget's two blockers alone (see [`budget_blockers!`]).
pub(super) const BUDGET: &str = concat!(
    "SELECT ",
    budget_blockers!(),
    " FROM (SELECT 1) AS one",
    last_approval!()
);

/// Decides the user's pending sessions as superseded: `$1` status, `$2` reason, `$3` when,
/// `$4` project, `$5` user, `$6` `sent`; returns their ids.
pub(super) const SUPERSEDE: &str = "UPDATE sessions SET status = $1, reason = $2, decided_at = $3 \
     WHERE project_id = $4 AND user_name = $5 AND status = $6 RETURNING id";

/// Stores a new session: `$1`..`$13` in [`session_columns!`]' order.
pub(super) const INSERT_SESSION: &str = concat!(
    "INSERT INTO sessions (",
    session_columns!(),
    ", decided_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL)"
);

/// The refusal of a session created at `created_at` while `guard` blocks its user.
pub(super) fn blocked(guard: GuardRow, created_at: i64) -> Option<CreateOutcome> {
    let until = guard.blocked_until.filter(|t| *t > created_at)?;
    Some(CreateOutcome::Blocked {
        until,
        reason: guard.block_reason,
    })
}

/// The refusal when a budget window is full ([`BUDGET`]'s blockers).
pub(super) fn over_budget(
    budget: Budget,
    minute_blocker: Option<i64>,
    hour_blocker: Option<i64>,
) -> Option<CreateOutcome> {
    let full = |limit: u32, blocker: Option<i64>| limit == 0 || blocker.is_some();
    (full(budget.per_minute, minute_blocker) || full(budget.per_hour, hour_blocker)).then_some(
        CreateOutcome::OverBudget {
            minute_blocker,
            hour_blocker,
        },
    )
}

/// In a creation's transaction `$tx`: takes (creating if missing) the user's guard row, which
/// holds the row's lock until the transaction ends (an upsert locks the row on PostgreSQL;
/// SQLite's `BEGIN IMMEDIATE` already holds the database's), then checks the block and, with
/// `$budget`, the push budget. Evaluates to `Some(outcome)` when the session must not be
/// stored. On PostgreSQL's connection (SQLite runs the same statements on its synchronous
/// writer, `sessions/sqlite.rs`).
macro_rules! guard_and_budget {
    ($tx:expr, $s:expr, $budget:expr) => {{
        use sqlx::Row as _;
        let guard: $crate::store::GuardRow = sqlx::query_as($crate::store::guards::TAKE_GUARD)
            .bind(&$s.project_id)
            .bind(&$s.user_name)
            .fetch_one(&mut *$tx)
            .await?;
        let budget: Option<$crate::store::Budget> = $budget;
        if let Some(refused) = $crate::store::sessions::blocked(guard, $s.created_at) {
            Some(refused)
        } else if let Some(budget) = budget {
            let row = sqlx::query($crate::store::sessions::BUDGET)
                .bind(&$s.project_id)
                .bind(&$s.user_name)
                .bind($s.created_at - 60)
                .bind($s.created_at - 3600)
                .bind($crate::store::Stored(
                    tapprove_protocol::api::SessionStatus::Accepted,
                ))
                .bind(i64::from(budget.per_minute.saturating_sub(1)))
                .bind(i64::from(budget.per_hour.saturating_sub(1)))
                .fetch_one(&mut *$tx)
                .await?;
            $crate::store::sessions::over_budget(
                budget,
                row.try_get("minute_blocker")?,
                row.try_get("hour_blocker")?,
            )
        } else {
            None
        }
    }};
}
pub(super) use budget_blocker;
pub(super) use guard_and_budget;

/// What [`Store::create_session_guarded`] stores, for the backend's statements.
struct NewSession<'a> {
    s: &'a SessionRow,
    devices: &'a [SessionDeviceRow],
    budget: Option<Budget>,
    superseded: Outcome,
}

/// What [`Store::create_session_guarded`] did.
#[derive(Debug)]
pub(crate) enum CreateOutcome {
    /// Stored; these pending sessions of the user were superseded.
    Created { superseded: Vec<String> },
    /// Nothing stored: the user is blocked until `until` (`reason` as stored).
    Blocked { until: i64, reason: Option<String> },
    /// Nothing stored: a budget window is full (the blockers as in [`UserDevices`]).
    OverBudget {
        minute_blocker: Option<i64>,
        hour_blocker: Option<i64>,
    },
}

/// Budget limits for [`Store::user_devices`]: sessions allowed per minute and per hour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub per_minute: u32,
    pub per_hour: u32,
}

/// How a session is decided: what the deciding UPDATE stores. The domain chooses the reason;
/// the reason determines the status (`SessionReason::status`), so the two never disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Outcome {
    /// The final status.
    pub status: SessionStatus,
    /// The stored reason.
    pub reason: SessionReason,
    /// The stored `decided_at`.
    pub decided_at: i64,
}

impl Outcome {
    /// The outcome of deciding for `reason` at `decided_at`.
    pub(crate) const fn new(reason: SessionReason, decided_at: i64) -> Self {
        Self {
            status: reason.status(),
            reason,
            decided_at,
        }
    }
}

impl Store {
    /// [`Store::create_session_guarded`] without the guard and budget (store tests).
    #[cfg(test)]
    pub(crate) async fn create_session(
        &self,
        s: &SessionRow,
        devices: &[SessionDeviceRow],
    ) -> Result<Vec<String>, sqlx::Error> {
        let superseded = Outcome::new(SessionReason::Superseded, s.created_at);
        match self
            .create_session_guarded(s, devices, None, superseded, |_| Vec::new())
            .await?
        {
            CreateOutcome::Created { superseded } => Ok(superseded),
            other => unreachable!("no budget given: {other:?}"),
        }
    }

    /// In one transaction: takes the user's guard row (so the user's creations take turns,
    /// on SQLite and PostgreSQL alike), refuses while the user is blocked or, with `budget`,
    /// while a budget window is full; otherwise decides the user's pending sessions with
    /// `superseded` and stores the new session and
    /// each device's challenge. Budget and insert are one transaction: parallel creations
    /// cannot both pass the budget. The audit rows `audit` makes of the superseded sessions'
    /// ids are stored in the same transaction (a failed audit write does not undo the rest;
    /// see `AuditRowsIn`). The statements differ per backend (see each).
    pub(crate) async fn create_session_guarded(
        &self,
        s: &SessionRow,
        devices: &[SessionDeviceRow],
        budget: Option<Budget>,
        superseded: Outcome,
        audit: impl FnOnce(&[String]) -> Vec<AuditRow> + Send,
    ) -> Result<CreateOutcome, sqlx::Error> {
        self.count_write_transaction();
        let new = NewSession {
            s,
            devices,
            budget,
            superseded,
        };
        match &self.backend {
            Backend::Sqlite(db) => sqlite::create_session(db, &self.db_wait, new, audit).await,
            Backend::Postgres(pool) => postgres::create_session(pool, new, audit).await,
        }
    }

    pub(crate) async fn session(&self, id: &str) -> Result<Option<SessionRow>, sqlx::Error> {
        const SESSION: &str = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE id = $1"
        );
        if let Backend::Sqlite(db) = &self.backend {
            return db
                .read_direct(|sql| sql.first_row(SESSION, &[&id], |row| session_at(row, 0)))
                .await;
        }
        with_conn!(self, read, |c| sqlx::query_as(SESSION)
            .bind(id)
            .fetch_optional(c)
            .await)
    }

    /// Sets a final status (with the deciding device and how it verified its user) if (and
    /// only if) the session is still `sent` and, when
    /// `unexpired_at` is given, not past its expiry at that time. Returns whether this call
    /// decided it. This single conditional UPDATE is what makes racing answers yield one
    /// decision.
    pub(crate) async fn decide(
        &self,
        id: &str,
        outcome: Outcome,
        decided_by: Option<(&str, Option<UvMethod>)>,
        unexpired_at: Option<i64>,
    ) -> Result<bool, sqlx::Error> {
        let d = Decision {
            id,
            outcome,
            decided_by,
            unexpired_at,
        };
        let r = with_conn!(self, write, |c| decide_in!(c, &d))?;
        Ok(r == 1)
    }

    /// The user's newest session still `sent` and not expired at `now`.
    pub(crate) async fn pending_session(
        &self,
        project_id: &str,
        user_name: &str,
        now: i64,
    ) -> Result<Option<SessionRow>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_as(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE project_id = $1 AND user_name = $2 AND status = $3 \
             AND expires_at >= $4 ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(project_id)
        .bind(user_name)
        .bind(Stored(SessionStatus::Sent))
        .bind(now)
        .fetch_optional(c)
        .await)
    }

    /// Decides every `sent` session whose expiry has passed at `timeout.decided_at` with
    /// `timeout`; returns their ids.
    pub(crate) async fn expire_due(&self, timeout: Outcome) -> Result<Vec<String>, sqlx::Error> {
        with_conn!(self, write, |c| sqlx::query_scalar(
            "UPDATE sessions SET status = $1, reason = $2, decided_at = $3 \
             WHERE status = $4 AND expires_at < $3 RETURNING id",
        )
        .bind(Stored(timeout.status))
        .bind(Stored(timeout.reason))
        .bind(timeout.decided_at)
        .bind(Stored(SessionStatus::Sent))
        .fetch_all(c)
        .await)
    }

    /// Decides one session with `timeout` if it is `sent` and past its expiry at
    /// `timeout.decided_at`; returns whether it did.
    pub(crate) async fn expire_one(&self, id: &str, timeout: Outcome) -> Result<bool, sqlx::Error> {
        let r = with_conn!(self, write, |c| sqlx::query(
            "UPDATE sessions SET status = $1, reason = $2, decided_at = $3 \
             WHERE id = $4 AND status = $5 AND expires_at < $3",
        )
        .bind(Stored(timeout.status))
        .bind(Stored(timeout.reason))
        .bind(timeout.decided_at)
        .bind(id)
        .bind(Stored(SessionStatus::Sent))
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// The accounts a session was sent to.
    pub(crate) async fn session_accounts(
        &self,
        session_id: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_scalar(
            "SELECT account_id FROM session_devices WHERE session_id = $1"
        )
        .bind(session_id)
        .fetch_all(c)
        .await)
    }

    /// Pending sessions sent to this account none of whose devices is still paired.
    pub(crate) async fn orphaned_sessions(
        &self,
        account_id: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_scalar(
            "SELECT s.id FROM session_devices d JOIN sessions s ON s.id = d.session_id \
             WHERE d.account_id = $1 AND s.status = $2 AND NOT EXISTS (\
             SELECT 1 FROM session_devices o JOIN accounts a ON a.id = o.account_id \
             WHERE o.session_id = s.id AND a.unpaired_at IS NULL)",
        )
        .bind(account_id)
        .bind(Stored(SessionStatus::Sent))
        .fetch_all(c)
        .await)
    }

    /// Challenges still waiting for this account (session `sent`, not expired), oldest first.
    pub(crate) async fn pending_challenges(
        &self,
        account_id: &str,
        now: i64,
    ) -> Result<Vec<String>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_scalar(
            "SELECT d.challenge FROM session_devices d JOIN sessions s ON s.id = d.session_id \
             WHERE d.account_id = $1 AND s.status = $2 AND s.expires_at >= $3 \
             ORDER BY s.created_at, s.id",
        )
        .bind(account_id)
        .bind(Stored(SessionStatus::Sent))
        .bind(now)
        .fetch_all(c)
        .await)
    }

    /// The user's paired devices, oldest first, each row carrying the push budget: the
    /// budget counts the user's sessions of the last minute / hour created after their last
    /// approved login, and a window is full when its N-th newest such session exists.
    /// (One statement: the budget subqueries do not depend on the row.)
    pub(crate) async fn user_devices(
        &self,
        project_id: &str,
        user_name: &str,
        now: i64,
        budget: Budget,
    ) -> Result<UserDevices, sqlx::Error> {
        const USER_DEVICES: &str = concat!(
            "SELECT ",
            account_columns!(),
            ", ",
            budget_blockers!(),
            " FROM accounts",
            last_approval!(),
            " WHERE project_id = $1 AND user_name = $2 AND unpaired_at IS NULL \
             ORDER BY created_at, id"
        );
        let accepted = Stored(SessionStatus::Accepted);
        let (minute, hour) = (
            i64::from(budget.per_minute.saturating_sub(1)),
            i64::from(budget.per_hour.saturating_sub(1)),
        );
        let rows: Vec<AccountWithBudget> = match &self.backend {
            Backend::Sqlite(db) => {
                let (start_minute, start_hour) = (now - 60, now - 3600);
                db.read_direct(|sql| {
                    let args: [&dyn rusqlite::ToSql; 7] = [
                        &project_id,
                        &user_name,
                        &start_minute,
                        &start_hour,
                        &accepted,
                        &minute,
                        &hour,
                    ];
                    let mut rows = Vec::new();
                    sql.each_row(USER_DEVICES, &args, |row| {
                        rows.push(AccountWithBudget {
                            account: account_at(row, 0)?,
                            minute_blocker: row.get(ACCOUNT_COLUMNS)?,
                            hour_blocker: row.get(ACCOUNT_COLUMNS + 1)?,
                        });
                        Ok(())
                    })?;
                    Ok(rows)
                })
                .await?
            }
            Backend::Postgres(_) => with_conn!(self, read, |c| sqlx::query_as(USER_DEVICES)
                .bind(project_id)
                .bind(user_name)
                .bind(now - 60)
                .bind(now - 3600)
                .bind(accepted)
                .bind(minute)
                .bind(hour)
                .fetch_all(c)
                .await)?,
        };
        let (minute_blocker, hour_blocker) = rows
            .first()
            .map_or((None, None), |r| (r.minute_blocker, r.hour_blocker));
        let accounts = rows.into_iter().map(|r| r.account).collect();
        Ok(UserDevices {
            accounts,
            minute_blocker,
            hour_blocker,
        })
    }
}

/// A row of [`Store::user_devices`].
#[derive(sqlx::FromRow)]
struct AccountWithBudget {
    #[sqlx(flatten)]
    account: AccountRow,
    minute_blocker: Option<i64>,
    hour_blocker: Option<i64>,
}
