//! Writes (and, on PostgreSQL, reads) that queue for the database, run in batches: the items
//! of one kind that arrive while a batch is being run go into the next, one transaction in one
//! round trip to the database. One at a time, each write held SQLite's one writer connection
//! for a round trip to its thread and then for the wake-up of the next borrower's task (the
//! bench's refresh phase left a fifth of the machine's CPU idle behind that queue, the code
//! phase a quarter); on PostgreSQL each was a round trip and a commit of its own. Three kinds
//! go this way, the writes of the user flows: a code's insertion (`/authorize`), its
//! redemption and a refresh rotation (`/token`). Each backend writes a batch its own way
//! (`sqlite/batches.rs`, `postgres/batches.rs`). PostgreSQL also reads the user flows' rows by
//! key this way (`postgres/lookups.rs`): a statement of its own cost each read more of the
//! database's CPU than its index lookups.

use std::future::Future;
use std::time::Duration;

use ostiary_core::StoreError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::rows::{CodeRow, GrantRow, RefreshTokenRow};

/// At most this many writes share a transaction. On SQLite each batch size of each kind is a
/// text of its own in the writer's statement cache (48 of them). A queue of lookups, one text
/// for any size, takes its own limit (`Queue::start`).
pub(crate) const MAX_BATCH: usize = 16;

/// Items waiting beyond those in the batch being run; a sender waits for room (requests are
/// bounded by connections long before this).
const QUEUE: usize = 1024;

/// One refresh rotation, as `GrantStore::rotate_refresh_token` takes it: the presented
/// token's hash `old`, rotated at `at` (Unix seconds) into `new`, whose row keeps the sealed
/// `answer`. It takes effect when the old token was unrotated, of its grant, and the grant
/// live.
#[derive(Debug)]
pub(crate) struct Rotation {
    pub old: Vec<u8>,
    pub at: i64,
    pub answer: Vec<u8>,
    pub new: RefreshTokenRow,
}

/// One code's redemption, as `GrantStore::redeem_code` takes it: the code `code_hash`
/// consumed at `at` (Unix seconds), its `grant` inserted with the grant's first `refresh`
/// token if it has one. It takes effect when the code was unconsumed.
#[derive(Debug)]
pub(crate) struct Redemption {
    pub code_hash: Vec<u8>,
    pub at: i64,
    pub grant: GrantRow,
    pub refresh: Option<RefreshTokenRow>,
}

/// How a backend runs a batch of `I` in one transaction, `Output` being what each item gets:
/// for a write, whether it took effect (an item that does not writes nothing; see the item's
/// type); for a read, the row found.
pub(crate) trait Batch<I>: Send + Sync + 'static {
    type Output: Send + 'static;

    /// Runs `items` whole or not at all, giving each item's output in order. Errors: the
    /// batch's, a unique violation being a `Conflict` over the record the item writes.
    fn run(
        &self,
        items: &[I],
    ) -> impl Future<Output = Result<Vec<Self::Output>, StoreError>> + Send;
}

type Reply<O> = oneshot::Sender<Result<O, StoreError>>;

/// The queue of one kind of item, whose outputs are `O`, and the task that runs its batches.
#[derive(Debug)]
pub(crate) struct Queue<I, O = bool> {
    queue: mpsc::Sender<(I, Reply<O>)>,
    task: AbortHandle,
    /// The items, as errors name them ("refresh rotations").
    what: &'static str,
}

impl<I: Send + Sync + 'static, O: Send + 'static> Queue<I, O> {
    /// Starts the task (on the current Tokio runtime) that runs batches of `what` through
    /// `backend`, at most `max` items each.
    pub(crate) fn start(
        what: &'static str,
        backend: impl Batch<I, Output = O>,
        max: usize,
    ) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(what, backend, max, waiting)).abort_handle();
        Self { queue, task, what }
    }

    /// Runs `item` with whatever others wait beside it, giving its output (for a write,
    /// whether it took effect). Errors: a failure of its own (a batch that fails over one item
    /// is run again one item at a time), or of its whole batch (the database's, or no
    /// answer within [`BATCH_TIMEOUT`], after which PostgreSQL may still commit a write: the
    /// caller is told of an error although its write stands, which fails safe, a client's
    /// retry then being a replay). Dropped before its batch is run, the item is not run at
    /// all.
    pub(crate) async fn submit(&self, item: I) -> Result<O, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((item, reply))
            .await
            .map_err(|_| stopped(self.what))?;
        answer.await.map_err(|_| stopped(self.what))?
    }

    /// Fails once the items are no longer run (the task has ended: the store is closing, or
    /// the task failed), for the readiness probe to report.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if self.queue.is_closed() {
            return Err(stopped(self.what));
        }
        Ok(())
    }

    /// Stops the task. A batch of writes under way may still commit on the database's side; its
    /// callers are told the store is closing.
    pub(crate) fn stop(&self) {
        self.task.abort();
    }
}

impl<I, O> Drop for Queue<I, O> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The queues of a store, one per kind of batched write, each with its own task.
#[derive(Debug)]
pub(crate) struct Batches {
    /// Codes issued at `/authorize`; one takes effect while its session is stored.
    pub codes: Queue<CodeRow>,
    pub redemptions: Queue<Redemption>,
    pub rotations: Queue<Rotation>,
}

impl Batches {
    /// Starts the three queues' tasks, each writing through its own clone of `writer`.
    pub(crate) fn start<W>(writer: W) -> Self
    where
        W: Batch<CodeRow, Output = bool>
            + Batch<Redemption, Output = bool>
            + Batch<Rotation, Output = bool>
            + Clone,
    {
        Self {
            codes: Queue::start("authorization codes", writer.clone(), MAX_BATCH),
            redemptions: Queue::start("code redemptions", writer.clone(), MAX_BATCH),
            rotations: Queue::start("refresh rotations", writer, MAX_BATCH),
        }
    }

    /// Fails once any queue's task has ended (see [`Queue::check`]).
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        self.codes.check()?;
        self.redemptions.check()?;
        self.rotations.check()
    }

    /// Stops the three tasks (see [`Queue::stop`]).
    pub(crate) fn stop(&self) {
        self.codes.stop();
        self.redemptions.stop();
        self.rotations.stop();
    }
}

/// How long a batch may take before its callers are answered with an error, so that one
/// stuck batch (a connection that stopped answering) does not hold every item behind it.
const BATCH_TIMEOUT: Duration = Duration::from_secs(10);

fn stopped(what: &str) -> StoreError {
    StoreError::Backend(format!("the store is closing: {what} are no longer run").into())
}

async fn run<I: Send + Sync, O: Send>(
    what: &'static str,
    backend: impl Batch<I, Output = O>,
    max: usize,
    mut waiting: mpsc::Receiver<(I, Reply<O>)>,
) {
    let mut batch = Vec::with_capacity(max);
    while waiting.recv_many(&mut batch, max).await > 0 {
        // A caller that went away (its request timed out or was cancelled) while its item
        // waited gets nothing run: a rotation written later, at its old time, would turn
        // the client's retry with the same token into a replay once the grace period is over;
        // a code or a grant would go to no one.
        let (items, replies): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .filter(|(_, reply): &(I, Reply<O>)| !reply.is_closed())
            .unzip();
        if items.is_empty() {
            continue;
        }
        let results = match run_batch(what, &backend, &items).await {
            Ok(outputs) => outputs.into_iter().map(Ok).collect(),
            Err(e) if items.len() == 1 => vec![Err(e)],
            // One item's own failure took the others' transaction with it: each is run
            // again alone, so that only its failure reaches its caller.
            Err(e) if one_items_fault(&e) => {
                let mut results = Vec::with_capacity(items.len());
                for (item, reply) in items.iter().zip(&replies) {
                    if reply.is_closed() {
                        results.push(Err(stopped(what)));
                        continue;
                    }
                    let alone = run_batch(what, &backend, std::slice::from_ref(item)).await;
                    results.push(alone.and_then(|outputs| {
                        outputs
                            .into_iter()
                            .next()
                            .ok_or(StoreError::Corrupt("batch"))
                    }));
                }
                results
            }
            // The database's failure, not an item's: every caller gets it.
            Err(e) => {
                let cause = failed_batch(what, &e);
                let shared = || StoreError::Backend(cause.clone().into());
                let mut results: Vec<_> = (1..items.len()).map(|_| Err(shared())).collect();
                results.insert(0, Err(e));
                results
            }
        };
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have gone away meanwhile; a write stands, like any write.
            let _ = reply.send(result);
        }
    }
}

/// `backend.run(items)`, failing after [`BATCH_TIMEOUT`], or with `Corrupt` when it gives
/// other than one output per item (no caller is left without its answer).
async fn run_batch<I, O>(
    what: &str,
    backend: &impl Batch<I, Output = O>,
    items: &[I],
) -> Result<Vec<O>, StoreError> {
    let outputs = tokio::time::timeout(BATCH_TIMEOUT, backend.run(items))
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Backend(
                format!("a batch of {what} got no answer from the database in time").into(),
            ))
        })?;
    if outputs.len() != items.len() {
        return Err(StoreError::Corrupt("batch"));
    }
    Ok(outputs)
}

/// Whether `e` can come from one item of a batch rather than from the database: a unique
/// violation, a value the database refused, another constraint an item's values break (a
/// foreign key: a code for a client deleted meanwhile; NOT NULL; CHECK), or PostgreSQL
/// ending the transaction over a deadlock (40P01) or a serialization failure (40001).
fn one_items_fault(e: &StoreError) -> bool {
    use sqlx::error::ErrorKind;
    match e {
        StoreError::Conflict(_) | StoreError::Unstorable(_) => true,
        StoreError::Backend(cause) => cause
            .downcast_ref::<sqlx::Error>()
            .and_then(sqlx::Error::as_database_error)
            .is_some_and(|db| {
                !matches!(db.kind(), ErrorKind::Other)
                    || db
                        .code()
                        .is_some_and(|code| code == "40P01" || code == "40001")
            }),
        StoreError::Corrupt(_) => false,
    }
}

/// For the other callers of a batch that failed with `e`: its cause, as text (the first caller
/// gets `e` itself).
fn failed_batch(what: &str, e: &StoreError) -> String {
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        cause.push_str(": ");
        cause.push_str(&inner.to_string());
        source = inner.source();
    }
    format!("a batch of {what} failed: {cause}")
}

/// Which items of a batch of `size` took effect, from the 0-based indexes the batch selected.
pub(crate) fn selected(
    size: usize,
    indexes: impl IntoIterator<Item = i64>,
) -> Result<Vec<bool>, StoreError> {
    let placed = placed(size, indexes.into_iter().map(|index| (index, ())))?;
    Ok(placed.iter().map(Option::is_some).collect())
}

/// Each item's row of a batch of `size`, from the rows the batch gave with the 0-based index
/// of their item: `None` for an item no row names. A row naming no item is `Corrupt`.
pub(crate) fn placed<T>(
    size: usize,
    rows: impl IntoIterator<Item = (i64, T)>,
) -> Result<Vec<Option<T>>, StoreError> {
    let mut found: Vec<Option<T>> = std::iter::repeat_with(|| None).take(size).collect();
    for (index, row) in rows {
        let slot = usize::try_from(index).ok().and_then(|i| found.get_mut(i));
        *slot.ok_or(StoreError::Corrupt("batch"))? = Some(row);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly

    use std::sync::{Arc, Mutex};

    use tokio::sync::Semaphore;

    use super::*;

    /// Records the batches it is asked to write (by the rotations' `at`), each waiting for a
    /// permit of `gate`; fails a batch as `fail` says.
    struct Recorder {
        batches: Arc<Mutex<Vec<Vec<i64>>>>,
        gate: Arc<Semaphore>,
        fail: fn(&[Rotation]) -> Option<StoreError>,
    }

    impl Batch<Rotation> for Recorder {
        type Output = bool;

        async fn run(&self, rotations: &[Rotation]) -> Result<Vec<bool>, StoreError> {
            self.gate.acquire().await.unwrap().forget();
            self.batches
                .lock()
                .unwrap()
                .push(rotations.iter().map(|r| r.at).collect());
            match (self.fail)(rotations) {
                Some(e) => Err(e),
                None => Ok(vec![true; rotations.len()]),
            }
        }
    }

    fn rotation(at: i64) -> Rotation {
        Rotation {
            old: vec![1],
            at,
            answer: Vec::new(),
            new: RefreshTokenRow {
                token_hash: vec![2],
                grant_id: "g".into(),
                issued_at: at,
                expires_at: at,
                access_jti: "j".into(),
                access_expires_at: at,
                rotated_at: None,
                rotation_answer: None,
            },
        }
    }

    fn start(fail: fn(&[Rotation]) -> Option<StoreError>) -> (Arc<Queue<Rotation>>, Recorder) {
        let recorder = Recorder {
            batches: Arc::default(),
            gate: Arc::new(Semaphore::new(0)),
            fail,
        };
        let rotations = Queue::start(
            "refresh rotations",
            Recorder {
                batches: recorder.batches.clone(),
                gate: recorder.gate.clone(),
                fail,
            },
            MAX_BATCH,
        );
        (Arc::new(rotations), recorder)
    }

    /// A caller that went away while its rotation waited behind a batch gets nothing
    /// written; those that wait together are written together.
    #[tokio::test]
    async fn a_rotation_whose_caller_went_away_before_its_batch_is_not_written() {
        let (rotations, recorder) = start(|_| None);
        let first = tokio::spawn({
            let rotations = rotations.clone();
            async move { rotations.submit(rotation(1)).await }
        });
        tokio::task::yield_now().await;
        // The first batch now waits at the gate; these queue behind it.
        {
            let mut gone = std::pin::pin!(rotations.submit(rotation(2)));
            assert!(futures::poll!(gone.as_mut()).is_pending());
        }
        let third = tokio::spawn({
            let rotations = rotations.clone();
            async move { rotations.submit(rotation(3)).await }
        });
        let fourth = tokio::spawn({
            let rotations = rotations.clone();
            async move { rotations.submit(rotation(4)).await }
        });
        tokio::task::yield_now().await;
        recorder.gate.add_permits(2);
        assert!(first.await.unwrap().unwrap());
        assert!(third.await.unwrap().unwrap());
        assert!(fourth.await.unwrap().unwrap());
        assert_eq!(*recorder.batches.lock().unwrap(), [vec![1], vec![3, 4]]);
    }

    /// A batch that fails over one rotation (a unique violation) is written again one
    /// rotation at a time; one that fails for the database's reason is not, and every caller
    /// gets an error.
    #[tokio::test]
    async fn only_a_batch_that_failed_over_one_rotation_is_written_again_one_by_one() {
        let conflict = |batch: &[Rotation]| {
            batch
                .iter()
                .any(|r| r.at == 2)
                .then_some(StoreError::Conflict("refresh token"))
        };
        let down = |_: &[Rotation]| Some(StoreError::Backend("down".into()));
        for (fail, retried) in [(conflict as fn(&[Rotation]) -> _, true), (down, false)] {
            let (rotations, recorder) = start(fail);
            let batch = [1, 2, 3].map(|at| {
                let rotations = rotations.clone();
                tokio::spawn(async move { rotations.submit(rotation(at)).await })
            });
            tokio::task::yield_now().await;
            recorder.gate.add_permits(4);
            let mut outcomes = Vec::new();
            for caller in batch {
                outcomes.push(caller.await.unwrap());
            }
            let batches = recorder.batches.lock().unwrap().clone();
            if retried {
                assert_eq!(batches, [vec![1, 2, 3], vec![1], vec![2], vec![3]]);
                assert!(matches!(outcomes[0], Ok(true)));
                assert!(matches!(outcomes[1], Err(StoreError::Conflict(_))));
                assert!(matches!(outcomes[2], Ok(true)));
            } else {
                assert_eq!(batches, [vec![1, 2, 3]]);
                assert!(outcomes.iter().all(Result::is_err), "{outcomes:?}");
            }
        }
    }
}
