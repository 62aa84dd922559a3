//! PostgreSQL, for deployments that run several instances against one database.

mod batches;
mod changes;
mod failures;
mod health;
mod lookups;
mod tls;

pub(crate) use changes::LISTENER;

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

use crate::OpenError;
use crate::batches::Batches;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a connection, connecting included. When PostgreSQL is
/// down or unreachable, requests fail within this (503 with `Retry-After`) instead of each
/// holding its client for seconds, and the pool connects again by itself once it is back.
/// Under load a request waits milliseconds for a connection; one that waits longer is shed
/// the same way rather than queued.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(750);

/// A connection idle at least this long is pinged before it is lent; one back from use more
/// recently is lent as it is. sqlx pings every connection it lends by default, one more
/// round trip per statement (about a tenth of a code flow's rate on a shared machine,
/// bench/README.md, 2026-12-02). A connection that died while idle this long (the server
/// restarted) is found by the ping and replaced. One that dies in use, or within this time of
/// its last use (a restart quicker than the health probe notices, under load), fails its
/// statement (503 with `Retry-After`: at most one request per pooled connection) and is
/// closed when it comes back, where sqlx pings every connection.
const PING_IDLE_AFTER: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    /// Whether the database answered its last probe; statements wait for no connection
    /// while it did not.
    health: std::sync::Arc<health::Health>,
    /// The user flows' writes (codes, redemptions, refresh rotations), written in batches as
    /// they queue.
    batches: std::sync::Arc<Batches>,
    /// The user flows' reads by key (sessions, codes, refresh tokens), read in batches as
    /// they queue.
    lookups: std::sync::Arc<lookups::Lookups>,
}

/// A pool of up to `max` connections, lent without a ping unless idle (see
/// [`PING_IDLE_AFTER`]).
fn pool_options(max: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|connection, lent| {
            Box::pin(async move {
                if lent.idle_for >= PING_IDLE_AFTER {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
}

/// The settings of the batches' connections, sent in the startup packet's `options`.
/// The batches' statements (and the lookups') find every row by key:
/// - Sequential scans off: for a table still small (a new database), the planner scans it
///   whole for `= ANY($n)` until autoanalyze catches up (the bench's code phase fell to half
///   its rate within 30 s).
/// - Generic plans always (`plan_cache_mode`): sqlx prepares each statement once per
///   connection, but PostgreSQL went on planning these afresh at every run, their arrays'
///   sizes making a custom plan look cheaper than the generic one. Planning was a seventh of
///   the database's CPU in the bench's code phase; the generic plans are index plans too
///   (bench/README.md, 2026-12-02).
///
/// Both only make the batches faster: their answers are the same without them.
const BATCH_SETTINGS: [(&str, &str); 2] = [
    ("enable_seqscan", "off"),
    ("plan_cache_mode", "force_generic_plan"),
];

/// The pool of the batches and the lookups, its connections with [`BATCH_SETTINGS`]. A
/// pooler that refuses them (PgBouncer refuses startup parameters it neither tracks nor is
/// told to ignore) would keep the server from starting, so the pool then connects without
/// them, with a warning: the batches are then only slower.
///
/// Errors: the database cannot be reached, or refuses a connection for another reason.
async fn batch_pool(options: &PgConnectOptions) -> Result<PgPool, sqlx::Error> {
    let size = batches::CONNECTIONS + lookups::CONNECTIONS;
    let tuned = options.clone().options(BATCH_SETTINGS);
    match pool_options(size).connect_with(tuned).await {
        Err(sqlx::Error::Database(e)) if refuses_batch_settings(e.message()) => {
            tracing::warn!(
                error = %e,
                settings = ?BATCH_SETTINGS,
                "the database refused the batch connections' settings in the startup packet, \
                 as PgBouncer does with parameters it does not track; the batches connect \
                 without them, and may be slower"
            );
            pool_options(size).connect_with(options.clone()).await
        }
        result => result,
    }
}

/// Whether a database error's `message` is a pooler's refusal of [`BATCH_SETTINGS`], as
/// PgBouncer words it: "unsupported startup parameter: options" before 1.20, which refuses
/// `options` whole, and "unsupported startup parameter in options: NAME" from 1.20, which
/// reads it and names the first setting it does not track. PostgreSQL itself accepts both
/// (version 12 and later).
fn refuses_batch_settings(message: &str) -> bool {
    message == "unsupported startup parameter: options"
        || message
            .strip_prefix("unsupported startup parameter in options: ")
            .is_some_and(|name| BATCH_SETTINGS.iter().any(|(setting, _)| *setting == name))
}

impl PgStore {
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, OpenError> {
        let options = tls::connect_options(url)
            .await
            .map_err(OpenError::Connect)?;
        let batch_pool = batch_pool(&options).await.map_err(OpenError::Connect)?;
        let pool = pool_options(max_connections)
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        let health = health::Health::watch(pool.connect_options().as_ref().clone());
        let lookups = lookups::Lookups::start(&batch_pool, &health);
        let batches = Batches::start(batches::PgBatches {
            pool: batch_pool,
            health: health.clone(),
        });
        Ok(Self {
            pool,
            health,
            batches: std::sync::Arc::new(batches),
            lookups: std::sync::Arc::new(lookups),
        })
    }

    /// A connection for statements that write, from the one pool (PostgreSQL runs writers
    /// side by side). Fails at once while the database does not answer its probe.
    pub(crate) async fn writer(
        &self,
    ) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, ostiary_core::StoreError> {
        self.healthy_pool()?
            .acquire()
            .await
            .map_err(crate::error::backend)
    }

    /// A connection for statements that only read: the same pool, under the same condition.
    pub(crate) async fn reader(
        &self,
    ) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, ostiary_core::StoreError> {
        self.writer().await
    }

    /// Whether an access token is revoked (`sql::keys`): `read` asks the database, every
    /// time. Instances share the database, and PostgreSQL offers no cheaper sign that nothing
    /// was committed since (SQLite's store keeps answers until the next commit).
    pub(crate) async fn revocation_answer(
        &self,
        _jti: &str,
        _iat: i64,
        read: impl Future<Output = Result<bool, ostiary_core::StoreError>>,
    ) -> Result<bool, ostiary_core::StoreError> {
        read.await
    }

    /// The pool, unless the database does not answer its probe.
    fn healthy_pool(&self) -> Result<&PgPool, ostiary_core::StoreError> {
        self.health.check()?;
        Ok(&self.pool)
    }

    pub async fn migrate(&self) -> Result<(), OpenError> {
        MIGRATOR.run(&self.pool).await.map_err(OpenError::Migrate)
    }

    /// An ordinary READ COMMITTED transaction. The compare-and-set updates in `sql/` need no
    /// more: a second writer waits on the row lock, then re-checks its WHERE clause against the
    /// committed row and changes nothing.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, ostiary_core::StoreError> {
        self.healthy_pool()?
            .begin()
            .await
            .map_err(crate::error::backend)
    }

    /// The batch as one `INSERT ... SELECT FROM UNNEST` of one array per column: one
    /// statement (written whole or not at all) in one round trip. Not `COPY`, which is cheaper
    /// per row but takes a second write before its answer, which Nagle's algorithm and the
    /// server's delayed ACK hold for 40 ms: with each response waiting for its event's
    /// commit, that would cap the server at one batch per 40 ms. PostgreSQL text cannot hold
    /// NUL, so it becomes U+FFFD and a hostile value cannot make the batch fail.
    pub(crate) async fn append_audit_batch(
        conn: &mut sqlx::PgConnection,
        events: &[ostiary_core::audit::AuditEvent],
    ) -> Result<(), ostiary_core::StoreError> {
        fn text(value: &str) -> String {
            value.replace('\0', "\u{FFFD}")
        }
        let optional = |value: &Option<String>| value.as_deref().map(text);
        let mut at = Vec::with_capacity(events.len());
        let mut event = Vec::with_capacity(events.len());
        let mut actor = Vec::with_capacity(events.len());
        let mut client_id = Vec::with_capacity(events.len());
        let mut subject = Vec::with_capacity(events.len());
        let mut source_ip = Vec::with_capacity(events.len());
        let mut outcome = Vec::with_capacity(events.len());
        let mut reason = Vec::with_capacity(events.len());
        for e in events {
            at.push(e.at.unix_timestamp());
            event.push(e.event.as_str());
            actor.push(text(&e.actor));
            client_id.push(optional(&e.client_id));
            subject.push(optional(&e.subject));
            source_ip.push(optional(&e.source_ip));
            outcome.push(e.outcome.as_str());
            reason.push(optional(&e.reason));
        }
        sqlx::query(
            "INSERT INTO audit_events (at, event, actor, client_id, subject, source_ip, outcome, \
             reason) SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], \
             $5::text[], $6::text[], $7::text[], $8::text[])",
        )
        .bind(at)
        .bind(event)
        .bind(actor)
        .bind(client_id)
        .bind(subject)
        .bind(source_ip)
        .bind(outcome)
        .bind(reason)
        .execute(conn)
        .await
        .map_err(crate::error::backend)?;
        Ok(())
    }
}

crate::sql::clients::impl_client_store!(PgStore);
crate::sql::users::impl_user_store!(PgStore);
crate::sql::second_factors::impl_second_factor_store!(PgStore);
crate::sql::keys::impl_key_store!(PgStore);
crate::sql::audit::impl_audit_store!(PgStore);
crate::sql::sessions::impl_session_store!(PgStore);
crate::sql::grants::impl_grant_store!(PgStore);
crate::sql::interactions::impl_interaction_store!(PgStore);
crate::sql::replays::impl_replay_store!(PgStore);
crate::sql::pushed::impl_pushed_request_store!(PgStore);
crate::sql::device::impl_device_authorization_store!(PgStore);
crate::sql::registrations::impl_registration_store!(PgStore);
crate::sql::documents::impl_document_client_store!(PgStore);
crate::sql::bff_sessions::impl_bff_session_store!(PgStore);

#[async_trait::async_trait]
impl ostiary_core::Store for PgStore {
    async fn ping(&self) -> Result<(), ostiary_core::StoreError> {
        self.batches.check()?;
        self.lookups.check()?;
        sqlx::query("SELECT 1")
            .execute(&mut *self.reader().await?)
            .await
            .map_err(crate::error::backend)?;
        Ok(())
    }

    fn pool_stats(&self) -> ostiary_core::PoolStats {
        crate::pool_stats(&self.pool)
    }

    fn change_feed(&self) -> Option<Box<dyn ostiary_core::changes::ChangeFeed>> {
        Some(Box::new(changes::PgChangeFeed::new(&self.pool)))
    }

    fn announces_changes(&self) -> bool {
        true
    }

    async fn live_instances(&self) -> Result<u32, ostiary_core::StoreError> {
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1",
        )
        .bind(changes::LISTENER)
        .fetch_one(&mut *self.reader().await?)
        .await
        .map_err(crate::error::backend)?;
        Ok(u32::try_from(listening).unwrap_or(u32::MAX).max(1))
    }

    fn shared_failures(&self) -> Option<&dyn ostiary_core::changes::FailureCountStore> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly

    use super::*;
    use crate::upgrade_tests;

    /// Only a refusal of the batches' own settings, in either of PgBouncer's wordings, is
    /// answered by connecting without them.
    #[test]
    fn only_a_refusal_of_the_batch_settings_drops_them() {
        for refusal in [
            "unsupported startup parameter: options",
            "unsupported startup parameter in options: enable_seqscan",
            "unsupported startup parameter in options: plan_cache_mode",
        ] {
            assert!(refuses_batch_settings(refusal), "{refusal}");
        }
        for other in [
            "unsupported startup parameter: extra_float_digits",
            "unsupported startup parameter in options: search_path",
            "password authentication failed for user \"ostiary\"",
        ] {
            assert!(!refuses_batch_settings(other), "{other}");
        }
    }

    /// Lent without a ping while in use, a connection that died while idle is still found
    /// and replaced before a statement meets it.
    #[tokio::test]
    async fn a_connection_that_died_while_idle_is_replaced_before_use() {
        let Some(db) = crate::testing::PostgresTestDatabase::create().await else {
            return;
        };
        let store = PgStore::open(&db.url, 1).await.unwrap();
        let backend = || async {
            sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()")
                .fetch_one(&mut *store.reader().await.unwrap())
                .await
                .unwrap()
        };
        let first = backend().await;
        assert_eq!(backend().await, first, "one connection, lent again");
        db.execute(&format!("SELECT pg_terminate_backend({first})"))
            .await;
        tokio::time::sleep(PING_IDLE_AFTER + Duration::from_millis(200)).await;
        assert_ne!(backend().await, first, "a new connection");
        store.pool.close().await;
        db.drop_database().await;
    }

    /// As the SQLite test of the same name: rows an earlier version wrote, migrated.
    #[tokio::test]
    async fn an_answer_from_before_migrations_21_and_22_keeps_its_grace_until_the_successor_is_used()
     {
        let Some(db) = crate::testing::PostgresTestDatabase::create().await else {
            return;
        };
        let store = PgStore::open(&db.url, 2).await.unwrap();
        let mut connection = store.pool.acquire().await.unwrap();
        MIGRATOR
            .run_to(upgrade_tests::BEFORE_SUCCESSORS, &mut *connection)
            .await
            .unwrap();
        sqlx::raw_sql(upgrade_tests::EARLIER_GRANTS)
            .execute(&mut *connection)
            .await
            .unwrap();
        upgrade_tests::insert_earlier_refresh_tokens!(&mut *connection);
        drop(connection);
        store.migrate().await.unwrap();
        upgrade_tests::assert_earlier_answers_keep_their_grace(&store).await;
        store.pool.close().await;
        db.drop_database().await;
    }
}
