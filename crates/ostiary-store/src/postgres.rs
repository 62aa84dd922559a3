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
}

crate::sql::clients::impl_client_store!(PgStore);
crate::sql::users::impl_user_store!(PgStore);
crate::sql::keys::impl_key_store!(PgStore);
crate::sql::audit::impl_audit_store!(PgStore);

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
