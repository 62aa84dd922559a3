//! PostgreSQL's reads of the user flows' rows by key (`sql::lookups`), in batches
//! (`crate::batches`): the keys of one lookup that queue while a batch is read go into the
//! next, one statement for all of them. Read one statement each, a refresh's lookup of its
//! family cost the database about 80 µs of CPU, most of it the statement's own (the round
//! trip's system calls and wake-ups, starting the executor, locking four relations), against
//! a few microseconds of index lookups; it was more than half of what the database spent on
//! a refresh (bench/README.md, 2026-12-02).

use std::marker::PhantomData;
use std::sync::Arc;

use ostiary_core::StoreError;
use ostiary_core::secret::SecretHash;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Row};

use super::PgStore;
use super::health::Health;
use crate::batches::{Batch, Queue, placed};
use crate::rows::{PresentedCodeRow, PresentedSessionRow, RefreshFamilyRow};
use crate::sql::lookups::for_each_key;

/// Connections of the batches' pool the lookups take: one per queue, each reading one batch
/// at a time.
pub(crate) const CONNECTIONS: u32 = 3;

/// At most this many keys share a statement: one text serves any number (unlike SQLite's
/// batches of writes), so a slow round trip (a database across a network) lets more keys
/// wait for the next batch instead of capping the lookups at 16 per round trip.
const MAX_KEYS: usize = 256;

/// The queues of the lookups, one per kind, each with its own task.
#[derive(Debug)]
pub(crate) struct Lookups {
    sessions: Queue<Vec<u8>, Option<PresentedSessionRow>>,
    codes: Queue<Vec<u8>, Option<PresentedCodeRow>>,
    refresh_families: Queue<Vec<u8>, Option<RefreshFamilyRow>>,
}

impl Lookups {
    /// Starts the queues' tasks, each reading through `pool` (the batches' pool, with
    /// sequential scans off and generic plans, see `PgStore::open`) while `health` passes.
    pub(crate) fn start(pool: &PgPool, health: &Arc<Health>) -> Self {
        fn by_key<R>(pool: &PgPool, health: &Arc<Health>, sql: &'static str) -> ByKey<R> {
            ByKey {
                pool: pool.clone(),
                health: health.clone(),
                sql,
                row: PhantomData,
            }
        }
        Self {
            sessions: Queue::start(
                "session lookups",
                by_key(pool, health, for_each_key!(presented_session)),
                MAX_KEYS,
            ),
            codes: Queue::start(
                "code lookups",
                by_key(pool, health, for_each_key!(presented_code)),
                MAX_KEYS,
            ),
            refresh_families: Queue::start(
                "refresh token lookups",
                by_key(pool, health, for_each_key!(refresh_family)),
                MAX_KEYS,
            ),
        }
    }

    /// Fails once any queue's task has ended (see [`Queue::check`]).
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        self.sessions.check()?;
        self.codes.check()?;
        self.refresh_families.check()
    }
}

impl PgStore {
    /// The session whose id hashes to `key` (`sql::lookups::presented_session!`).
    pub(crate) async fn presented_session_row(
        &self,
        key: &SecretHash,
    ) -> Result<Option<PresentedSessionRow>, StoreError> {
        self.lookups.sessions.submit(key.as_bytes().to_vec()).await
    }

    /// The code that hashes to `key` (`sql::lookups::presented_code!`).
    pub(crate) async fn presented_code_row(
        &self,
        key: &SecretHash,
    ) -> Result<Option<PresentedCodeRow>, StoreError> {
        self.lookups.codes.submit(key.as_bytes().to_vec()).await
    }

    /// The refresh token that hashes to `key`, with its grant
    /// (`sql::lookups::refresh_family!`).
    pub(crate) async fn refresh_family_row(
        &self,
        key: &SecretHash,
    ) -> Result<Option<RefreshFamilyRow>, StoreError> {
        self.lookups
            .refresh_families
            .submit(key.as_bytes().to_vec())
            .await
    }
}

/// One lookup's statement (`sql::lookups::for_each_key!`) over a batch of keys, rows `R`.
struct ByKey<R> {
    pool: PgPool,
    health: Arc<Health>,
    sql: &'static str,
    row: PhantomData<fn() -> R>,
}

/// A row of a batch: the number of its key (`batch_number`), from 1, and the lookup's row.
struct Numbered<R> {
    number: i64,
    row: R,
}

impl<'r, R: FromRow<'r, PgRow>> FromRow<'r, PgRow> for Numbered<R> {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            number: row.try_get("batch_number")?,
            row: R::from_row(row)?,
        })
    }
}

impl<R> Batch<Vec<u8>> for ByKey<R>
where
    R: for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static,
{
    type Output = Option<R>;

    async fn run(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<R>>, StoreError> {
        self.health.check()?;
        let rows: Vec<Numbered<R>> = sqlx::query_as(self.sql)
            .bind(keys)
            .fetch_all(&self.pool)
            .await
            .map_err(crate::error::backend)?;
        placed(
            keys.len(),
            rows.into_iter()
                .map(|Numbered { number, row }| (number - 1, row)),
        )
    }
}
