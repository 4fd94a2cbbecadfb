//! The database a benchmark's service runs on: a temporary SQLite file (the default), an
//! SQLite URL as given, or a fresh database on a PostgreSQL server that the run creates and
//! drops again. Each run starts empty, so runs are comparable, and the service key the
//! service makes is sealed with this run's seal key.

use sqlx::Connection as _;

use crate::{BenchError, Result};

/// Which engine, for the `backend=` field of the result lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file: one instance.
    Sqlite,
    /// A PostgreSQL database: any number of instances.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A database made for one benchmark run.
pub(crate) enum BenchDatabase {
    /// A file in a temporary directory, deleted with it.
    TempSqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    /// An SQLite URL given by the caller, used as is.
    Sqlite { url: String },
    /// `name` created on the server of `admin_url` for this run; dropped by
    /// [`BenchDatabase::remove`].
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl BenchDatabase {
    /// `None`: a temporary SQLite file. `sqlite:…`: that database. `postgres://…` (or
    /// `postgresql://…`): a server and a database to connect to; a new database
    /// `tapprove_bench_<random>` is created beside it (the user needs `CREATEDB`).
    pub(crate) async fn prepare(database: Option<&str>) -> Result<Self> {
        let Some(url) = database else {
            let dir = tempfile::tempdir()
                .map_err(|e| BenchError::Setup(format!("cannot create a temp dir: {e}")))?;
            let url = format!("sqlite://{}/tapprove.db?mode=rwc", dir.path().display());
            return Ok(Self::TempSqlite { _dir: dir, url });
        };
        if url.starts_with("sqlite:") {
            return Ok(Self::Sqlite { url: url.into() });
        }
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(BenchError::Setup(format!(
                "unsupported database URL {:?}; use sqlite://FILE?mode=rwc or \
                 postgres://USER[:PASSWORD]@HOST:PORT/DB (a server where the benchmark may \
                 create a database)",
                redacted(url)
            )));
        }
        let mut parsed = url::Url::parse(url).map_err(|e| {
            BenchError::Setup(format!("invalid PostgreSQL URL {:?}: {e}", redacted(url)))
        })?;
        let name = format!("tapprove_bench_{}", random_hex()?);
        let mut admin = sqlx::PgConnection::connect(url)
            .await
            .map_err(|e| pg_error("cannot connect to PostgreSQL at", url, &e))?;
        // `name` is ours (lowercase letters, digits, `_`): safe to splice in.
        let created = sqlx::Executor::execute(
            &mut admin,
            sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
        )
        .await;
        let _ = admin.close().await;
        created.map_err(|e| pg_error("cannot create a database (needs CREATEDB) on", url, &e))?;
        parsed.set_path(&name);
        Ok(Self::Postgres {
            admin_url: url.into(),
            name,
            url: parsed.into(),
        })
    }

    /// The URL the service and the admin calls use.
    pub(crate) fn url(&self) -> &str {
        match self {
            Self::TempSqlite { url, .. } | Self::Sqlite { url } | Self::Postgres { url, .. } => url,
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Self::TempSqlite { .. } | Self::Sqlite { .. } => Backend::Sqlite,
            Self::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The server processes (backends) connected to the run's PostgreSQL database now, other
    /// than the one asking; none on SQLite. Only meaningful when the server runs on this
    /// machine (their CPU time is read from `/proc`).
    pub(crate) async fn backend_pids(&self) -> Result<Vec<u32>> {
        let Self::Postgres { url, .. } = self else {
            return Ok(Vec::new());
        };
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .map_err(|e| pg_error("cannot connect to PostgreSQL at", url, &e))?;
        let pids: std::result::Result<Vec<i32>, _> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut conn)
        .await;
        let _ = conn.close().await;
        let pids = pids.map_err(|e| pg_error("cannot list the backends on", url, &e))?;
        Ok(pids
            .into_iter()
            .filter_map(|p| u32::try_from(p).ok())
            .collect())
    }

    /// Brings the planner's statistics up to date, as autovacuum does on a running server
    /// within a minute of the pairing: a fresh database's first plans assume empty tables
    /// (on PostgreSQL, the user's devices were then found by scanning the project's). Nothing
    /// to do on SQLite, whose plans take no statistics here.
    pub(crate) async fn analyze(&self) -> Result<()> {
        let Self::Postgres { url, .. } = self else {
            return Ok(());
        };
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .map_err(|e| pg_error("cannot connect to PostgreSQL at", url, &e))?;
        let analyzed = sqlx::raw_sql("ANALYZE").execute(&mut conn).await;
        let _ = conn.close().await;
        analyzed.map_err(|e| pg_error("cannot ANALYZE the benchmark database on", url, &e))?;
        Ok(())
    }

    /// Drops the run's PostgreSQL database (after every instance closed its pool; `FORCE`
    /// ends what is left, e.g. after a failed start). SQLite: the temp dir goes with `self`.
    pub(crate) async fn remove(self) -> Result<()> {
        let Self::Postgres {
            admin_url, name, ..
        } = self
        else {
            return Ok(());
        };
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .map_err(|e| pg_error("cannot connect to PostgreSQL at", &admin_url, &e))?;
        let dropped = sqlx::Executor::execute(
            &mut admin,
            sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
        )
        .await;
        let _ = admin.close().await;
        dropped.map_err(|e| {
            pg_error(
                &format!("cannot drop the benchmark database {name} (drop it by hand) on"),
                &admin_url,
                &e,
            )
        })?;
        Ok(())
    }
}

fn pg_error(what: &str, url: &str, e: &sqlx::Error) -> BenchError {
    BenchError::Setup(format!(
        "{what} {}: {e}; check that the server runs and the URL's user, password and database",
        redacted(url)
    ))
}

/// `url` with its password replaced by `***`, for messages.
pub(crate) fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.into()
        }
        Ok(u) => u.into(),
        // Unparsable: show only the scheme, it might hold a password anyway.
        Err(_) => format!("{}://…", url.split("://").next().unwrap_or("?")),
    }
}

/// 8 random bytes in hex: a database name nobody else picked.
fn random_hex() -> Result<String> {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| BenchError::Setup("no system randomness".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redacted("postgres://bench:hunter2@db:5432/postgres"),
            "postgres://bench:***@db:5432/postgres"
        );
        assert_eq!(
            redacted("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
        assert!(!redacted("postgres://a:hunter2@[bad").contains("hunter2"));
    }

    #[tokio::test]
    async fn other_urls_are_refused_with_the_forms_that_work() {
        let Err(BenchError::Setup(msg)) =
            BenchDatabase::prepare(Some("mysql://root:hunter2@db/x")).await
        else {
            panic!("mysql accepted");
        };
        assert!(msg.contains("postgres://"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}
