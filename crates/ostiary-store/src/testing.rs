//! Fresh PostgreSQL databases for tests (this crate's store suite and the server's): one new
//! database per test, created through `OSTIARY_TEST_POSTGRES_URL` and dropped afterwards.
//! Never used by the server itself.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// A database created for one test. Call `drop_database` when the test is done.
#[derive(Debug)]
pub struct PostgresTestDatabase {
    admin_url: String,
    name: String,
    /// The URL of the new database, for `Database::open` or `OAUTH2_DATABASE_URL`.
    pub url: String,
}

impl PostgresTestDatabase {
    /// A new, empty database; `None` (with a note on stderr) when `OSTIARY_TEST_POSTGRES_URL`
    /// is not set. With `OSTIARY_REQUIRE_POSTGRES` set (CI), a missing setting or an
    /// unreachable server panics instead of skipping.
    pub async fn create() -> Option<Self> {
        let required = std::env::var_os("OSTIARY_REQUIRE_POSTGRES").is_some();
        let Ok(admin_url) = std::env::var("OSTIARY_TEST_POSTGRES_URL") else {
            assert!(
                !required,
                "OSTIARY_REQUIRE_POSTGRES is set but OSTIARY_TEST_POSTGRES_URL is not"
            );
            eprintln!("skipped: OSTIARY_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = unique_name();
        let mut admin = match PgConnection::connect(&admin_url).await {
            Ok(admin) => admin,
            Err(e) => panic!("cannot reach PostgreSQL at OSTIARY_TEST_POSTGRES_URL: {e}"),
        };
        if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
        {
            panic!("cannot create test database {name}: {e}");
        }
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        Some(Self {
            admin_url,
            name,
            url,
        })
    }

    /// Runs `sql` in the database: for tests that take part of the schema away to see the
    /// server survive a database that refuses its writes.
    pub async fn execute(&self, sql: &str) {
        let mut conn = match PgConnection::connect(&self.url).await {
            Ok(conn) => conn,
            Err(e) => panic!("cannot reach test database {}: {e}", self.name),
        };
        if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
        {
            panic!("test SQL {sql:?} failed: {e}");
        }
        conn.close().await.ok();
    }

    /// How many connections to the database listen for change announcements (their last
    /// statement was a `LISTEN`): instances that will hear what others change.
    pub async fn listeners(&self) -> i64 {
        let mut conn = match PgConnection::connect(&self.url).await {
            Ok(conn) => conn,
            Err(e) => panic!("cannot reach test database {}: {e}", self.name),
        };
        let listening = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN %'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("counting listeners failed: {e}"));
        conn.close().await.ok();
        listening
    }

    /// Drops the database, ending any connection still open to it.
    pub async fn drop_database(self) {
        if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                .execute(&mut admin)
                .await;
            admin.close().await.ok();
        }
    }
}

/// Ends the connections that listen for change announcements on `db` (PostgreSQL), as a
/// network failure or a restarted database would; nothing on SQLite.
pub async fn terminate_listeners(db: &crate::Database) {
    let crate::Database::Postgres(store) = db else {
        return;
    };
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN %'",
    )
    .execute(&store.pool)
    .await
    .unwrap_or_else(|e| panic!("terminating listeners failed: {e}"));
}

/// Unique across the processes and threads of one test run.
fn unique_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "ostiary_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// `url` with its database (the path) replaced by `name`, query string kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_and_the_query_kept() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5432/test", "x"),
            "postgres://u@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
