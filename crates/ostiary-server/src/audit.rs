//! The audit writer: a response that reports a security event leaves only once its event is
//! committed, so a crash loses no event whose response was sent. Events are queued to a
//! single task that logs each as a structured line and appends them to the database with
//! group commit: every event that arrived while the previous batch was being written goes
//! into the next batch, one transaction for all, and each recorder is woken when its batch
//! is committed. The admin commands write theirs at once instead ([`ImmediateAudit`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ostiary_core::audit::{AuditEvent, AuditSink};
use ostiary_core::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::telemetry::error_chain;

const QUEUE: usize = 16_384;
/// The most events one transaction carries.
const BATCH: usize = 2048;
/// How many times the writer yields to let more events join a batch before committing it,
/// as long as each yield brought one.
const GATHER_ROUNDS: usize = 8;

enum Command {
    /// An event, and its recorder waiting for the commit.
    Record(AuditEvent, oneshot::Sender<()>),
    Flush(oneshot::Sender<()>),
}

#[derive(Debug, Clone)]
pub struct AuditLog {
    /// `None` when the trail is off (`OAUTH2_AUDIT=off`, development only).
    queue: Option<mpsc::Sender<Command>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl AuditLog {
    /// Starts the writer task; it ends when every `AuditLog` clone is dropped.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write(store, receiver));
        Self { queue: Some(queue) }
    }

    /// Records nothing.
    pub fn disabled() -> Self {
        Self { queue: None }
    }

    /// Returns once the event is committed (or, when the database refuses it after a few
    /// attempts, once that is logged with the event: the trail never stops the server).
    pub async fn record(&self, event: AuditEvent) {
        let Some(queue) = &self.queue else {
            return;
        };
        let (committed, wait) = oneshot::channel();
        match queue.send(Command::Record(event, committed)).await {
            Ok(()) => {
                let _ = wait.await;
            }
            Err(mpsc::error::SendError(Command::Record(event, _))) => {
                tracing::error!("audit writer stopped; event kept only in the log");
                log_line(&event);
            }
            Err(_) => {}
        }
    }

    /// Returns once every event recorded before the call is in the database.
    pub async fn flush(&self) {
        let Some(queue) = &self.queue else {
            return;
        };
        let (done, written) = oneshot::channel();
        if queue.send(Command::Flush(done)).await.is_ok() {
            let _ = written.await;
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
        if let Err(e) = self.store.append_audit_events(&[event]).await {
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

/// Group commit: the first event wakes the task, everything queued behind it (up to `BATCH`)
/// joins it, one transaction writes them all, then their recorders are woken. Under load
/// the batches grow by themselves (requests queue while a batch is written), so throughput
/// follows the database's commit rate times the batch size, and a lone event waits for one
/// commit only.
async fn write(store: Arc<dyn Store>, mut receiver: mpsc::Receiver<Command>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut waiting = Vec::new();
    while let Some(first) = receiver.recv().await {
        let mut next = Some(first);
        let mut gathering = GATHER_ROUNDS;
        loop {
            while let Some(command) = next.take() {
                match command {
                    Command::Record(event, committed) => {
                        batch.push(event);
                        waiting.push(committed);
                    }
                    Command::Flush(done) => waiting.push(done),
                }
                if batch.len() < BATCH {
                    next = receiver.try_recv().ok();
                }
            }
            // Let the requests already running reach their events before committing: a
            // commit is cheap next to the work around it, so without this the batches of a
            // busy server stay a few events long. A lone event costs one yield.
            if batch.is_empty() || batch.len() >= BATCH || gathering == 0 {
                break;
            }
            gathering -= 1;
            tokio::task::yield_now().await;
            next = receiver.try_recv().ok();
            if next.is_none() {
                break;
            }
        }
        append(&*store, &mut batch).await;
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes the batch; on failure retries a few times, then gives up on the database copy (the
/// log lines remain) rather than block the server forever.
async fn append(store: &dyn Store, batch: &mut Vec<AuditEvent>) {
    if batch.is_empty() {
        return;
    }
    for event in batch.iter() {
        log_line(event);
    }
    for attempt in 1..=3 {
        match store.append_audit_events(batch).await {
            Ok(()) => {
                batch.clear();
                return;
            }
            Err(e) => {
                tracing::error!(attempt, events = batch.len(), error = %error_chain(&e), "writing audit events failed");
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
        }
    }
    batch.clear();
}
