//! SQLite connections lent to statements by the store itself rather than by sqlx's pool,
//! which pings every connection it gets back: a round trip to the connection's thread that,
//! on the one writer, every following write waited behind.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{ConnectOptions, Connection, Database, SqlSafeStr, Sqlite};
use sqlx_core::transaction::TransactionManager;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard, Semaphore, SemaphorePermit};

/// How long a statement waits for a connection before it fails (`PoolTimedOut`).
const LEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Up to `max` connections to one database, each opened when first needed and then kept
/// (no idle timeout: a reader opened in a burst keeps its thread). A connection is the
/// borrower's until its [`Lent`] is dropped. What a dropped future (a cancelled request) had
/// sent is finished or abandoned on the connection's thread before the next borrower's
/// statements, an unfinished [`WriteTransaction`] queues its rollback first, and a
/// connection an unfinished batch may have left inside its transaction is settled.
#[derive(Debug)]
pub(crate) struct Connections {
    options: SqliteConnectOptions,
    /// One permit per slot: a borrower holds one, so a borrower with a permit always finds a
    /// free slot, and waiting borrowers are served in the order they came.
    permits: Semaphore,
    slots: Vec<Mutex<Option<Opened>>>,
    open: AtomicU32,
    lent: AtomicU32,
}

/// An open connection of a slot.
#[derive(Debug)]
struct Opened {
    connection: SqliteConnection,
    /// A batch that begins and commits its own transaction ([`Lent::run_own_transaction`])
    /// failed or was dropped on this connection: it may be inside that transaction, holding
    /// the database's write lock, and sqlx does not know it (it rolls back only the
    /// transactions it began). Such a connection is settled ([`Opened::settle`]) before
    /// anyone uses it again.
    unsettled: bool,
}

impl Opened {
    async fn connect(options: &SqliteConnectOptions) -> Result<Self, sqlx::Error> {
        Ok(Self {
            connection: options.connect().await?,
            unsettled: false,
        })
    }

    /// Ends whatever transaction a batch left open, after what the batch had sent (the
    /// connection's thread runs commands in order). `SAVEPOINT` begins a transaction where
    /// none is open, so the `ROLLBACK` after it has one to end either way, and an error is
    /// the connection's own: the caller then closes it, which rolls back too.
    async fn settle(&mut self) -> Result<(), sqlx::Error> {
        sqlx::raw_sql("SAVEPOINT settle; ROLLBACK")
            .execute(&mut self.connection)
            .await?;
        self.unsettled = false;
        Ok(())
    }
}

impl Connections {
    /// Opens the first connection at once, so a database that cannot be opened fails here.
    pub(crate) async fn open(options: SqliteConnectOptions, max: u32) -> Result<Self, sqlx::Error> {
        let first = Opened::connect(&options).await?;
        let mut slots: Vec<_> = (0..max.max(1)).map(|_| Mutex::new(None)).collect();
        slots[0] = Mutex::new(Some(first));
        Ok(Self {
            options,
            permits: Semaphore::new(slots.len()),
            slots,
            open: AtomicU32::new(1),
            lent: AtomicU32::new(0),
        })
    }

    /// A connection of the caller's own until the [`Lent`] is dropped: the first free one,
    /// settled first if a batch left it unsettled, opened now if it never was (or could not
    /// be settled). Waits up to five seconds for one to come back.
    pub(crate) async fn lend(self: &Arc<Self>) -> Result<Lent<'_>, sqlx::Error> {
        let permit = tokio::time::timeout(LEND_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let Some(mut slot) = self.slots.iter().find_map(|slot| slot.try_lock().ok()) else {
            // Every slot locked by a holder of a permit: cannot happen while `Lent` releases
            // its slot before its permit.
            return Err(sqlx::Error::PoolTimedOut);
        };
        // Dropped midway (a borrower that went away), the settling is done again by the task
        // the unsettling borrower started (`settle_soon`), which has yet to come: had it come
        // first, it would have found the connection unsettled and settled it.
        if let Some(opened) = slot.as_mut().filter(|opened| opened.unsettled)
            && let Err(e) = opened.settle().await
        {
            tracing::warn!(error = %e, "an SQLite connection could not roll back; reconnecting");
            // Dropped, it finishes what it was sent on its thread and then closes, which rolls
            // back a transaction left open; the new connection's first write waits for that
            // lock through the busy timeout.
            *slot = None;
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
        if slot.is_none() {
            *slot = Some(Opened::connect(&self.options).await?);
            self.open.fetch_add(1, Ordering::Relaxed);
        }
        let opened =
            MutexGuard::try_map(slot, Option::as_mut).map_err(|_| sqlx::Error::PoolClosed)?;
        self.lent.fetch_add(1, Ordering::Relaxed);
        Ok(Lent {
            opened,
            owner: self,
            _permit: permit,
        })
    }

    /// Runs `SELECT 1` on a lent connection. sqlx ends a connection's thread when it cannot
    /// roll back a `BEGIN` whose caller went away (`WorkerCrashed` from then on): such a
    /// connection is replaced here, and the probe fails only if the new one cannot open.
    /// The readiness probe calls this, so a writer lost that way comes back on its own.
    pub(crate) async fn probe(self: &Arc<Self>) -> Result<(), sqlx::Error> {
        let mut lent = self.lend().await?;
        match sqlx::query("SELECT 1").execute(&mut *lent).await {
            Err(sqlx::Error::WorkerCrashed) => {
                tracing::warn!("an SQLite connection's thread had ended; reconnecting");
                *lent.opened = Opened::connect(&self.options).await?;
                Ok(())
            }
            result => result.map(drop),
        }
    }

    /// Waits for every lent connection to come back and closes them all (SQLite checkpoints
    /// the WAL as the last one closes); lending fails from then on.
    pub(crate) async fn close(&self) {
        let all = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        if let Ok(permits) = self.permits.acquire_many(all).await {
            permits.forget();
        }
        self.permits.close();
        for slot in &self.slots {
            if let Some(opened) = slot.lock().await.take() {
                // Closing a file: an error leaves nothing to recover.
                let _ = opened.connection.close().await;
                self.open.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Connections open, idle and allowed, for the pool gauges.
    pub(crate) fn stats(&self) -> ostiary_core::PoolStats {
        // Counters, not the slots' locks: a look at a slot could make a borrower miss it.
        let open = self.open.load(Ordering::Relaxed);
        let lent = self.lent.load(Ordering::Relaxed);
        ostiary_core::PoolStats {
            open,
            idle: open.saturating_sub(lent),
            max: u32::try_from(self.slots.len()).unwrap_or(u32::MAX),
        }
    }
}

/// A connection lent by [`Connections::lend`]; it goes back when this is dropped.
#[derive(Debug)]
pub(crate) struct Lent<'a> {
    /// Declared first: fields drop in order, so the slot is free before the permit is.
    opened: MappedMutexGuard<'a, Opened>,
    owner: &'a Arc<Connections>,
    _permit: SemaphorePermit<'a>,
}

impl Lent<'_> {
    /// Runs `batch`, statements that begin and commit their own transaction (`BEGIN
    /// IMMEDIATE; ...; COMMIT`), in one round trip to the connection's thread, and returns
    /// the rows they select (sqlx sums `sqlite3_changes()` after every statement, `BEGIN`
    /// and `COMMIT` too, so only a selected row tells what was written).
    ///
    /// Errors: the first statement that fails. The transaction may then be open, and so it
    /// may be when the returned future is dropped midway: the connection is then settled
    /// (see [`Opened::unsettled`]) before anyone else uses it, which rolls back whatever the
    /// batch wrote. The settling is started at once by a task of its own, which lends the
    /// first free connection: this is for the one-connection writer.
    pub(crate) async fn run_own_transaction(
        &mut self,
        batch: sqlx::query::Query<'_, Sqlite, SqliteArguments>,
    ) -> Result<Vec<SqliteRow>, sqlx::Error> {
        self.opened.unsettled = true;
        // `fetch_all` asks for every row, so the connection's thread runs every statement up
        // to `COMMIT` unless one fails; `fetch_optional` or `fetch_one` would stop it after
        // the first row, inside the transaction.
        let rows = batch.fetch_all(&mut self.opened.connection).await?;
        self.opened.unsettled = false;
        Ok(rows)
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        self.owner.lent.fetch_sub(1, Ordering::Relaxed);
        if self.opened.unsettled {
            settle_soon(self.owner);
        }
    }
}

/// Settles an unsettled connection now rather than at its next use: a transaction left open
/// holds the write lock against every other process (the admin commands) while the server
/// is idle. A task lends the connection, which settles it ([`Connections::lend`]); outside a
/// runtime (never in the server) it waits for its next use.
fn settle_soon(connections: &Arc<Connections>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let connections = Arc::clone(connections);
        runtime.spawn(async move {
            if let Err(e) = connections.lend().await {
                tracing::warn!(error = %e, "an SQLite connection left unsettled");
            }
        });
    }
}

impl Deref for Lent<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.opened.connection
    }
}

impl DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.opened.connection
    }
}

/// A transaction on a lent connection, begun with a statement of the caller's choice
/// (`BEGIN IMMEDIATE`). Dropped without [`commit`](Self::commit), it is rolled back before
/// the connection serves anyone else.
#[derive(Debug)]
pub(crate) struct WriteTransaction<'a> {
    connection: Lent<'a>,
    open: bool,
}

impl<'a> WriteTransaction<'a> {
    pub(crate) async fn begin(
        mut connection: Lent<'a>,
        statement: &'static str,
    ) -> Result<Self, sqlx::Error> {
        Manager::begin(&mut connection, Some(statement.into_sql_str())).await?;
        Ok(Self {
            connection,
            open: true,
        })
    }

    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        Manager::commit(&mut self.connection).await?;
        self.open = false;
        Ok(())
    }

    pub(crate) async fn rollback(mut self) -> Result<(), sqlx::Error> {
        Manager::rollback(&mut self.connection).await?;
        self.open = false;
        Ok(())
    }
}

type Manager = <Sqlite as Database>::TransactionManager;

impl Deref for WriteTransaction<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.connection
    }
}

impl DerefMut for WriteTransaction<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.connection
    }
}

impl Drop for WriteTransaction<'_> {
    fn drop(&mut self) {
        if self.open {
            // Queued on the connection's thread ahead of anything a later borrower sends.
            Manager::start_rollback(&mut self.connection);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly

    use super::*;

    /// A batch that fails after its `BEGIN`, or whose caller goes away, can leave SQLite
    /// inside its transaction. What it wrote must be rolled back (or committed whole) and the
    /// write lock freed without waiting for the next borrower: another process (an admin
    /// command) must be able to write.
    #[tokio::test]
    async fn a_failed_or_dropped_batch_is_whole_or_nothing_and_frees_the_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("batch.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let writer = Arc::new(Connections::open(options.clone(), 1).await.unwrap());
        sqlx::raw_sql("CREATE TABLE t (x INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)")
            .execute(&mut *writer.lend().await.unwrap())
            .await
            .unwrap();

        // Another process's connection, which does not wait for a lock.
        let mut other = options
            .busy_timeout(Duration::ZERO)
            .connect()
            .await
            .unwrap();

        let batch = "BEGIN IMMEDIATE; INSERT INTO t VALUES ($1) RETURNING 1; \
                     INSERT INTO t VALUES ($2); COMMIT";
        let failed = writer
            .lend()
            .await
            .unwrap()
            .run_own_transaction(sqlx::query(batch).bind(2).bind(1))
            .await;
        assert!(failed.is_err(), "the second insert repeats a key");
        assert!(
            writes_soon(&mut other, 3).await,
            "the failed batch kept the write lock"
        );
        assert_eq!(
            rows(&mut other).await,
            [1, 3],
            "the failed batch's first insert was rolled back"
        );

        // A batch whose caller goes away while it runs, and no later borrower.
        {
            let mut lent = writer.lend().await.unwrap();
            let dropped = lent.run_own_transaction(sqlx::query(batch).bind(4).bind(5));
            let mut dropped = std::pin::pin!(dropped);
            assert!(futures::poll!(dropped.as_mut()).is_pending());
        }
        assert!(
            writes_soon(&mut other, 6).await,
            "the dropped batch kept the write lock"
        );
        let after = rows(&mut other).await;
        assert!(
            after == [1, 3, 6] || after == [1, 3, 4, 5, 6],
            "the dropped batch was written in part: {after:?}"
        );

        let won = writer
            .lend()
            .await
            .unwrap()
            .run_own_transaction(sqlx::query(batch).bind(7).bind(8))
            .await
            .unwrap();
        assert_eq!(won.len(), 1, "the writer serves the next batch");
        assert_eq!(writer.stats().open, 1);
    }

    /// Whether `connection` (which does not wait for locks) inserts `x` within two seconds.
    async fn writes_soon(connection: &mut SqliteConnection, x: i64) -> bool {
        for _ in 0..100 {
            let insert = sqlx::query("INSERT INTO t VALUES ($1)").bind(x);
            if insert.execute(&mut *connection).await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    async fn rows(connection: &mut SqliteConnection) -> Vec<i64> {
        sqlx::query_scalar("SELECT x FROM t ORDER BY x")
            .fetch_all(connection)
            .await
            .unwrap()
    }
}
