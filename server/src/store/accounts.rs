//! The `accounts` table: one row per paired device.

use tapprove_protocol::api::{PushEnvironment, PushPlatform};

use super::{Store, Stored, with_conn};

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
}

/// The columns of [`AccountRow`], in its order.
macro_rules! account_columns {
    () => {
        "id, project_id, user_name, public_key, device_name, push_platform, push_token, \
         push_environment, push_registered_at, created_at, unpaired_at"
    };
}
pub(super) use account_columns;

impl Store {
    pub(crate) async fn insert_account(&self, a: &AccountRow) -> Result<(), sqlx::Error> {
        with_conn!(self, write, |c| sqlx::query(concat!(
            "INSERT INTO accounts (",
            account_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
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
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
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
}
