//! Whether PostgreSQL answers, as a background probe sees it: while it does not, statements
//! fail at once instead of each waiting out the pool's acquire timeout, so every request that
//! needs the database answers 503 at once and nothing piles up; the first probe that gets an
//! answer lets statements through again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ostiary_core::StoreError;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// How often the probe asks while the database answers, and while it does not.
const PROBE_WHILE_UP: Duration = Duration::from_millis(500);
const PROBE_WHILE_DOWN: Duration = Duration::from_millis(250);
/// How long one probe waits for a connection and its answer.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

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
    /// Starts probing the database of `requests` (the store's pool) over a connection of its
    /// own; the probe stops when the returned `Health` is dropped.
    pub(crate) fn watch(requests: &PgPool) -> Arc<Self> {
        let health = Arc::new(Self::default());
        let options = requests.connect_options().as_ref().clone();
        let probe = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(PROBE_TIMEOUT)
            .connect_lazy_with(options);
        tokio::spawn(run(Arc::downgrade(&health), probe));
        health
    }

    /// `Err` while the last probe got no answer.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(StoreError::Backend(Box::new(Unavailable)));
        }
        Ok(())
    }
}

async fn run(health: Weak<Health>, probe: PgPool) {
    loop {
        let answered = tokio::time::timeout(PROBE_TIMEOUT, sqlx::query("SELECT 1").execute(&probe))
            .await
            .is_ok_and(|r| r.is_ok());
        let Some(health) = health.upgrade() else {
            return;
        };
        let was_down = health.down.swap(!answered, Ordering::Relaxed);
        // The state changed: down then, answered now; or up then, no answer now.
        if was_down == answered {
            if answered {
                tracing::info!("PostgreSQL answers again");
            } else {
                tracing::warn!(
                    "PostgreSQL does not answer; requests that need it get 503 until it does"
                );
            }
        }
        drop(health);
        tokio::time::sleep(if answered {
            PROBE_WHILE_UP
        } else {
            PROBE_WHILE_DOWN
        })
        .await;
    }
}
