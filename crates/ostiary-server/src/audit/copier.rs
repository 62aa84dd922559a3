//! Copies the audit journal into the database: every [`COPY_EVERY`], whatever was appended,
//! in batches of up to [`journal::READ_BYTES`] per transaction, each moving the segment's
//! mark in the store with it. Starts a new segment past [`SEGMENT_BYTES`] and deletes the old
//! one once copied; replays the segments of processes that are gone every [`SWEEP_EVERY`].
//! A database that refuses a batch is retried with a growing pause: the events wait in the
//! journal, none is dropped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ostiary_core::audit::JournalMark;
use ostiary_core::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use super::Active;
use super::journal::{self, Segment};
use crate::telemetry::error_chain;

/// How often the journal is copied: the most an event lags behind its response in the
/// database (`audit list`) while the database keeps up.
const COPY_EVERY: Duration = Duration::from_millis(50);
/// The longest pause between attempts while the database refuses the copy.
const RETRY_AT_MOST: Duration = Duration::from_secs(5);
/// A segment this long is closed and a new one started.
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
            Self::Journal(e) => write!(f, "reading the journal: {e}"),
            Self::Store(e) => write!(f, "writing to the database: {}", error_chain(e)),
        }
    }
}

/// A segment this process wrote, and how much of it is in the database.
struct Held {
    segment: Arc<Segment>,
    copied: u64,
}

pub(super) struct Copier {
    store: Arc<dyn Store>,
    dir: PathBuf,
    journal: Arc<Mutex<Active>>,
    /// The segment appends go to.
    current: Held,
    /// Segments closed (by size, or a failed write) and not yet copied whole.
    closed: Vec<(Held, u64)>,
    /// Bytes appended to the current segment, as of the last round.
    appended: u64,
    /// Bytes of the journal not yet copied, as of the last round: the backlog a refusing
    /// database leaves, published as a metric.
    pending: Arc<AtomicU64>,
}

impl Copier {
    pub fn new(
        store: Arc<dyn Store>,
        dir: PathBuf,
        journal: Arc<Mutex<Active>>,
        current: Arc<Segment>,
        pending: Arc<AtomicU64>,
    ) -> Self {
        Self {
            store,
            dir,
            journal,
            current: Held {
                segment: current,
                copied: 0,
            },
            closed: Vec::new(),
            appended: 0,
            pending,
        }
    }

    /// Publishes how many bytes wait to be copied.
    fn count_pending(&self) {
        let closed: u64 = self
            .closed
            .iter()
            .map(|(held, end)| end.saturating_sub(held.copied))
            .sum();
        let current = self.appended.saturating_sub(self.current.copied);
        self.pending.store(closed + current, Ordering::Relaxed);
    }

    /// Copies what every held segment has now; on `closing`, first takes the active segment
    /// out of service, so that nothing is appended behind the copy.
    async fn round(&mut self, closing: bool) -> Result<(), Failure> {
        let appended = {
            let journal = self.journal.clone();
            let mut active = journal.lock().unwrap_or_else(PoisonError::into_inner);
            let appended = active.len;
            let full = active.broken || appended >= SEGMENT_BYTES;
            if closing {
                active.segment = None;
            } else if full {
                match Segment::create(&self.dir) {
                    Ok(next) => {
                        let next = Arc::new(next);
                        active.segment = Some(next.clone());
                        active.len = 0;
                        active.broken = false;
                        let old = std::mem::replace(
                            &mut self.current,
                            Held {
                                segment: next,
                                copied: 0,
                            },
                        );
                        self.closed.push((old, appended));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "starting a new audit journal segment failed")
                    }
                }
            }
            active.len
        };
        self.appended = appended;
        while let Some((held, end)) = self.closed.first_mut() {
            held.copied = copy(&*self.store, &held.segment, held.copied, *end)
                .await?
                .0;
            let (held, _) = self.closed.remove(0);
            self.retire(&held.segment).await;
        }
        self.current.copied = copy(
            &*self.store,
            &self.current.segment,
            self.current.copied,
            appended,
        )
        .await?
        .0;
        if closing {
            self.retire(&self.current.segment.clone()).await;
        }
        Ok(())
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

/// Copies the whole lines of `segment` between `from` and `to` (bytes), one transaction per
/// read; returns how far it got and how many events it copied.
async fn copy(
    store: &dyn Store,
    segment: &Segment,
    mut from: u64,
    to: u64,
) -> Result<(u64, usize), Failure> {
    let mut events = 0;
    loop {
        let lines = segment.read(from, to).map_err(Failure::Journal)?;
        if lines.end == from {
            return Ok((from, events));
        }
        if lines.skipped > 0 {
            tracing::warn!(segment = %segment.name, lines = lines.skipped, "audit journal lines that are not events were skipped");
        }
        let mark = JournalMark {
            segment: segment.name.clone(),
            copied: lines.end,
        };
        store
            .append_audit_events(&lines.events, Some(&mark))
            .await
            .map_err(Failure::Store)?;
        events += lines.events.len();
        from = lines.end;
    }
}

/// Copies every segment in `dir` that no live process holds, from where its mark says, and
/// deletes it; returns how many events were copied.
pub(super) async fn replay_orphans(
    store: &dyn Store,
    dir: &std::path::Path,
) -> Result<usize, Failure> {
    let mut events = 0;
    for orphan in journal::claim_orphans(dir).map_err(Failure::Journal)? {
        let from = store
            .audit_journal_copied(&orphan.name)
            .await
            .map_err(Failure::Store)?;
        events += copy(store, &orphan, from, u64::MAX).await?.1;
        orphan.remove().map_err(Failure::Journal)?;
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
        copier.count_pending();
        if let Err(e) = &copied {
            tracing::error!(error = %e, "copying the audit journal failed; its events wait on disk");
        }
        pause = match copied {
            Ok(()) => COPY_EVERY,
            Err(_) => (pause * 2).min(RETRY_AT_MOST),
        };
        for done in waiting {
            let _ = done.send(());
        }
        if closing {
            return;
        }
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = tokio::time::Instant::now();
            match replay_orphans(&*copier.store, &copier.dir).await {
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
