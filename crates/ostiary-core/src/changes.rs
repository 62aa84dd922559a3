//! What instances sharing one database tell each other: changes to what each keeps in memory
//! (client records, signing keys, failure counters), so a change made by one instance or the
//! CLI is seen by every other within milliseconds instead of at its next periodic re-read.
//!
//! A backend that can notify (PostgreSQL's `LISTEN`/`NOTIFY`) offers a [`ChangeFeed`]; one
//! that cannot (SQLite, one instance) offers none, and the periodic re-reads are all there is.
//! Notifications are transient: one sent while a listener was disconnected is lost, which the
//! feed reports as [`Change::Missed`] so the listener re-reads everything it keeps.

use async_trait::async_trait;

use crate::client::ClientId;
use crate::store::StoreError;

/// One change another instance (or the CLI) made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A client was registered, changed (settings, secret, document fetch) or deleted.
    Client(ClientId),
    /// Signing keys were created, rotated, retired, revoked or re-sealed.
    Keys,
    /// A failed-authentication counter changed (shared brute-force limits).
    Failures(FailureCount),
    /// Notifications may have been lost (the listener's connection dropped and is back):
    /// everything kept in memory must be read again.
    Missed,
}

/// A stream of [`Change`]s, read by one task per instance.
#[async_trait]
pub trait ChangeFeed: Send {
    /// Waits for the next change. After a lost connection it answers [`Change::Missed`] once
    /// connected again. Errors when the database cannot be reached; the caller waits a little
    /// and calls again.
    async fn next(&mut self) -> Result<Change, StoreError>;
}

/// A failed-authentication counter as stored: `key` names what failed from where (the
/// limiter's own text, opaque here), `failures` counts the failures inside the counter's
/// window, the last at `last_failure`; `locked_until` is when its lock ends. Times are Unix
/// milliseconds. `failures` 0 means the counter was forgotten (a success).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureCount {
    pub key: String,
    pub failures: u32,
    pub last_failure: i64,
    pub locked_until: Option<i64>,
}

/// Failed-authentication counters shared by every instance, for brute-force limits that hold
/// across instances behind a load balancer. Only failures and successes after failures
/// write: the success path of an authentication stays free of writes. Every change is
/// announced on the [`ChangeFeed`] as [`Change::Failures`].
#[async_trait]
pub trait FailureCountStore: Send + Sync {
    /// Counts one failure of each `(key, window_ms)` at `now` (Unix milliseconds): a counter
    /// whose last failure is more than `window_ms` old starts again at 1 (and its lock is
    /// forgotten). Returns each key's counter after the failure, in the order given.
    async fn count_failures(
        &self,
        keys: &[(String, i64)],
        now: i64,
    ) -> Result<Vec<FailureCount>, StoreError>;
    /// Locks `key` until `until` (Unix milliseconds), unless it is already locked longer.
    async fn lock_failures(&self, key: &str, until: i64) -> Result<(), StoreError>;
    /// Forgets `key`'s failures (a success); nothing when it has none.
    async fn forget_failures(&self, key: &str) -> Result<(), StoreError>;
    /// The latest end of a lock among `keys` still running at `now`, if any.
    async fn locked_until(&self, keys: &[String], now: i64) -> Result<Option<i64>, StoreError>;
    /// Counters with a failure after `since` or a lock after it, at most `limit`: the locks
    /// first, then the latest failures. What an instance reads when it starts or has missed
    /// notifications.
    async fn recent_failures(
        &self,
        since: i64,
        limit: u32,
    ) -> Result<Vec<FailureCount>, StoreError>;
    /// Drops counters with neither a failure nor a lock after `before`; how many.
    async fn purge_failures(&self, before: i64) -> Result<u64, StoreError>;
}
