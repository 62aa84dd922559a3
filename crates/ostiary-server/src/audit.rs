//! The audit writer: events are queued, and a single task logs each as a structured line and
//! appends them to the database in batches, so the token hot path neither formats log lines
//! nor waits for a write. The queue is bounded and applies back-pressure rather than drop an event; a
//! clean shutdown flushes it. The admin commands write theirs at once instead ([`ImmediateAudit`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ostiary_core::audit::{AuditEvent, AuditSink};
use ostiary_core::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::telemetry::error_chain;

const QUEUE: usize = 16_384;
const BATCH: usize = 2048;
/// How long the writer lets events gather before it writes them.
const WINDOW: Duration = Duration::from_millis(50);

enum Command {
    Record(AuditEvent),
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

    pub async fn record(&self, event: AuditEvent) {
        let Some(queue) = &self.queue else {
            return;
        };
        if let Err(mpsc::error::SendError(Command::Record(event))) =
            queue.send(Command::Record(event)).await
        {
            tracing::error!("audit writer stopped; event kept only in the log");
            log_line(&event);
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

async fn write(store: Arc<dyn Store>, mut receiver: mpsc::Receiver<Command>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut waiting = Vec::new();
    while let Some(first) = receiver.recv().await {
        // Let events accumulate for a moment: senders then never wake this task one event
        // at a time, and a busy server writes one statement per window. A flush skips it.
        if matches!(first, Command::Record(_)) {
            tokio::time::sleep(WINDOW).await;
        }
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Record(event) => batch.push(event),
                Command::Flush(done) => waiting.push(done),
            }
            if batch.len() >= BATCH {
                append(&*store, &mut batch).await;
            }
            next = receiver.try_recv().ok();
        }
        append(&*store, &mut batch).await;
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
    append(&*store, &mut batch).await;
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
