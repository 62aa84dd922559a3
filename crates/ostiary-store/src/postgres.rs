//! PostgreSQL, for deployments that run several instances against one database.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

use crate::OpenError;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
}

impl PgStore {
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, OpenError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(OpenError::Connect)?;
        Ok(Self { pool })
    }

    pub async fn migrate(&self) -> Result<(), OpenError> {
        MIGRATOR.run(&self.pool).await.map_err(OpenError::Migrate)
    }

    /// An ordinary READ COMMITTED transaction. The compare-and-set updates in `sql/` need no
    /// more: a second writer waits on the row lock, then re-checks its WHERE clause against the
    /// committed row and changes nothing.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, ostiary_core::StoreError> {
        self.pool.begin().await.map_err(crate::error::backend)
    }

    /// The batch as one array per column (`UNNEST`), so the statement is prepared once
    /// whatever the batch size.
    pub(crate) async fn append_audit_batch(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        events: &[ostiary_core::audit::AuditEvent],
    ) -> Result<(), ostiary_core::StoreError> {
        let text = |f: fn(&ostiary_core::audit::AuditEvent) -> Option<&str>| -> Vec<Option<&str>> {
            events.iter().map(f).collect()
        };
        sqlx::query(
            "INSERT INTO audit_events (at, event, actor, client_id, subject, source_ip, outcome, reason) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[])",
        )
        .bind(events.iter().map(|e| e.at.unix_timestamp()).collect::<Vec<i64>>())
        .bind(text(|e| Some(e.event.as_str())))
        .bind(text(|e| Some(&e.actor)))
        .bind(text(|e| e.client_id.as_deref()))
        .bind(text(|e| e.subject.as_deref()))
        .bind(text(|e| e.source_ip.as_deref()))
        .bind(text(|e| Some(e.outcome.as_str())))
        .bind(text(|e| e.reason.as_deref()))
        .execute(&mut **tx)
        .await
        .map_err(crate::error::backend)?;
        Ok(())
    }
}

crate::sql::clients::impl_client_store!(PgStore);
crate::sql::users::impl_user_store!(PgStore);
crate::sql::keys::impl_key_store!(PgStore);
crate::sql::audit::impl_audit_store!(PgStore);
crate::sql::sessions::impl_session_store!(PgStore);
crate::sql::grants::impl_grant_store!(PgStore);

#[async_trait::async_trait]
impl ostiary_core::Store for PgStore {
    async fn ping(&self) -> Result<(), ostiary_core::StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(crate::error::backend)?;
        Ok(())
    }

    fn pool_stats(&self) -> ostiary_core::PoolStats {
        crate::pool_stats(&self.pool)
    }
}
