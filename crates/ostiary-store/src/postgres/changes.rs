//! The change feed on PostgreSQL: `LISTEN ostiary_changes` on a connection of its own, fed by
//! the triggers of migration 19 (clients, signing keys) and by the failure counters'
//! statements, with a heartbeat of its own that proves the connection still hears. The
//! payloads are this module's format, parsed here and nowhere else.

use std::time::Duration;

use async_trait::async_trait;
use ostiary_core::StoreError;
use ostiary_core::changes::{Change, ChangeFeed, FailureCount};
use ostiary_core::client::ClientId;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

/// The one channel every change is announced on (migration 19).
const CHANNEL: &str = "ostiary_changes";

/// The `application_name` of each instance's listening connection: counting them counts the
/// instances serving from the database.
pub(crate) const LISTENER: &str = "ostiary-listener";

/// How often the feed sends itself a heartbeat through the requests' pool, and how long it
/// waits for any notification before it takes its connection for dead: a half-open TCP
/// connection, or a pooler that does not keep `LISTEN` sessions, would otherwise leave it
/// waiting for ever while changes go unheard.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
const SILENT_LIMIT: Duration = Duration::from_secs(15);

/// What `next` fails with when not even the feed's own heartbeat arrived (only logged).
#[derive(Debug, thiserror::Error)]
#[error("no notification for {SILENT_LIMIT:?}, not even this listener's heartbeat")]
struct Silent;

/// Listens on [`CHANNEL`], connecting on first use and again after a lost connection.
pub(crate) struct PgChangeFeed {
    /// How the listener connects: a pool of one connection of its own for each listener, so
    /// listening never takes one of the requests' connections, and a connection given up
    /// for dead goes with its listener instead of back to a pool.
    options: PgConnectOptions,
    /// Where changes are made, and the heartbeats sent.
    requests: PgPool,
    listener: Option<PgListener>,
    /// This feed's own channel, for its heartbeats.
    heartbeat: String,
    /// Sends the heartbeats; started with the first connection, ended with the feed.
    beating: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for PgChangeFeed {
    fn drop(&mut self) {
        if let Some(beating) = &self.beating {
            beating.abort();
        }
    }
}

impl PgChangeFeed {
    /// A feed on the database of `requests` (the store's pool), over a connection of its own.
    pub(crate) fn new(requests: &PgPool) -> Self {
        let options = requests
            .connect_options()
            .as_ref()
            .clone()
            .application_name(LISTENER);
        let tag: String = ostiary_core::random::os_random_bytes::<8>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            options,
            requests: requests.clone(),
            listener: None,
            heartbeat: format!("ostiary_heartbeat_{tag}"),
            beating: None,
        }
    }
}

/// Notifies `channel` every [`HEARTBEAT_EVERY`] through `requests`, the way changes travel.
async fn beat(requests: PgPool, channel: String) {
    loop {
        tokio::time::sleep(HEARTBEAT_EVERY).await;
        // A failure is the database's, which the listener notices by itself.
        let _ = sqlx::query("SELECT pg_notify($1, '')")
            .bind(&channel)
            .execute(&requests)
            .await;
    }
}

#[async_trait]
impl ChangeFeed for PgChangeFeed {
    async fn next(&mut self) -> Result<Change, StoreError> {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(super::ACQUIRE_TIMEOUT)
                    .max_lifetime(None)
                    .idle_timeout(None)
                    .connect_lazy_with(self.options.clone());
                let mut listener = PgListener::connect_with(&pool)
                    .await
                    .map_err(crate::error::backend)?;
                listener.ignore_pool_close_event(true);
                listener
                    .listen_all([CHANNEL, self.heartbeat.as_str()])
                    .await
                    .map_err(crate::error::backend)?;
                self.listener = Some(listener);
                if self.beating.is_none() {
                    let beat = beat(self.requests.clone(), self.heartbeat.clone());
                    self.beating = Some(tokio::spawn(beat));
                }
                // Whatever was announced before this LISTEN took effect (at start, or while
                // the connection was down) is lost: the caller reads everything again.
                return Ok(Change::Missed);
            };
            let Ok(received) = tokio::time::timeout(SILENT_LIMIT, listener.try_recv()).await else {
                // Not even the heartbeat: the connection is taken for dead (and, cut short,
                // is in no known state); the next call connects afresh and reports the gap.
                self.listener = None;
                return Err(StoreError::Backend(Box::new(Silent)));
            };
            match received {
                Ok(Some(notification)) if notification.channel() == self.heartbeat => {}
                Ok(Some(notification)) => {
                    if let Some(change) = parse(notification.payload()) {
                        return Ok(change);
                    }
                    tracing::warn!("ignoring a change notification of unknown shape");
                }
                // The connection dropped; the listener has listened again on a new one, and
                // what was announced in between is lost.
                Ok(None) => return Ok(Change::Missed),
                Err(e) => {
                    self.listener = None;
                    return Err(crate::error::backend(e));
                }
            }
        }
    }
}

/// A notification's payload as a change; `None` for a shape this version does not know.
fn parse(payload: &str) -> Option<Change> {
    let (kind, rest) = payload.split_once(' ').unwrap_or((payload, ""));
    match kind {
        "keys" => Some(Change::Keys),
        "client" => ClientId::parse_any(rest).ok().map(Change::Client),
        "failures" => {
            let mut fields = rest.splitn(4, ' ');
            let failures = fields.next()?.parse().ok()?;
            let last_failure = fields.next()?.parse().ok()?;
            let locked_until = match fields.next()? {
                "-" => None,
                until => Some(until.parse().ok()?),
            };
            let key = fields.next()?.to_owned();
            Some(Change::Failures(FailureCount {
                key,
                failures,
                last_failure,
                locked_until,
            }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_into_changes() {
        assert_eq!(parse("keys"), Some(Change::Keys));
        assert_eq!(
            parse("client https://app.example/client.json"),
            Some(Change::Client(
                ClientId::parse_any("https://app.example/client.json").unwrap()
            ))
        );
        assert_eq!(
            parse("failures 5 1700000000000 1700000002000 account|pair|alice|192.0.2.1"),
            Some(Change::Failures(FailureCount {
                key: "account|pair|alice|192.0.2.1".into(),
                failures: 5,
                last_failure: 1_700_000_000_000,
                locked_until: Some(1_700_000_002_000),
            }))
        );
        assert_eq!(
            parse("failures 0 0 - client|source|192.0.2.1"),
            Some(Change::Failures(FailureCount {
                key: "client|source|192.0.2.1".into(),
                failures: 0,
                last_failure: 0,
                locked_until: None,
            }))
        );
        for unknown in [
            "",
            "client",
            "client ",
            "failures 1 2",
            "failures x 1 - k",
            "later 1",
        ] {
            assert_eq!(parse(unknown), None, "{unknown:?}");
        }
    }
}
