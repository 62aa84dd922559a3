//! Refresh token rotations written in batches: the rotations that arrive while one batch is
//! being written go into the next, one transaction in one round trip to the database. One at
//! a time, each rotation held SQLite's one writer connection for a round trip to its thread
//! and then for the wake-up of the next borrower's task (the bench's refresh phase left a
//! fifth of the machine's CPU idle behind that queue); on PostgreSQL each was a round trip
//! and a commit of its own. Each backend writes a batch its own way (`sqlite/rotations.rs`,
//! `postgres/rotations.rs`).

use std::future::Future;

use ostiary_core::StoreError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::rows::RefreshTokenRow;

/// At most this many rotations share a transaction. On SQLite each batch size is a statement
/// of its own in the writer's statement cache (2 × size + 2 prepared statements), so the
/// largest sizes are few.
pub(crate) const MAX_BATCH: usize = 16;

/// Rotations waiting beyond those in the batch being written; a sender waits for room
/// (requests are bounded by connections long before this).
const QUEUE: usize = 1024;

/// One rotation, as `GrantStore::rotate_refresh_token` takes it: the presented token's hash
/// `old`, rotated at `at` (Unix seconds) into `new`, whose row keeps the sealed `answer`.
#[derive(Debug)]
pub(crate) struct Rotation {
    pub old: Vec<u8>,
    pub at: i64,
    pub answer: Vec<u8>,
    pub new: RefreshTokenRow,
}

/// How a backend writes a batch of rotations in one transaction.
pub(crate) trait WriteRotations: Send + Sync + 'static {
    /// Writes `rotations` whole or not at all. Which of them won, in order: a rotation wins
    /// when its old token was unrotated, of its grant, and the grant live; one that loses
    /// writes nothing. Errors: the batch's, a unique violation being a `Conflict` over
    /// "refresh token".
    fn write(
        &self,
        rotations: &[Rotation],
    ) -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send;
}

type Reply = oneshot::Sender<Result<bool, StoreError>>;

/// The queue of rotations and the task that writes them.
#[derive(Debug)]
pub(crate) struct Rotations {
    queue: mpsc::Sender<(Rotation, Reply)>,
    task: AbortHandle,
}

impl Rotations {
    /// Starts the task (on the current Tokio runtime) that writes through `writer`.
    pub(crate) fn start(writer: impl WriteRotations) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(writer, waiting)).abort_handle();
        Self { queue, task }
    }

    /// Writes `rotation` with whatever others wait beside it. True when it won (see
    /// [`WriteRotations::write`]). Errors: its own only (a batch that fails is written again
    /// one rotation at a time).
    pub(crate) async fn rotate(&self, rotation: Rotation) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((rotation, reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Stops the task; a batch being written is rolled back.
    pub(crate) fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Rotations {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the store is closing: refresh rotations are no longer written".into())
}

async fn run(writer: impl WriteRotations, mut waiting: mpsc::Receiver<(Rotation, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (rotations, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let results = match writer.write(&rotations).await {
            Ok(won) => won.into_iter().map(Ok).collect(),
            Err(e) if rotations.len() == 1 => vec![Err(e)],
            // Whichever rotation failed took the others' transaction with it: each is
            // written again alone, so that only its own failure reaches each caller.
            Err(_) => {
                let mut results = Vec::with_capacity(rotations.len());
                for rotation in &rotations {
                    let alone = writer.write(std::slice::from_ref(rotation)).await;
                    results.push(alone.map(|won| won.first().copied().unwrap_or(false)));
                }
                results
            }
        };
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have gone away; its rotation stands, like any other write.
            let _ = reply.send(result);
        }
    }
}

/// Which rotations of a batch of `size` won, from the 0-based indexes the batch selected.
pub(crate) fn winners(
    size: usize,
    selected: impl IntoIterator<Item = i64>,
) -> Result<Vec<bool>, StoreError> {
    let mut won = vec![false; size];
    for index in selected {
        let slot = usize::try_from(index).ok().and_then(|i| won.get_mut(i));
        *slot.ok_or(StoreError::Corrupt("refresh rotation batch"))? = true;
    }
    Ok(won)
}
