//! A fresh database per test: an SQLite file, or — with [`URL_ENV`] naming a PostgreSQL server
//! (`cargo xtask test postgres` starts a throwaway one and sets it) — a new database there.

use std::path::Path;

/// The environment variable with the test PostgreSQL server's admin URL, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const URL_ENV: &str = "TAPPROVE_TEST_POSTGRES_URL";

/// The admin URL of the test PostgreSQL server, if one is set.
pub fn admin_url() -> Option<String> {
    std::env::var(URL_ENV).ok()
}

/// `sqlite://DIR/FILE?mode=rwc`, or with [`URL_ENV`] set a new database on that server.
pub async fn database_url(dir: &Path, file: &str) -> String {
    match admin_url() {
        Some(admin) => fresh_database(&admin).await,
        None => format!("sqlite://{}/{file}?mode=rwc", dir.display()),
    }
}

/// Creates `tapprove_test_<random>` on the server of `admin_url` and returns its URL.
pub async fn fresh_database(admin_url: &str) -> String {
    use sqlx::Connection as _;
    let mut id = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id).unwrap();
    let name: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("tapprove_test_{name}");
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to the test PostgreSQL server");
    // `name` is ours (lowercase hex): safe to splice in.
    sqlx::Executor::execute(
        &mut conn,
        sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
    )
    .await
    .expect("create a test database");
    let _ = conn.close().await;
    let mut url = url::Url::parse(admin_url).expect("postgres URL");
    url.set_path(&name);
    url.to_string()
}
