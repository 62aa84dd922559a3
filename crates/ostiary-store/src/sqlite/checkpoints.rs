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

/// How long the restart waits for reads that began before it.
const READERS_WAIT: Duration = Duration::from_millis(20);

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
    /// The database file as SQLite opened it, synced before the restart (none in memory).
    file: Option<PathBuf>,
    /// The writer's busy timeout, lowered to `readers_wait` for the restart only.
    busy_timeout: Duration,
    /// How long the restart waits for reads that began before it.
    readers_wait: Duration,
    /// The WAL's size, in pages, that starts the next restart: [`RESTART_PAGES`], or more
    /// after a restart gave way to a long read (a backup, a replica's reader), so that the
    /// writer is not held again at every checkpoint while that read lasts.
    restart_at: i64,
}

impl Checkpoints {
    /// Opens the checkpoint connection and starts its task (on the current Tokio runtime).
    pub(crate) async fn start(
        options: SqliteConnectOptions,
        writer: Arc<Connections>,
    ) -> Result<Self, sqlx::Error> {
        let connection = Arc::new(Connections::open(options, 1).await?);
        // SQLite's own name for the file (a `file:` URI or a relative path resolved); empty
        // for a database in memory.
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&mut *connection.lend().await?)
                .await?;
        let wanted = Arc::new(Notify::new());
        let task = Task {
            connection: connection.clone(),
            writer,
            file: (!file.is_empty()).then(|| PathBuf::from(file)),
            busy_timeout: super::BUSY_TIMEOUT,
            readers_wait: READERS_WAIT,
            restart_at: RESTART_PAGES,
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

    /// Stops the task and closes its connection.
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
    async fn run(mut self, wanted: Arc<Notify>) {
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

    async fn checkpoint(&mut self) -> Result<(), sqlx::Error> {
        let pages = self.copy().await?;
        if pages < RESTART_PAGES {
            self.restart_at = RESTART_PAGES;
        } else if pages >= self.restart_at {
            self.sync_file().await?;
            if self.restart().await? {
                self.restart_at = RESTART_PAGES;
            } else {
                tracing::debug!(pages, "an SQLite WAL restart gave way to a long read");
                self.restart_at = pages + RESTART_PAGES;
            }
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

    /// Syncs the database file, with no lock held: what passive checkpoints copied reaches
    /// the disk while the writer goes on (SQLite syncs the file only when a checkpoint copies
    /// the whole WAL).
    async fn sync_file(&self) -> Result<(), sqlx::Error> {
        let Some(file) = self.file.clone() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || std::fs::File::open(file)?.sync_data())
            .await
            .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?
            .map_err(sqlx::Error::Io)
    }

    /// Holds the writer for a `RESTART` checkpoint: it copies the rest, syncs the little
    /// copied since [`Task::sync_file`], and waits for the reads that began before it, so
    /// that the next write starts the WAL over. False when a read outlasted `readers_wait`:
    /// the WAL is then copied as far as that read allows, and not started over.
    async fn restart(&self) -> Result<bool, sqlx::Error> {
        let mut writer = self.writer.lend().await?;
        set_busy_timeout(&mut writer, self.readers_wait).await?;
        // (busy, pages in the WAL, pages copied)
        let restart: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(RESTART)")
            .fetch_one(&mut *writer)
            .await;
        set_busy_timeout(&mut writer, self.busy_timeout).await?;
        Ok(restart?.0 == 0)
    }
}

async fn set_busy_timeout(
    connection: &mut sqlx::SqliteConnection,
    timeout: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA busy_timeout = {}",
        timeout.as_millis()
    )))
    .execute(connection)
    .await
    .map(drop)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly

    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use sqlx::ConnectOptions;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};

    use super::super::SqliteStore;
    use super::super::connections::Connections;
    use super::{READERS_WAIT, RESTART_PAGES, Task, WRITER_BACKSTOP_PAGES};

    /// How long the tests' connections wait for a lock: far longer than any test takes.
    const TEST_BUSY_TIMEOUT: Duration = Duration::from_secs(60);

    /// A checkpoint task on `wal.db` in `dir`, with its writer, whose restarts wait
    /// `readers_wait` for reads; and the options of the database's connections.
    async fn task_in(
        dir: &tempfile::TempDir,
        readers_wait: Duration,
    ) -> (Task, SqliteConnectOptions) {
        let path = dir.path().join("wal.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", WRITER_BACKSTOP_PAGES)
            .busy_timeout(TEST_BUSY_TIMEOUT);
        let task = Task {
            connection: Arc::new(Connections::open(options.clone(), 1).await.unwrap()),
            writer: Arc::new(Connections::open(options.clone(), 1).await.unwrap()),
            file: Some(path),
            busy_timeout: TEST_BUSY_TIMEOUT,
            readers_wait,
            restart_at: RESTART_PAGES,
        };
        (task, options)
    }

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
        for _ in 0..200 {
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
        // Readers waited for longer than the read below, whatever the machine's pace.
        let (task, options) = task_in(&dir, Duration::from_secs(30)).await;
        let writer = task.writer.clone();
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
        task.sync_file().await.unwrap();
        // A read that begins before the restart, and ends while it waits.
        sqlx::raw_sql("BEGIN; SELECT count(*) FROM filler")
            .execute(&mut reader)
            .await
            .unwrap();
        let read_ended = Arc::new(AtomicBool::new(false));
        let read_ends = tokio::spawn({
            let read_ended = read_ended.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();
                read_ended.store(true, Ordering::SeqCst);
            }
        });

        // The WAL header's checkpoint sequence number (bytes 12 to 15) grows each time the
        // WAL starts over.
        let wal = dir.path().join("wal.db-wal");
        let sequence = || {
            let header = std::fs::read(&wal).unwrap();
            u32::from_be_bytes(header[12..16].try_into().unwrap())
        };
        let before = sequence();
        assert!(task.restart().await.unwrap());
        assert!(
            read_ended.load(Ordering::SeqCst),
            "the restart did not wait"
        );
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
        let (task, options) = task_in(&dir, READERS_WAIT).await;
        let writer = task.writer.clone();
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
        assert!(
            !task.restart().await.unwrap(),
            "the restart did not give way"
        );
        let held = started.elapsed();
        assert!(held < Duration::from_secs(30), "held for {held:?}");
        let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *writer.lend().await.unwrap())
            .await
            .unwrap();
        assert_eq!(busy_timeout, 60_000);
        sqlx::raw_sql("COMMIT").execute(&mut reader).await.unwrap();
        writer.close().await;
        task.connection.close().await;
    }
}
