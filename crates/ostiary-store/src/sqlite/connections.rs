//! SQLite connections lent to statements by the store itself rather than by sqlx's pool,
//! which pings every connection it gets back: a round trip to the connection's thread that,
//! on the one writer, every following write waited behind.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection, Database, SqlSafeStr, Sqlite};
use sqlx_core::transaction::TransactionManager;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard, Semaphore, SemaphorePermit};

/// How long a statement waits for a connection before it fails (`PoolTimedOut`).
const LEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Up to `max` connections to one database, each opened when first needed and then kept
/// (no idle timeout: a reader opened in a burst keeps its thread). A connection is the
/// borrower's until its [`Lent`] is dropped. What a dropped future (a cancelled request) had
/// sent is finished or abandoned on the connection's thread before the next borrower's
/// statements, and an unfinished [`WriteTransaction`] queues its rollback first.
#[derive(Debug)]
pub(crate) struct Connections {
    options: SqliteConnectOptions,
    /// One permit per slot: a borrower holds one, so a borrower with a permit always finds a
    /// free slot, and waiting borrowers are served in the order they came.
    permits: Semaphore,
    slots: Vec<Mutex<Option<SqliteConnection>>>,
    open: AtomicU32,
    lent: AtomicU32,
}

impl Connections {
    /// Opens the first connection at once, so a database that cannot be opened fails here.
    pub(crate) async fn open(options: SqliteConnectOptions, max: u32) -> Result<Self, sqlx::Error> {
        let first = options.connect().await?;
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
    /// opened now if it never was. Waits up to five seconds for one to come back.
    pub(crate) async fn lend(&self) -> Result<Lent<'_>, sqlx::Error> {
        let permit = tokio::time::timeout(LEND_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let Some(mut slot) = self.slots.iter().find_map(|slot| slot.try_lock().ok()) else {
            // Every slot locked by a holder of a permit: cannot happen while `Lent` releases
            // its slot before its permit.
            return Err(sqlx::Error::PoolTimedOut);
        };
        if slot.is_none() {
            *slot = Some(self.options.connect().await?);
            self.open.fetch_add(1, Ordering::Relaxed);
        }
        let connection =
            MutexGuard::try_map(slot, Option::as_mut).map_err(|_| sqlx::Error::PoolClosed)?;
        self.lent.fetch_add(1, Ordering::Relaxed);
        Ok(Lent {
            connection,
            lent: &self.lent,
            _permit: permit,
        })
    }

    /// Runs `SELECT 1` on a lent connection. sqlx ends a connection's thread when it cannot
    /// roll back a `BEGIN` whose caller went away (`WorkerCrashed` from then on): such a
    /// connection is replaced here, and the probe fails only if the new one cannot open.
    /// The readiness probe calls this, so a writer lost that way comes back on its own.
    pub(crate) async fn probe(&self) -> Result<(), sqlx::Error> {
        let mut lent = self.lend().await?;
        match sqlx::query("SELECT 1").execute(&mut *lent).await {
            Err(sqlx::Error::WorkerCrashed) => {
                tracing::warn!("an SQLite connection's thread had ended; reconnecting");
                *lent = self.options.connect().await?;
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
            if let Some(connection) = slot.lock().await.take() {
                // Closing a file: an error leaves nothing to recover.
                let _ = connection.close().await;
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
    connection: MappedMutexGuard<'a, SqliteConnection>,
    lent: &'a AtomicU32,
    _permit: SemaphorePermit<'a>,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        self.lent.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Deref for Lent<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.connection
    }
}

impl DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.connection
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
