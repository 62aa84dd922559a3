//! The audit writer: a response that reports a security event leaves only once its event is
//! in the audit journal, a local append-only file (`journal.rs`), so a crash of the process
//! loses no event whose response was sent. One write per event, to the page cache: no
//! database round trip on the request's path. A background task (`copier.rs`) copies the
//! journal into the database in large batches, each with the journal offset it reached in the
//! same transaction; a segment left by a process that died is replayed, exactly once, at the
//! next start or by any instance sharing the journal directory within seconds. The admin
//! commands write their events at once instead ([`ImmediateAudit`]).

mod copier;
mod journal;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use ostiary_core::audit::{AuditEvent, AuditSink};
use ostiary_core::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::telemetry::error_chain;
use journal::Segment;

/// How long shutdown waits for the journal to reach the database; what is left then is
/// replayed at the next start.
pub const CLOSE_WITHIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct AuditLog {
    /// `None` when the trail is off (`OAUTH2_AUDIT=off`, development only).
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    journal: Arc<RwLock<Active>>,
    copier: mpsc::UnboundedSender<copier::Request>,
    progress: Arc<copier::Progress>,
}

/// The segment events are appended to now. Appends share its lock: each line is one `write`
/// to a file opened for appending, which the kernel places whole after the previous one, so
/// requests on different threads never wait for each other's write. The copier takes the
/// lock alone, when no append is under way, to read how far the file goes and to close the
/// segment or start a new one: no append lands behind a segment it closed.
#[derive(Debug)]
struct Active {
    /// `None` once closed: events then go straight to the database.
    segment: Option<Arc<Segment>>,
    /// A write failed (the disk is full, say): the segment may hold a torn line, so nothing
    /// more is appended to it until the copier starts a new one.
    broken: AtomicBool,
}

impl Active {
    fn new(segment: Arc<Segment>) -> Self {
        Self {
            segment: Some(segment),
            broken: AtomicBool::new(false),
        }
    }

    fn broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }
}

impl AuditLog {
    /// Replays what processes that died left in the journal directory `dir` (created
    /// owner-only where missing) for this database, opens this process's own segment and
    /// starts the copier, which ends when every `AuditLog` clone is dropped.
    ///
    /// Errors: the directory cannot be created or written, another user owns it or may write
    /// to it, or the database cannot be reached to replay (the server must not start and
    /// append behind events it could not copy).
    pub async fn start(store: Arc<dyn Store>, dir: &Path) -> anyhow::Result<Self> {
        let failed = |e: &dyn std::fmt::Display| {
            anyhow::anyhow!("the audit journal in {}: {e}", dir.display())
        };
        let candidate = hex::encode(ostiary_core::random::os_random_bytes::<16>());
        let database = store
            .audit_journal_database(&candidate)
            .await
            .map_err(|e| failed(&error_chain(&e)))?;
        journal::open_dir(dir).map_err(|e| failed(&e))?;
        let segment = Arc::new(Segment::create(dir, &database).map_err(|e| failed(&e))?);
        let replayed = match journal::check_dir(dir, segment.path()) {
            Ok(()) => copier::replay_orphans(&*store, dir, &database)
                .await
                .map_err(|e| failed(&e)),
            Err(e) => Err(failed(&e)),
        };
        // A start that fails leaves no empty segment behind for the next one to sweep.
        let replayed = replayed.inspect_err(|_| {
            let _ = segment.remove();
        })?;
        if replayed > 0 {
            tracing::warn!(
                events = replayed,
                "audit events of a process that stopped before copying them were replayed"
            );
        }
        let journal = Arc::new(RwLock::new(Active::new(segment.clone())));
        let (requests, receiver) = mpsc::unbounded_channel();
        let progress = Arc::new(copier::Progress::default());
        let copier = copier::Copier::new(
            store.clone(),
            dir.to_owned(),
            database,
            journal.clone(),
            segment,
            progress.clone(),
        );
        tokio::spawn(copier::run(copier, receiver));
        Ok(Self {
            inner: Some(Arc::new(Inner {
                store,
                journal,
                copier: requests,
                progress,
            })),
        })
    }

    /// Records nothing.
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// Returns once the event is in the journal. Should the journal refuse it (a full disk),
    /// the event goes straight to the database instead; should that fail too, it is logged:
    /// the trail never stops the server.
    pub async fn record(&self, event: AuditEvent) {
        let Some(inner) = &self.inner else {
            return;
        };
        log_line(&event);
        let mut line = Vec::with_capacity(256);
        journal::encode(&event, &mut line);
        if inner.append(&line) {
            return;
        }
        if let Err(e) = inner.store.append_audit_events(&[event], None).await {
            tracing::error!(error = %error_chain(&e), "writing an audit event failed");
        }
    }

    /// Bytes of the journal not yet in the database: near zero while the database keeps up,
    /// growing while it fails or the copier is stuck.
    pub fn pending_bytes(&self) -> u64 {
        let Some(inner) = &self.inner else {
            return 0;
        };
        // Under the lock the copier rotates with: the segment and the progress agree.
        let active = inner.journal.read().unwrap_or_else(PoisonError::into_inner);
        let written = active
            .segment
            .as_ref()
            .and_then(|segment| segment.size().ok())
            .unwrap_or(0);
        let current = written.saturating_sub(inner.progress.current_copied.load(Ordering::Relaxed));
        current + inner.progress.closed_pending.load(Ordering::Relaxed)
    }

    /// Returns once every event recorded before the call is in the database (or a copy
    /// failed: it is retried, and the events stay in the journal).
    pub async fn flush(&self) {
        self.ask(copier::Request::Flush).await;
    }

    /// Copies the journal to the database and deletes this process's segments (what a failed
    /// copy leaves is replayed at the next start); events recorded afterwards go straight to
    /// the database. For shutdown, within [`CLOSE_WITHIN`].
    pub async fn close(&self) {
        self.ask(copier::Request::Close).await;
    }

    async fn ask(&self, request: fn(oneshot::Sender<()>) -> copier::Request) {
        let Some(inner) = &self.inner else {
            return;
        };
        let (done, answered) = oneshot::channel();
        if inner.copier.send(request(done)).is_ok() {
            let _ = answered.await;
        }
    }
}

impl Inner {
    /// Appends whole lines to the active segment; false when there is none or it failed.
    fn append(&self, lines: &[u8]) -> bool {
        let active = self.journal.read().unwrap_or_else(PoisonError::into_inner);
        let Some(segment) = active.segment.as_ref().filter(|_| !active.broken()) else {
            return false;
        };
        match segment.append(lines) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "the audit journal refused a write; events go to the database until a new segment opens");
                active.broken.store(true, Ordering::Relaxed);
                false
            }
        }
    }
}

#[async_trait::async_trait]
impl AuditSink for AuditLog {
    async fn record(&self, event: AuditEvent) {
        AuditLog::record(self, event).await;
    }
}

/// The admin commands' audit writer: each event is logged and appended at once (a command has
/// no queue to drain before it exits). A failed append is kept, and [`ImmediateAudit::check`]
/// turns it into the command's error, so a command whose event was not written fails.
#[derive(Debug)]
pub struct ImmediateAudit {
    store: Arc<dyn Store>,
    failure: Mutex<Option<StoreError>>,
}

impl ImmediateAudit {
    /// A writer appending to `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            failure: Mutex::new(None),
        }
    }

    /// The first append that failed since the last check, if any.
    pub fn check(&self) -> Result<(), StoreError> {
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        failure.map_or(Ok(()), Err)
    }
}

#[async_trait::async_trait]
impl AuditSink for ImmediateAudit {
    async fn record(&self, event: AuditEvent) {
        log_line(&event);
        if let Err(e) = self.store.append_audit_events(&[event], None).await {
            tracing::error!(error = %error_chain(&e), "writing an audit event failed");
            let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
            failure.get_or_insert(e);
        }
    }
}

/// Every event is also a structured log line (target `audit`).
pub fn log_line(e: &AuditEvent) {
    tracing::info!(
        target: "audit",
        event = e.event.as_str(),
        actor = %e.actor,
        client_id = e.client_id.as_deref(),
        subject = e.subject.as_deref(),
        source_ip = e.source_ip.as_deref(),
        outcome = e.outcome.as_str(),
        reason = e.reason.as_deref(),
        "audit event"
    );
}

#[cfg(test)]
mod tests;
