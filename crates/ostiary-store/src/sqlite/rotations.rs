//! Refresh token rotations committed together on SQLite's one writer: the rotations that
//! arrive while the writer commits one batch go into the next, one transaction in one round
//! trip to the writer's thread. One at a time, each rotation held the writer for a round trip
//! to its thread and then for the wake-up of the next borrower's task, and the refresh phase
//! of the bench left a fifth of the machine's CPU idle behind that queue.

use std::sync::{Arc, OnceLock};

use ostiary_core::StoreError;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use super::checkpoints::Checkpoints;
use super::connections::Connections;
use crate::rows::RefreshTokenRow;

/// At most this many rotations share a transaction. Each batch size is a statement of its own
/// in the writer's statement cache (2 × size + 2 prepared statements), so the largest sizes
/// are few.
const MAX_BATCH: usize = 16;

/// Rotations waiting for the writer beyond those in the batch being written; a sender waits
/// for room (requests are bounded by connections long before this).
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

type Reply = oneshot::Sender<Result<bool, StoreError>>;

/// The queue of rotations and the task that writes them.
#[derive(Debug)]
pub(crate) struct Rotations {
    queue: mpsc::Sender<(Rotation, Reply)>,
    task: AbortHandle,
}

impl Rotations {
    /// Starts the task (on the current Tokio runtime) that writes through `writer`.
    pub(crate) fn start(writer: Arc<Connections>, checkpoints: Arc<Checkpoints>) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(writer, checkpoints, waiting)).abort_handle();
        Self { queue, task }
    }

    /// Writes `rotation` with whatever others wait beside it. True when it won: the old token
    /// was unrotated, of its grant, and the grant live. Errors: as `write_as_one`'s, each
    /// rotation's own (a batch that fails is written again one rotation at a time).
    pub(crate) async fn rotate(&self, rotation: Rotation) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((rotation, reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Stops the task; a batch being written is rolled back (its connection is settled).
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

async fn run(
    writer: Arc<Connections>,
    checkpoints: Arc<Checkpoints>,
    mut waiting: mpsc::Receiver<(Rotation, Reply)>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (rotations, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let results = match write(&writer, &checkpoints, &rotations).await {
            Ok(won) => won.into_iter().map(Ok).collect(),
            Err(e) if rotations.len() == 1 => vec![Err(e)],
            // Whichever rotation failed took the others' transaction with it: each is
            // written again alone, so that only its own failure reaches each caller.
            Err(_) => {
                let mut results = Vec::with_capacity(rotations.len());
                for rotation in &rotations {
                    let alone = write(&writer, &checkpoints, std::slice::from_ref(rotation));
                    results.push(alone.await.map(|won| won.first().copied().unwrap_or(false)));
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

/// Writes `rotations` in one transaction; which of them won, in order.
async fn write(
    writer: &Arc<Connections>,
    checkpoints: &Checkpoints,
    rotations: &[Rotation],
) -> Result<Vec<bool>, StoreError> {
    let mut statements = sqlx::query(batch_sql(rotations.len()));
    for r in rotations {
        statements = statements
            .bind(r.at)
            .bind(r.answer.clone())
            .bind(r.new.token_hash.clone())
            .bind(r.old.clone())
            .bind(r.new.grant_id.clone())
            .bind(r.new.issued_at)
            .bind(r.new.expires_at)
            .bind(r.new.access_jti.clone())
            .bind(r.new.access_expires_at);
    }
    let mut lent = writer.lend().await.map_err(crate::error::backend)?;
    checkpoints.after_write();
    let rows = lent
        .run_own_transaction(statements)
        .await
        .map_err(crate::error::write_error("refresh token"))?;
    drop(lent);
    let mut won = vec![false; rotations.len()];
    for row in rows {
        let index: i64 = row.try_get(0).map_err(crate::error::backend)?;
        let slot = usize::try_from(index).ok().and_then(|i| won.get_mut(i));
        *slot.ok_or(StoreError::Corrupt("refresh rotation batch"))? = true;
    }
    Ok(won)
}

/// The statements of `size` rotations (1 to [`MAX_BATCH`]), made once per size: see
/// [`rotation_sql`].
fn batch_sql(size: usize) -> &'static str {
    static BATCHES: OnceLock<Vec<String>> = OnceLock::new();
    let batches = BATCHES.get_or_init(|| {
        (1..=MAX_BATCH)
            .map(|size| {
                let rotations: String = (0..size).map(rotation_sql).collect();
                format!("BEGIN IMMEDIATE; {rotations}COMMIT")
            })
            .collect()
    });
    &batches[size.clamp(1, MAX_BATCH) - 1]
}

/// The `index`th rotation of a batch (0-based), whose parameters are the nine from
/// `9 × index + 1`: rotated at, sealed answer, successor hash, old hash, grant, then the
/// successor's issue, expiry, access token `jti` and its expiry. The old token is marked
/// rotated with its successor, provided it is unrotated, belongs to the grant and that grant
/// is live, which selects the rotation's `index` to tell it won; the successor is inserted,
/// with the answer a retry inside the grace period gets again (RFC 9700 4.14.2), only if that
/// UPDATE changed the row (`changes()` counts the statement just before, on this connection).
/// SQLite's write lock serialises this with every revocation; `find_refresh_family` gives
/// the answer only while the successor is unused.
fn rotation_sql(index: usize) -> String {
    let p = |n: usize| format!("${}", 9 * index + n);
    format!(
        "UPDATE refresh_tokens SET rotated_at = {at}, successor_hash = {new} \
         WHERE token_hash = {old} AND rotated_at IS NULL AND grant_id = {grant} \
         AND EXISTS (SELECT 1 FROM grants WHERE grant_id = {grant} AND revoked_at IS NULL) \
         RETURNING {index}; \
         INSERT INTO refresh_tokens (token_hash, grant_id, issued_at, expires_at, access_jti, \
         access_expires_at, issuing_answer) SELECT {new}, {grant}, {issued}, {expires}, {jti}, \
         {access_expires}, {answer} WHERE changes() = 1; ",
        at = p(1),
        answer = p(2),
        new = p(3),
        old = p(4),
        grant = p(5),
        issued = p(6),
        expires = p(7),
        jti = p(8),
        access_expires = p(9),
    )
}
