//! Whether PostgreSQL answers, as a background probe sees it: while it does not, statements
//! fail at once instead of each waiting out the pool's acquire timeout, so every request that
//! needs the database answers 503 at once and nothing piles up; the first probe that gets an
//! answer lets statements through again.
//!
//! Slow is not down: on a saturated machine a probe may wait seconds for its answer, and
//! calling the database down then would turn an overload into an outage. The probe keeps one
//! connection of its own and calls the database down when that connection fails and a new one
//! is refused (the database stopped, or restarted and not yet up), or when nothing answered
//! for `SILENT_FOR` (the network or the database hung).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ostiary_core::StoreError;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

/// How often the probe asks while the database answers, and while it does not.
const PROBE_WHILE_UP: Duration = Duration::from_millis(500);
const PROBE_WHILE_DOWN: Duration = Duration::from_millis(250);
/// How long one probe (a connect or a ping) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Without a single answer for this long, the database is down even if nothing refused.
const SILENT_FOR: Duration = Duration::from_secs(4);

/// Shared by a store's clones; the probe ends when the last one is dropped.
#[derive(Debug, Default)]
pub(crate) struct Health {
    down: AtomicBool,
}

/// What a statement fails with while the database is down (only ever logged).
#[derive(Debug, thiserror::Error)]
#[error("PostgreSQL did not answer the last probe; not trying until it does")]
struct Unavailable;

impl Health {
    /// Starts probing the database `options` connect to; the probe stops when the returned
    /// `Health` is dropped.
    pub(crate) fn watch(options: PgConnectOptions) -> Arc<Self> {
        let health = Arc::new(Self::default());
        tokio::spawn(run(Arc::downgrade(&health), options));
        health
    }

    /// `Err` while the database is down.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(StoreError::Backend(Box::new(Unavailable)));
        }
        Ok(())
    }

    fn set_down(&self, down: bool) {
        if self.down.swap(down, Ordering::Relaxed) != down {
            if down {
                tracing::warn!(
                    "PostgreSQL does not answer; requests that need it get 503 until it does"
                );
            } else {
                tracing::info!("PostgreSQL answers again");
            }
        }
    }
}

/// What one probe found.
enum Probe {
    Answered,
    /// The connection failed, or a new one was refused: down at once.
    Refused,
    /// No answer in time: down only once silent for `SILENT_FOR`.
    Silent,
}

async fn probe(connection: &mut Option<PgConnection>, options: &PgConnectOptions) -> Probe {
    if let Some(conn) = connection.as_mut() {
        match tokio::time::timeout(PROBE_TIMEOUT, conn.ping()).await {
            Ok(Ok(())) => return Probe::Answered,
            // A ping cut short leaves the connection in no known state: the next probe
            // connects afresh.
            Err(_) => {
                *connection = None;
                return Probe::Silent;
            }
            // The connection is gone (the database stopped or restarted): try a new one.
            Ok(Err(_)) => *connection = None,
        }
    }
    match tokio::time::timeout(PROBE_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => {
            *connection = Some(conn);
            Probe::Answered
        }
        Ok(Err(e)) => match refused(&e) {
            Some(true) => Probe::Refused,
            // The server answered, refusing this connection only (too many clients, a
            // password): it is up, and the pool's connections may well work.
            Some(false) => Probe::Answered,
            None => Probe::Silent,
        },
        Err(_) => Probe::Silent,
    }
}

/// What a failed connect says: `Some(true)` the database is not there (nothing listens, the
/// connection was reset, or the server is shutting down or starting up, SQLSTATE class 57P),
/// `Some(false)` it is there and answered with another error, `None` nothing to tell.
fn refused(error: &sqlx::Error) -> Option<bool> {
    match error {
        sqlx::Error::Io(_) => Some(true),
        sqlx::Error::Database(db) => Some(db.code().is_some_and(|code| code.starts_with("57P"))),
        _ => None,
    }
}

async fn run(health: Weak<Health>, options: PgConnectOptions) {
    let mut connection = None;
    let mut last_answer = Instant::now();
    loop {
        let found = probe(&mut connection, &options).await;
        let Some(health) = health.upgrade() else {
            return;
        };
        let down = match found {
            Probe::Answered => {
                last_answer = Instant::now();
                false
            }
            Probe::Refused => true,
            Probe::Silent => last_answer.elapsed() >= SILENT_FOR,
        };
        health.set_down(down);
        drop(health);
        tokio::time::sleep(if down {
            PROBE_WHILE_DOWN
        } else {
            PROBE_WHILE_UP
        })
        .await;
    }
}
