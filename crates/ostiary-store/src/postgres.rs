//! PostgreSQL, for deployments that run several instances against one database.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

use crate::OpenError;
use crate::pg_copy;

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

    /// The batch as one `COPY`: a single statement, so it is written whole or not at all.
    pub(crate) async fn append_audit_batch(
        &self,
        events: &[ostiary_core::audit::AuditEvent],
    ) -> Result<(), ostiary_core::StoreError> {
        let mut rows = Vec::with_capacity(events.len() * 128);
        for event in events {
            pg_copy::push_audit_row(&mut rows, event);
        }
        let mut conn = self.pool.acquire().await.map_err(crate::error::backend)?;
        let mut copy = conn
            .copy_in_raw(pg_copy::COPY_AUDIT_EVENTS)
            .await
            .map_err(crate::error::backend)?;
        if let Err(e) = copy.send(rows).await {
            // Best effort: the connection is likely gone already; the send error is the cause.
            let _ = copy.abort("sending the audit batch failed").await;
            return Err(crate::error::backend(e));
        }
        copy.finish().await.map_err(crate::error::backend)?;
        Ok(())
    }
}

crate::sql::clients::impl_client_store!(PgStore);
crate::sql::users::impl_user_store!(PgStore);
crate::sql::keys::impl_key_store!(PgStore);
crate::sql::audit::impl_audit_store!(PgStore);
crate::sql::sessions::impl_session_store!(PgStore);
crate::sql::grants::impl_grant_store!(PgStore);
crate::sql::interactions::impl_interaction_store!(PgStore);
crate::sql::replays::impl_replay_store!(PgStore);
crate::sql::pushed::impl_pushed_request_store!(PgStore);
crate::sql::device::impl_device_authorization_store!(PgStore);

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
