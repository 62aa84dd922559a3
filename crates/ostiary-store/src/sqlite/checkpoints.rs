//! The WAL copied into the database file on a connection of its own, off the writer's path.
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold (1,000
//! pages by default): that write waited for the copy and its two `fsync`s, and every write
//! queued behind it on the one writer connection.

use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::connections::Connections;

/// How long after a write is lent the checkpoint starts: the writes in between share it.
const AFTER_WRITES: Duration = Duration::from_millis(100);

/// The writer's own automatic checkpoint, in pages (4 KiB each). The WAL starts over from its
/// beginning only when a write finds all of it copied, which a passive checkpoint under
/// steady writes seldom leaves (writes land while it copies): past this size the writer's
/// own checkpoint copies the little that is left and the log restarts. It also bounds the
/// WAL should these checkpoints fail.
pub(crate) const WRITER_BACKSTOP_PAGES: &str = "10000";

/// Passive checkpoints (`PRAGMA wal_checkpoint(PASSIVE)`: readers and the writer go on while
/// it copies) on their own connection, each started [`AFTER_WRITES`] after a write asked for
/// one. Nothing runs while nothing is written.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    wanted: Arc<Notify>,
    connection: Arc<Connections>,
    task: AbortHandle,
}

impl Checkpoints {
    /// Opens the checkpoint connection and starts its task (on the current Tokio runtime).
    pub(crate) async fn start(options: SqliteConnectOptions) -> Result<Self, sqlx::Error> {
        let connection = Arc::new(Connections::open(options, 1).await?);
        let wanted = Arc::new(Notify::new());
        let task = tokio::spawn(run(connection.clone(), wanted.clone())).abort_handle();
        Ok(Self {
            wanted,
            connection,
            task,
        })
    }

    /// A write is under way: a checkpoint follows once it has had time to commit.
    pub(crate) fn after_write(&self) {
        self.wanted.notify_one();
    }

    /// Stops the task and closes its connection (a checkpoint in progress finishes first).
    pub(crate) async fn close(&self) {
        self.task.abort();
        self.connection.close().await;
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(connection: Arc<Connections>, wanted: Arc<Notify>) {
    loop {
        wanted.notified().await;
        tokio::time::sleep(AFTER_WRITES).await;
        let checkpoint = async {
            let mut lent = connection.lend().await?;
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&mut *lent)
                .await
        };
        if let Err(e) = checkpoint.await {
            tracing::warn!(
                error = %e,
                "an SQLite checkpoint failed; the writer checkpoints past {WRITER_BACKSTOP_PAGES} pages"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly

    use sqlx::ConnectOptions;

    use super::super::SqliteStore;

    /// A write reaches the database file itself (not only the WAL) shortly after it commits,
    /// though the writer's own checkpoint waits for thousands of pages.
    #[tokio::test]
    async fn a_write_is_copied_into_the_database_file_soon_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let store = SqliteStore::open(&format!("sqlite://{}", path.display()), 2)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        sqlx::query(
            "INSERT INTO users (user_id, username, password_hash, created_at) \
             VALUES ('6f1c2b1e-0000-4000-8000-000000000001', 'alice', 'x', 0)",
        )
        .execute(&mut *store.writer().await.unwrap())
        .await
        .unwrap();

        // The file as it is, without the WAL.
        let file_only = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .immutable(true);
        let mut copied = false;
        for _ in 0..40 {
            let mut reader = file_only.connect().await.unwrap();
            let users: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM users")
                .fetch_one(&mut reader)
                .await;
            if users.is_ok_and(|n| n == 1) {
                copied = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(copied, "the write stayed in the WAL");
        store.close().await;
    }
}
