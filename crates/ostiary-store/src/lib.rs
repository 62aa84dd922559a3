//! Ostiary's storage traits implemented for SQLite (the embedded default) and PostgreSQL.
//!
//! Everything dialect-specific lives in this crate; the rest of Ostiary sees `dyn Store`.

mod batches;
mod error;
mod postgres;
mod rows;
mod sql;
mod sqlite;
pub mod testing;
#[cfg(test)]
mod upgrade_tests;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use ostiary_core::Store;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the database URL must start with sqlite:// or postgres://")]
    UnsupportedUrl,
    #[error("could not open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("could not create the database file: {0}")]
    Permissions(#[source] std::io::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// An open database of either backend.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Database {
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, OpenError> {
        if is_sqlite(url) {
            SqliteStore::open(url, max_connections)
                .await
                .map(Self::Sqlite)
        } else if is_postgres(url) {
            PgStore::open(url, max_connections)
                .await
                .map(Self::Postgres)
        } else {
            Err(OpenError::UnsupportedUrl)
        }
    }

    /// Applies the embedded migrations of this backend (idempotent).
    pub async fn migrate(&self) -> Result<(), OpenError> {
        match self {
            Self::Sqlite(s) => s.migrate().await,
            Self::Postgres(s) => s.migrate().await,
        }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(s) => Arc::new(s.clone()),
            Self::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// Waits for connections to be returned and closes them (flushes SQLite's WAL cleanly).
    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
            Self::Postgres(s) => s.pool.close().await,
        }
    }
}

pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The file behind a `sqlite://` URL; `None` for other backends and in-memory databases.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    if !is_sqlite(url) {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    (!path.as_os_str().is_empty() && path != std::path::Path::new(":memory:"))
        .then(|| path.to_owned())
}

fn pool_stats<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> ostiary_core::PoolStats {
    let open = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    ostiary_core::PoolStats {
        open,
        idle: idle.min(open),
        max: pool.options().get_max_connections(),
    }
}
