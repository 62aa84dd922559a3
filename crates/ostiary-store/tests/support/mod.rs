//! A fresh database per test: a temporary SQLite file always, and a new PostgreSQL database
//! (created and dropped around the test) when `OSTIARY_TEST_POSTGRES_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up fails loudly

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use ostiary_store::Database;
use ostiary_store::testing::PostgresTestDatabase;

pub struct TestDb {
    pub db: Database,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<PostgresTestDatabase>,
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
    let created = PostgresTestDatabase::create().await?;
    let db = Database::open(&created.url, 4)
        .await
        .expect("open postgres");
    db.migrate().await.expect("migrate postgres");
    Some(TestDb {
        db,
        _dir: None,
        postgres: Some(created),
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
        if let Some(postgres) = self.postgres {
            postgres.drop_database().await;
        }
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
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
