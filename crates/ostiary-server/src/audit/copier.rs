//! Copies the audit journal into the database: every [`COPY_EVERY`], whatever was appended,
//! in batches of up to [`journal::READ_BYTES`] per transaction, each moving the segment's
//! mark in the store with it (compare-and-set: a batch is never copied twice). Starts a new
//! segment past [`SEGMENT_BYTES`] and deletes the old one once copied; replays the segments
//! of processes that are gone every [`SWEEP_EVERY`]. A database that fails is retried with a
//! growing pause (the events wait in the journal); an event it refuses as a value (never
//! expected: fields are bounded) and a line that is not an event are set aside in the
//! journal's rejected file rather than blocking the rest.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use ostiary_core::audit::{AuditEvent, JournalMark};
use ostiary_core::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use super::Active;
use super::journal::{self, Segment};
use crate::telemetry::error_chain;

/// How often the journal is copied: the most an event lags behind its response in the
/// database (`audit list`) while the database keeps up.
const COPY_EVERY: Duration = Duration::from_millis(50);
/// The longest pause between attempts while the database fails.
const RETRY_AT_MOST: Duration = Duration::from_secs(5);
/// A segment this long is closed and a new one started (unless an older one still waits to
/// be copied: while the database is away, one segment grows rather than many stay open).
const SEGMENT_BYTES: u64 = 8 << 20;
/// How often the directory is searched for segments of processes that are gone.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// What the writer asks of the copier.
pub(super) enum Request {
    /// Answer once everything appended before the request is copied.
    Flush(oneshot::Sender<()>),
    /// Copy everything, delete this process's segments and take no more appends.
    Close(oneshot::Sender<()>),
}

#[derive(Debug)]
pub(super) enum Failure {
    Journal(std::io::Error),
    Store(StoreError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Journal(e) => write!(f, "the journal: {e}"),
            Self::Store(e) => write!(f, "writing to the database: {}", error_chain(e)),
        }
    }
}

/// How far the copy is, for the pending-bytes gauge: read with the journal's lock held,
/// against the size of the current segment's file.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// Bytes of the current segment in the database.
    pub current_copied: AtomicU64,
    /// Bytes of closed segments not yet in the database.
    pub closed_pending: AtomicU64,
}

/// A segment this process wrote, and how much of it is in the database.
struct Held {
    segment: Arc<Segment>,
    copied: u64,
}

pub(super) struct Copier {
    store: Arc<dyn Store>,
    dir: PathBuf,
    /// The database's identity, which starts the name of every segment meant for it.
    database: String,
    journal: Arc<RwLock<Active>>,
    /// The segment appends go to.
    current: Held,
    /// Segments closed (by size, or a failed write), each with its length, not yet copied.
    closed: Vec<(Held, u64)>,
    progress: Arc<Progress>,
}

impl Copier {
    pub fn new(
        store: Arc<dyn Store>,
        dir: PathBuf,
        database: String,
        journal: Arc<RwLock<Active>>,
        current: Arc<Segment>,
        progress: Arc<Progress>,
    ) -> Self {
        Self {
            store,
            dir,
            database,
            journal,
            current: Held {
                segment: current,
                copied: 0,
            },
            closed: Vec::new(),
            progress,
        }
    }

    /// Copies what every held segment has now; on `closing`, first takes the active segment
    /// out of service, so that nothing is appended behind the copy.
    async fn round(&mut self, closing: bool) -> Result<(), Failure> {
        let appended = self.rotate_or_close(closing)?;
        while let Some((held, end)) = self.closed.first_mut() {
            let copied = copy(
                &*self.store,
                &self.dir,
                &held.segment,
                &mut held.copied,
                *end,
            )
            .await;
            self.count_closed();
            copied?;
            let (held, _) = self.closed.remove(0);
            // A torn part at its end was never an event: nothing of it is pending any more.
            self.count_closed();
            self.retire(&held.segment).await;
        }
        let copied = copy(
            &*self.store,
            &self.dir,
            &self.current.segment,
            &mut self.current.copied,
            appended,
        )
        .await;
        self.progress
            .current_copied
            .store(self.current.copied, Ordering::Relaxed);
        copied?;
        if closing {
            self.retire(&self.current.segment.clone()).await;
        }
        Ok(())
    }

    /// Under the journal's lock, alone: closes the active segment (when closing), or starts a
    /// new one when it is full or broken; returns how far the current segment's file goes.
    /// No append is under way then, so that is every line appended whole, and the part of a
    /// write that failed midway (a torn line, which a whole line may follow).
    fn rotate_or_close(&mut self, closing: bool) -> Result<u64, Failure> {
        let journal = self.journal.clone();
        let mut active = journal.write().unwrap_or_else(PoisonError::into_inner);
        if closing {
            active.segment = None;
        }
        let written = self.current.segment.size().map_err(Failure::Journal)?;
        // One closed segment at a time: while the database is away, the current one grows
        // (or, broken, stays out of use) rather than a file being opened every round.
        if closing || !self.closed.is_empty() || !(active.broken() || written >= SEGMENT_BYTES) {
            return Ok(written);
        }
        match Segment::create(&self.dir, &self.database) {
            Ok(next) => {
                let next = Arc::new(next);
                let old = std::mem::replace(
                    &mut self.current,
                    Held {
                        segment: next.clone(),
                        copied: 0,
                    },
                );
                self.closed.push((old, written));
                *active = Active::new(next);
                self.progress.current_copied.store(0, Ordering::Relaxed);
                self.count_closed();
                Ok(0)
            }
            Err(e) => {
                tracing::error!(error = %e, "starting a new audit journal segment failed");
                Ok(written)
            }
        }
    }

    fn count_closed(&self) {
        let pending = self
            .closed
            .iter()
            .map(|(held, end)| end.saturating_sub(held.copied))
            .sum();
        self.progress
            .closed_pending
            .store(pending, Ordering::Relaxed);
    }

    /// Deletes a segment copied whole, then its mark (a mark left behind by a crash between
    /// the two is a row of no consequence; the reverse order could copy the segment again).
    async fn retire(&self, segment: &Segment) {
        if let Err(e) = segment.remove() {
            tracing::error!(segment = %segment.name, error = %e, "deleting a copied audit journal segment failed");
            return;
        }
        if let Err(e) = self.store.forget_audit_journal(&segment.name).await {
            tracing::warn!(error = %error_chain(&e), "forgetting a copied audit journal segment failed");
        }
    }
}

/// Copies the whole lines of `segment` from `*copied` up to `to` (bytes), one transaction per
/// read, moving `*copied` with each commit; returns how many events it copied. After a
/// failed commit `*copied` is re-read from the store (the commit may have happened).
pub(super) async fn copy(
    store: &dyn Store,
    dir: &std::path::Path,
    segment: &Segment,
    copied: &mut u64,
    to: u64,
) -> Result<usize, Failure> {
    let mut count = 0;
    loop {
        let lines = segment.read(*copied, to).map_err(Failure::Journal)?;
        if lines.end == *copied {
            return Ok(count);
        }
        let (events, ends): (Vec<AuditEvent>, Vec<u64>) = lines.events.into_iter().unzip();
        let batch = ends.len();
        let mark = JournalMark {
            segment: segment.name.clone(),
            from: *copied,
            copied: lines.end,
        };
        match store.append_audit_events(&events, Some(&mark)).await {
            Ok(()) => *copied = lines.end,
            Err(StoreError::Unstorable(e)) => {
                tracing::error!(error = %error_chain(&StoreError::Unstorable(e)), "the database refused an audit batch; copying it event by event");
                copy_one_by_one(store, dir, segment, copied, events, ends, lines.end).await?;
            }
            Err(e) => return Err(resync(store, segment, copied, e).await),
        }
        // Only once the mark has passed them: a failed attempt does not set them aside twice.
        set_aside(dir, segment, &lines.rejected, "lines that are not events");
        count += batch;
    }
}

/// The batch of [`copy`] that the database refused as a value, one event per transaction:
/// the events it refuses go to the rejected file, the others to the trail.
async fn copy_one_by_one(
    store: &dyn Store,
    dir: &std::path::Path,
    segment: &Segment,
    copied: &mut u64,
    events: Vec<AuditEvent>,
    ends: Vec<u64>,
    end: u64,
) -> Result<(), Failure> {
    let mut pieces: Vec<(Option<AuditEvent>, u64)> =
        events.into_iter().map(Some).zip(ends).collect();
    // Rejected lines after the last event still move the mark.
    pieces.push((None, end));
    for (event, end) in pieces {
        if end <= *copied {
            continue;
        }
        let mark = JournalMark {
            segment: segment.name.clone(),
            from: *copied,
            copied: end,
        };
        let batch: Vec<AuditEvent> = event.iter().cloned().collect();
        match store.append_audit_events(&batch, Some(&mark)).await {
            Ok(()) => {}
            Err(StoreError::Unstorable(_)) if !batch.is_empty() => {
                if let Err(e) = store.append_audit_events(&[], Some(&mark)).await {
                    return Err(resync(store, segment, copied, e).await);
                }
                let mut line = Vec::new();
                journal::encode(&batch[0], &mut line);
                set_aside(dir, segment, &line, "an event the database refuses");
            }
            Err(e) => return Err(resync(store, segment, copied, e).await),
        }
        *copied = end;
    }
    Ok(())
}

/// Appends `lines` (whole lines, possibly none) to the journal's rejected file, logging what
/// and how it went: they are past the mark already, so a failure here loses only them.
fn set_aside(dir: &std::path::Path, segment: &Segment, lines: &[u8], what: &str) {
    if lines.is_empty() {
        return;
    }
    match journal::reject(dir, lines) {
        Ok(()) => {
            tracing::warn!(segment = %segment.name, "audit journal: {what} set aside in {}", journal::REJECTED)
        }
        Err(e) => {
            tracing::error!(segment = %segment.name, error = %e, "audit journal: {what} could not be set aside and are lost")
        }
    }
}

/// After a failed commit: where the store's mark is (the commit may have happened after all,
/// or another copy moved it), so that the next attempt starts there.
async fn resync(store: &dyn Store, segment: &Segment, copied: &mut u64, e: StoreError) -> Failure {
    if let Ok(mark) = store.audit_journal_copied(&segment.name).await {
        *copied = mark;
    }
    Failure::Store(e)
}

/// Copies every segment for `database` in `dir` that no live process holds, from where its
/// mark says, and deletes it; returns how many events were copied.
pub(super) async fn replay_orphans(
    store: &dyn Store,
    dir: &std::path::Path,
    database: &str,
) -> Result<usize, Failure> {
    let mut events = 0;
    for orphan in journal::claim_orphans(dir, database).map_err(Failure::Journal)? {
        let mut copied = store
            .audit_journal_copied(&orphan.name)
            .await
            .map_err(Failure::Store)?;
        // A segment that cannot be read is left (and logged) for the operator; the database
        // failing stops the replay, to be tried again.
        match copy(store, dir, &orphan, &mut copied, u64::MAX).await {
            Ok(copied) => events += copied,
            Err(Failure::Journal(e)) => {
                tracing::error!(segment = %orphan.name, error = %e, "an orphaned audit journal segment cannot be read; left in place");
                continue;
            }
            Err(e) => return Err(e),
        }
        // What is left is a line its process was killed while writing: never acknowledged.
        if let Err(e) = orphan.remove() {
            tracing::error!(segment = %orphan.name, error = %e, "deleting a replayed audit journal segment failed");
            continue;
        }
        if let Err(e) = store.forget_audit_journal(&orphan.name).await {
            tracing::warn!(error = %error_chain(&e), "forgetting a replayed audit journal segment failed");
        }
    }
    Ok(events)
}

/// The copier's loop: a round every [`COPY_EVERY`] or at once when asked, a sweep for
/// orphaned segments every [`SWEEP_EVERY`]; ends after closing, or when every writer is gone.
pub(super) async fn run(mut copier: Copier, mut requests: mpsc::UnboundedReceiver<Request>) {
    let mut pause = COPY_EVERY;
    let mut last_sweep = tokio::time::Instant::now();
    loop {
        let mut waiting = Vec::new();
        let mut closing = false;
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            request = requests.recv() => match request {
                Some(request) => {
                    let mut next = Some(request);
                    while let Some(request) = next.take() {
                        match request {
                            Request::Flush(done) => waiting.push(done),
                            Request::Close(done) => {
                                waiting.push(done);
                                closing = true;
                            }
                        }
                        next = requests.try_recv().ok();
                    }
                }
                None => closing = true,
            },
        }
        let copied = copier.round(closing).await;
        pause = match &copied {
            Ok(()) => COPY_EVERY,
            Err(e) => {
                tracing::error!(error = %e, "copying the audit journal failed; its events wait on disk");
                (pause * 2).min(RETRY_AT_MOST)
            }
        };
        for done in waiting {
            let _ = done.send(());
        }
        if closing {
            return;
        }
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = tokio::time::Instant::now();
            match replay_orphans(&*copier.store, &copier.dir, &copier.database).await {
                Ok(0) => {}
                Ok(events) => tracing::warn!(
                    events,
                    "audit events of a process that stopped before copying them were replayed"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "replaying an orphaned audit journal segment failed")
                }
            }
        }
    }
}
