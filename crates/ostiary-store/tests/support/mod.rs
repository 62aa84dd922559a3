//! A fresh database per test: a temporary SQLite file always, and a new PostgreSQL database
//! (created and dropped around the test) when `OSTIARY_TEST_POSTGRES_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up fails loudly

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use ostiary_store::Database;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

pub struct TestDb {
    pub db: Database,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let db = Database::open(&url, 4).await.expect("open sqlite");
    db.migrate().await.expect("migrate sqlite");
    TestDb {
        db,
        _dir: Some(dir),
        postgres: None,
    }
}

/// `None` (with a note on stderr) when PostgreSQL is not configured. CI sets
/// `OSTIARY_REQUIRE_POSTGRES=1`, which turns a missing or unreachable server into a failure.
pub async fn postgres() -> Option<TestDb> {
    let required = std::env::var_os("OSTIARY_REQUIRE_POSTGRES").is_some();
    let Ok(admin_url) = std::env::var("OSTIARY_TEST_POSTGRES_URL") else {
        assert!(
            !required,
            "OSTIARY_REQUIRE_POSTGRES is set but OSTIARY_TEST_POSTGRES_URL is not"
        );
        eprintln!("skipped: OSTIARY_TEST_POSTGRES_URL is not set");
        return None;
    };
    let name = format!("ostiary_test_{}", hex_suffix());
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at OSTIARY_TEST_POSTGRES_URL: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    admin.close().await.ok();
    let mut url = url::Url::parse(&admin_url).expect("OSTIARY_TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    let db = Database::open(url.as_str(), 4)
        .await
        .expect("open postgres");
    db.migrate().await.expect("migrate postgres");
    Some(TestDb {
        db,
        _dir: None,
        postgres: Some((admin_url, name)),
    })
}

impl TestDb {
    /// Runs the test body, then drops the PostgreSQL database even if the body panicked.
    pub async fn run<F, Fut>(self, test: F)
    where
        F: FnOnce(Database) -> Fut,
        Fut: Future<Output = ()>,
    {
        let outcome = AssertUnwindSafe(test(self.db.clone())).catch_unwind().await;
        self.db.close().await;
        if let Some((admin_url, name)) = &self.postgres
            && let Ok(mut admin) = PgConnection::connect(admin_url).await
        {
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                .execute(&mut admin)
                .await;
        }
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}

fn hex_suffix() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Generates, for each named `async fn(Database)`, one test per backend:
/// `sqlite::NAME` and `postgres::NAME`.
#[macro_export]
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::support::sqlite().await.run(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(db) = $crate::support::postgres().await {
                        db.run(super::$name).await;
                    }
                }
            )*
        }
    };
}
