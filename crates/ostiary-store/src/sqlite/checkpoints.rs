//! The WAL copied into the database file on a connection of its own, off the writer's path,
//! and started over from its beginning with the writer held as briefly as can be.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold (1,000
//! pages by default): that write waited for the copy and its `fsync`s, and every write queued
//! behind it on the one writer connection. A passive checkpoint copies without holding the
//! writer, but under steady writes it seldom finds the whole WAL copied, and the WAL starts
//! over only then: it grew to the writer's own threshold, whose checkpoint synced everything
//! copied since the last restart, a few milliseconds of disk time every write waited for.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::connections::Connections;

/// How long after a write is lent the checkpoint starts: the writes in between share it.
const AFTER_WRITES: Duration = Duration::from_millis(100);

/// Past this many pages (4 KiB each) the WAL is started over after the passive checkpoint.
const RESTART_PAGES: i64 = 4_000;

/// How long, in milliseconds, the restart waits for reads that began before it.
const READERS_WAIT_MS: u32 = 20;

/// The writer's own automatic checkpoint, in pages: a backstop that bounds the WAL should
/// these checkpoints fail or fall behind.
pub(crate) const WRITER_BACKSTOP_PAGES: &str = "10000";

/// Passive checkpoints (`PRAGMA wal_checkpoint(PASSIVE)`: readers and the writer go on while
/// it copies) on their own connection, each started [`AFTER_WRITES`] after a write asked for
/// one. Nothing runs while nothing is written. Past [`RESTART_PAGES`], the database file is
/// synced while the writer goes on, and then the writer is held for a `RESTART` checkpoint,
/// which copies and syncs only what was written meanwhile before the WAL starts over.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    wanted: Arc<Notify>,
    connection: Arc<Connections>,
    task: AbortHandle,
}

/// What the checkpoint task works with.
struct Task {
    /// The checkpoint task's own connection.
    connection: Arc<Connections>,
    /// The one writer connection, held for the restart like any write.
    writer: Arc<Connections>,
    /// The database file, synced before the restart.
    file: PathBuf,
    /// How long, in milliseconds, the restart waits for reads that began before it.
    readers_wait_ms: u32,
}

impl Checkpoints {
    /// Opens the checkpoint connection and starts its task (on the current Tokio runtime).
    pub(crate) async fn start(
        options: SqliteConnectOptions,
        writer: Arc<Connections>,
    ) -> Result<Self, sqlx::Error> {
        let file = options.get_filename().to_owned();
        let connection = Arc::new(Connections::open(options, 1).await?);
        let wanted = Arc::new(Notify::new());
        let task = Task {
            connection: connection.clone(),
            writer,
            file,
            readers_wait_ms: READERS_WAIT_MS,
        };
        let task = tokio::spawn(task.run(wanted.clone())).abort_handle();
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

impl Task {
    async fn run(self, wanted: Arc<Notify>) {
        loop {
            wanted.notified().await;
            tokio::time::sleep(AFTER_WRITES).await;
            if let Err(e) = self.checkpoint().await {
                tracing::warn!(
                    error = %e,
                    "an SQLite checkpoint failed; the writer checkpoints past {WRITER_BACKSTOP_PAGES} pages"
                );
            }
        }
    }

    async fn checkpoint(&self) -> Result<(), sqlx::Error> {
        if self.copy().await? >= RESTART_PAGES {
            self.restart().await?;
        }
        Ok(())
    }

    /// A passive checkpoint: copies what no read still needs from the WAL. Returns the
    /// number of pages in the WAL (-1 when the database has none).
    async fn copy(&self) -> Result<i64, sqlx::Error> {
        let mut lent = self.connection.lend().await?;
        // (busy, pages in the WAL, pages copied)
        let (_, pages, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut *lent)
            .await?;
        Ok(pages)
    }

    /// Syncs the database file while the writer goes on, then holds the writer for a
    /// `RESTART` checkpoint: it copies the rest, syncs the little copied since, and waits
    /// for the reads that began before it, so that the next write starts the WAL over.
    async fn restart(&self) -> Result<(), sqlx::Error> {
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || std::fs::File::open(file)?.sync_data())
            .await
            .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))??;
        let mut writer = self.writer.lend().await?;
        // A long read (an admin listing) must not hold the writer for the whole busy
        // timeout: past `readers_wait_ms` the WAL is left to the next restart.
        let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *writer)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA busy_timeout = {}",
            self.readers_wait_ms
        )))
        .execute(&mut *writer)
        .await?;
        let restart = sqlx::query("PRAGMA wal_checkpoint(RESTART)")
            .execute(&mut *writer)
            .await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA busy_timeout = {busy_timeout}"
        )))
        .execute(&mut *writer)
        .await?;
        restart.map(drop)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly

    use std::sync::Arc;

    use sqlx::ConnectOptions;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};

    use super::super::SqliteStore;
    use super::super::connections::Connections;
    use super::{RESTART_PAGES, Task, WRITER_BACKSTOP_PAGES};

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

    /// After a restart, the next write starts the WAL over, though the passive checkpoint
    /// before it left pages a read still needed (under steady reads and writes, it seldom
    /// copies all), and though a read began before the restart.
    #[tokio::test]
    async fn the_write_after_a_restart_starts_the_wal_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", WRITER_BACKSTOP_PAGES);
        let writer = Arc::new(Connections::open(options.clone(), 1).await.unwrap());
        let task = Task {
            connection: Arc::new(Connections::open(options.clone(), 1).await.unwrap()),
            writer: writer.clone(),
            file: path.clone(),
            // Longer than the read below, whatever the machine's pace.
            readers_wait_ms: 10_000,
        };
        let write = |sql: &'static str| {
            let writer = writer.clone();
            async move {
                sqlx::query(sql)
                    .execute(&mut *writer.lend().await.unwrap())
                    .await
                    .unwrap();
            }
        };
        write("CREATE TABLE filler (x BLOB)").await;
        // Past the restart's threshold: one page per row, in one transaction.
        write(
            "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
             INSERT INTO filler SELECT randomblob(4000) FROM n",
        )
        .await;
        // A read in progress, and a write it does not see.
        let mut reader = options.connect().await.unwrap();
        sqlx::raw_sql("BEGIN; SELECT count(*) FROM filler")
            .execute(&mut reader)
            .await
            .unwrap();
        write("INSERT INTO filler VALUES (NULL)").await;
        let pages = task.copy().await.unwrap();
        assert!(pages >= RESTART_PAGES, "pages in the WAL: {pages}");
        sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();
        // A read that begins before the restart.
        sqlx::raw_sql("BEGIN; SELECT count(*) FROM filler")
            .execute(&mut reader)
            .await
            .unwrap();
        let read_ends = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();
        });

        // The WAL header's checkpoint sequence number (bytes 12 to 15) grows each time the
        // WAL starts over.
        let wal = dir.path().join("wal.db-wal");
        let sequence = || {
            let header = std::fs::read(&wal).unwrap();
            u32::from_be_bytes(header[12..16].try_into().unwrap())
        };
        let before = sequence();
        task.restart().await.unwrap();
        // Had the restart not waited for the read, this write would find it in progress,
        // and append to the WAL.
        write("INSERT INTO filler VALUES (NULL)").await;
        read_ends.await.unwrap();
        assert_ne!(sequence(), before, "the WAL did not start over");
        writer.close().await;
        task.connection.close().await;
    }

    /// A read that outlasts the restart's patience leaves the WAL to the next restart: the
    /// writer is held for that long, not for its busy timeout, which it gets back.
    #[tokio::test]
    async fn a_long_read_does_not_hold_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(5));
        let writer = Arc::new(Connections::open(options.clone(), 1).await.unwrap());
        let task = Task {
            connection: Arc::new(Connections::open(options.clone(), 1).await.unwrap()),
            writer: writer.clone(),
            file: path.clone(),
            readers_wait_ms: 20,
        };
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut *writer.lend().await.unwrap())
            .await
            .unwrap();
        let mut reader = options.connect().await.unwrap();
        sqlx::raw_sql("BEGIN; SELECT count(*) FROM t")
            .execute(&mut reader)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut *writer.lend().await.unwrap())
            .await
            .unwrap();

        let started = std::time::Instant::now();
        task.restart().await.unwrap();
        let held = started.elapsed();
        assert!(
            held < std::time::Duration::from_secs(2),
            "held for {held:?}"
        );
        let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *writer.lend().await.unwrap())
            .await
            .unwrap();
        assert_eq!(busy_timeout, 5_000);
        sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();
        writer.close().await;
        task.connection.close().await;
    }
}
