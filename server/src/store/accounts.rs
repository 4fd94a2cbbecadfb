//! The `accounts` table: one row per paired device.

use tapprove_protocol::api::{KeyProtection, PushEnvironment, PushPlatform};

use super::{Store, Stored, with_conn, with_tx};

/// A paired device (account) row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct AccountRow {
    pub id: String,
    pub project_id: String,
    pub user_name: String,
    pub public_key: String,
    pub device_name: Option<String>,
    pub push_platform: Stored<PushPlatform>,
    pub push_token: String,
    pub push_environment: Option<Stored<PushEnvironment>>,
    pub push_registered_at: i64,
    pub created_at: i64,
    pub unpaired_at: Option<i64>,
    pub key_protection: Stored<KeyProtection>,
    pub last_used_at: Option<i64>,
    /// Set (with `unpaired_at`) when the site or an operator removed the device.
    pub revoked_at: Option<i64>,
    /// Who removed it: `relying_party` or `operator`.
    pub revoked_by: Option<String>,
    /// SHA-256 (base64url) of the pairing code this account was created with: a repeated
    /// pairing with the same key and code returns this account.
    pub pairing_code_hash: Option<String>,
    /// The service key (kid) the device pinned at pairing, or the one a rotation moved it to
    /// (docs/PROTOCOL.md §5a): while that key is in its grace period the device gets its key
    /// update.
    pub service_kid: Option<String>,
    /// The device's X25519 push key (base64url), if it sent one: pushes are sealed to it.
    pub push_key: Option<String>,
}

/// How long after pairing a repeated pairing request (same key, same code) gets the same
/// account back, seconds; also how long a new device without push counts as polling before
/// its first call. The device retries at once; the code is single-use at the site.
pub(crate) const REPEAT_PAIRING_WINDOW: i64 = tapprove_protocol::api::PAIRING_RETRY_WINDOW;

impl AccountRow {
    /// Whether a device without push counts as polling: it made an authenticated call since
    /// pairing, or was paired in the last [`REPEAT_PAIRING_WINDOW`] (it may not have polled
    /// yet). A device whose pairing answer was lost and that gave up never calls: a ghost,
    /// so sessions for a user with only ghosts end `delivery_failed`.
    pub(crate) fn may_poll(&self, now: i64) -> bool {
        self.last_used_at.is_some() || self.created_at + REPEAT_PAIRING_WINDOW >= now
    }
}

/// The columns of [`AccountRow`], in its order.
macro_rules! account_columns {
    () => {
        "id, project_id, user_name, public_key, device_name, push_platform, push_token, \
         push_environment, push_registered_at, created_at, unpaired_at, key_protection, \
         last_used_at, revoked_at, revoked_by, pairing_code_hash, service_kid, push_key"
    };
}
pub(super) use account_columns;

/// An [`AccountRow`] from [`account_columns!`] starting at column `at` of a row of SQLite's
/// synchronous connections.
pub(super) fn account_at(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<AccountRow> {
    Ok(AccountRow {
        id: row.get(at)?,
        project_id: row.get(at + 1)?,
        user_name: row.get(at + 2)?,
        public_key: row.get(at + 3)?,
        device_name: row.get(at + 4)?,
        push_platform: row.get(at + 5)?,
        push_token: row.get(at + 6)?,
        push_environment: row.get(at + 7)?,
        push_registered_at: row.get(at + 8)?,
        created_at: row.get(at + 9)?,
        unpaired_at: row.get(at + 10)?,
        key_protection: row.get(at + 11)?,
        last_used_at: row.get(at + 12)?,
        revoked_at: row.get(at + 13)?,
        revoked_by: row.get(at + 14)?,
        pairing_code_hash: row.get(at + 15)?,
        service_kid: row.get(at + 16)?,
        push_key: row.get(at + 17)?,
    })
}

impl Store {
    pub(crate) async fn insert_account(&self, a: &AccountRow) -> Result<(), sqlx::Error> {
        with_conn!(self, write, |c| {
            sqlx::query(concat!(
            "INSERT INTO accounts (",
            account_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        ))
        .bind(&a.id)
        .bind(&a.project_id)
        .bind(&a.user_name)
        .bind(&a.public_key)
        .bind(&a.device_name)
        .bind(a.push_platform)
        .bind(&a.push_token)
        .bind(a.push_environment)
        .bind(a.push_registered_at)
        .bind(a.created_at)
        .bind(a.unpaired_at)
        .bind(a.key_protection)
        .bind(a.last_used_at)
        .bind(a.revoked_at)
        .bind(&a.revoked_by)
        .bind(&a.pairing_code_hash)
        .bind(&a.service_kid)
        .bind(&a.push_key)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// An account by id, paired or not.
    pub(crate) async fn account(&self, id: &str) -> Result<Option<AccountRow>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_as(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(c)
        .await)
    }

    /// Replaces an account's push registration; false if it is not paired.
    pub(crate) async fn update_push(
        &self,
        account_id: &str,
        platform: PushPlatform,
        token: &str,
        environment: Option<PushEnvironment>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let r = with_conn!(self, write, |c| sqlx::query(
            "UPDATE accounts SET push_platform = $1, push_token = $2, push_environment = $3, \
             push_registered_at = $4 WHERE id = $5 AND unpaired_at IS NULL",
        )
        .bind(Stored(platform))
        .bind(token)
        .bind(environment.map(Stored))
        .bind(now)
        .bind(account_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// Forgets a push token the provider reported dead, unless the device replaced it since.
    pub(crate) async fn clear_push_token(
        &self,
        account_id: &str,
        token: &str,
    ) -> Result<bool, sqlx::Error> {
        let r = with_conn!(self, write, |c| sqlx::query(
            "UPDATE accounts SET push_token = '' WHERE id = $1 AND push_token = $2"
        )
        .bind(account_id)
        .bind(token)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// Unpairs an account; false if it was not paired.
    pub(crate) async fn unpair(&self, account_id: &str, now: i64) -> Result<bool, sqlx::Error> {
        let r = with_conn!(self, write, |c| sqlx::query(
            "UPDATE accounts SET unpaired_at = $1, push_token = '' \
             WHERE id = $2 AND unpaired_at IS NULL",
        )
        .bind(now)
        .bind(account_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// A user's paired devices, oldest first.
    pub(crate) async fn user_accounts(
        &self,
        project_id: &str,
        user_name: &str,
    ) -> Result<Vec<AccountRow>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_as(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE project_id = $1 AND user_name = $2 AND unpaired_at IS NULL \
             ORDER BY created_at, id"
        ))
        .bind(project_id)
        .bind(user_name)
        .fetch_all(c)
        .await)
    }

    /// Every paired device of a project (of one user, with `user_name`), by user then age.
    pub(crate) async fn project_accounts(
        &self,
        project_id: &str,
        user_name: Option<&str>,
    ) -> Result<Vec<AccountRow>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_as(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE project_id = $1 AND ($2 IS NULL OR user_name = $2) \
             AND unpaired_at IS NULL ORDER BY user_name, created_at, id"
        ))
        .bind(project_id)
        .bind(user_name)
        .fetch_all(c)
        .await)
    }

    /// The paired accounts of this project with this device key (a repeated pairing sends
    /// the same key).
    pub(crate) async fn account_by_key(
        &self,
        project_id: &str,
        public_key: &str,
    ) -> Result<Vec<AccountRow>, sqlx::Error> {
        with_conn!(self, read, |c| sqlx::query_as(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE project_id = $1 AND public_key = $2 AND unpaired_at IS NULL"
        ))
        .bind(project_id)
        .bind(public_key)
        .fetch_all(c)
        .await)
    }

    /// Revokes the given paired accounts of a project (the site or an operator removed
    /// them); returns those this call revoked.
    pub(crate) async fn revoke_accounts(
        &self,
        project_id: &str,
        account_ids: &[String],
        by: &str,
        now: i64,
    ) -> Result<Vec<String>, sqlx::Error> {
        let mut revoked = Vec::with_capacity(account_ids.len());
        with_tx!(self, |tx| {
            for id in account_ids {
                let r = sqlx::query(
                    "UPDATE accounts SET unpaired_at = $1, revoked_at = $1, revoked_by = $2, \
                 push_token = '' WHERE id = $3 AND project_id = $4 AND unpaired_at IS NULL",
                )
                .bind(now)
                .bind(by)
                .bind(id)
                .bind(project_id)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() == 1 {
                    revoked.push(id.clone());
                }
            }
        });
        Ok(revoked)
    }

    /// Records an authenticated call of the device.
    pub(crate) async fn touch_account(
        &self,
        account_id: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        with_conn!(self, write, |c| sqlx::query(
            "UPDATE accounts SET last_used_at = $1 WHERE id = $2"
        )
        .bind(now)
        .bind(account_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tapprove_protocol::api::{KeyProtection, PushPlatform};

    use super::*;

    fn account(created_at: i64, last_used_at: Option<i64>) -> AccountRow {
        AccountRow {
            id: "acc_1".into(),
            project_id: "prj_1".into(),
            user_name: "alice".into(),
            public_key: "k".into(),
            device_name: None,
            push_platform: Stored(PushPlatform::None),
            push_token: String::new(),
            push_environment: None,
            push_registered_at: created_at,
            created_at,
            unpaired_at: None,
            key_protection: Stored(KeyProtection::Unknown),
            last_used_at,
            revoked_at: None,
            revoked_by: None,
            pairing_code_hash: None,
            service_kid: None,
            push_key: None,
        }
    }

    #[test]
    fn a_device_never_heard_of_after_pairing_stops_counting_as_polling() {
        let now = 10_000;
        assert!(account(now - 5, None).may_poll(now), "just paired");
        assert!(
            account(now - REPEAT_PAIRING_WINDOW, None).may_poll(now),
            "at the window's end"
        );
        assert!(
            !account(now - REPEAT_PAIRING_WINDOW - 1, None).may_poll(now),
            "a ghost"
        );
        assert!(
            account(now - 86_400, Some(now - 3_600)).may_poll(now),
            "it called since pairing"
        );
    }
}
