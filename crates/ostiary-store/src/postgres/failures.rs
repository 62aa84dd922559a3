//! Failed-authentication counters shared by every instance on PostgreSQL. Each statement that
//! changes a counter announces its new state (`ostiary_notify_failures`, migration 19) in the
//! same statement, so the announcement goes out exactly when the change commits.

use async_trait::async_trait;
use ostiary_core::StoreError;
use ostiary_core::changes::{FailureCount, FailureCountStore};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PgStore;
use crate::error::backend;

fn count(row: &PgRow) -> Result<FailureCount, sqlx::Error> {
    Ok(FailureCount {
        key: row.try_get("key")?,
        failures: u32::try_from(row.try_get::<i32, _>("failures")?).unwrap_or(0),
        last_failure: row.try_get("last_failure")?,
        locked_until: row.try_get("locked_until")?,
    })
}

#[async_trait]
impl FailureCountStore for PgStore {
    async fn count_failures(
        &self,
        keys: &[(String, i64)],
        now: i64,
    ) -> Result<Vec<FailureCount>, StoreError> {
        // One statement per key (at most three): the window differs by key, and each upsert
        // is atomic, so failures at several instances at once are all counted.
        const COUNT: &str = "WITH counted AS ( \
               INSERT INTO failure_counts AS f (key, failures, last_failure, locked_until) \
               VALUES ($1, 1, $2, NULL) \
               ON CONFLICT (key) DO UPDATE SET \
                 failures = CASE WHEN f.last_failure < $2 - $3 THEN 1 ELSE f.failures + 1 END, \
                 locked_until = CASE WHEN f.last_failure < $2 - $3 THEN NULL \
                                     ELSE f.locked_until END, \
                 last_failure = GREATEST(f.last_failure, $2) \
               RETURNING key, failures, last_failure, locked_until) \
             SELECT key, failures, last_failure, locked_until, \
                    ostiary_notify_failures(key, failures, last_failure, locked_until) \
             FROM counted";
        let mut counts = Vec::with_capacity(keys.len());
        for (key, window) in keys {
            let row = sqlx::query(COUNT)
                .bind(key)
                .bind(now)
                .bind(window)
                .fetch_one(&mut *self.writer().await?)
                .await
                .map_err(backend)?;
            counts.push(count(&row).map_err(backend)?);
        }
        Ok(counts)
    }

    async fn lock_failures(&self, key: &str, until: i64) -> Result<(), StoreError> {
        const LOCK: &str = "WITH locked AS ( \
               UPDATE failure_counts SET locked_until = GREATEST(COALESCE(locked_until, 0), $2) \
               WHERE key = $1 RETURNING key, failures, last_failure, locked_until) \
             SELECT ostiary_notify_failures(key, failures, last_failure, locked_until) \
             FROM locked";
        sqlx::query(LOCK)
            .bind(key)
            .bind(until)
            .execute(&mut *self.writer().await?)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn forget_failures(&self, key: &str) -> Result<(), StoreError> {
        const FORGET: &str = "WITH gone AS (DELETE FROM failure_counts WHERE key = $1 RETURNING key) \
             SELECT ostiary_notify_failures(key, 0, 0, NULL) FROM gone";
        sqlx::query(FORGET)
            .bind(key)
            .execute(&mut *self.writer().await?)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn locked_until(&self, keys: &[String], now: i64) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar(
            "SELECT MAX(locked_until) FROM failure_counts \
             WHERE key = ANY($1) AND locked_until > $2",
        )
        .bind(keys)
        .bind(now)
        .fetch_one(&mut *self.reader().await?)
        .await
        .map_err(backend)
    }

    async fn recent_failures(
        &self,
        since: i64,
        limit: u32,
    ) -> Result<Vec<FailureCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, failures, last_failure, locked_until FROM failure_counts \
             WHERE last_failure > $1 OR locked_until > $1 \
             ORDER BY locked_until IS NOT NULL AND locked_until > $1 DESC, last_failure DESC \
             LIMIT $2",
        )
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.reader().await?)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(count)
            .collect::<Result<_, _>>()
            .map_err(backend)
    }

    async fn purge_failures(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM failure_counts WHERE last_failure < $1 \
             AND (locked_until IS NULL OR locked_until < $1)",
        )
        .bind(before)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
