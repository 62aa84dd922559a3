//! The change feed on PostgreSQL: `LISTEN ostiary_changes` on a connection of its own, fed by
//! the triggers of migration 19 (clients, signing keys) and by the failure counters'
//! statements. The payloads are this module's format, parsed here and nowhere else.

use async_trait::async_trait;
use ostiary_core::StoreError;
use ostiary_core::changes::{Change, ChangeFeed, FailureCount};
use ostiary_core::client::ClientId;
use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};

/// The one channel every change is announced on (migration 19).
const CHANNEL: &str = "ostiary_changes";

/// The `application_name` of each instance's listening connection: counting them counts the
/// instances serving from the database.
pub(crate) const LISTENER: &str = "ostiary-listener";

/// Listens on [`CHANNEL`], connecting on first use and again after a lost connection.
pub(crate) struct PgChangeFeed {
    /// A pool of one connection of its own, so listening never takes one of the requests'.
    pool: PgPool,
    listener: Option<PgListener>,
}

impl PgChangeFeed {
    /// A feed on the database of `requests` (the store's pool), over a connection of its own.
    pub(crate) fn new(requests: &PgPool) -> Self {
        let options = requests
            .connect_options()
            .as_ref()
            .clone()
            .application_name(LISTENER);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(super::ACQUIRE_TIMEOUT)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(options);
        Self {
            pool,
            listener: None,
        }
    }
}

#[async_trait]
impl ChangeFeed for PgChangeFeed {
    async fn next(&mut self) -> Result<Change, StoreError> {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                let mut listener = PgListener::connect_with(&self.pool)
                    .await
                    .map_err(crate::error::backend)?;
                listener.ignore_pool_close_event(true);
                listener
                    .listen(CHANNEL)
                    .await
                    .map_err(crate::error::backend)?;
                self.listener = Some(listener);
                // Whatever was announced before this LISTEN took effect (at start, or while
                // the connection was down) is lost: the caller reads everything again.
                return Ok(Change::Missed);
            };
            match listener.try_recv().await {
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
