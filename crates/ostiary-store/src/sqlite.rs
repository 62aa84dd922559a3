//! The embedded default: SQLite in WAL mode with foreign keys on and a busy timeout.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::OpenError;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, OpenError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(OpenError::Connect)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL is durable across application crashes and fast; only an OS
            // crash can lose the last transactions, never corrupt the file.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let path = options.get_filename().to_owned();
        let existed = path.exists();
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        if !existed {
            restrict_permissions(&path)?;
        }
        Ok(Self { pool })
    }

    pub async fn migrate(&self) -> Result<(), OpenError> {
        MIGRATOR.run(&self.pool).await.map_err(OpenError::Migrate)
    }
}

/// The database holds credential hashes: only the owner may read it.
fn restrict_permissions(path: &Path) -> Result<(), OpenError> {
    use std::os::unix::fs::PermissionsExt;
    if path.as_os_str().is_empty() || !path.exists() {
        return Ok(()); // in-memory database
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(OpenError::Permissions)
}

crate::sql::clients::impl_client_store!(SqliteStore);
crate::sql::users::impl_user_store!(SqliteStore);
crate::sql::keys::impl_key_store!(SqliteStore);

#[async_trait::async_trait]
impl ostiary_core::Store for SqliteStore {
    async fn ping(&self) -> Result<(), ostiary_core::StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(crate::error::backend)?;
        Ok(())
    }
}
