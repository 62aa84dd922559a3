//! The embedded default: SQLite in WAL mode with foreign keys on and a busy timeout.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

use ostiary_core::secret::SecretHash;

use crate::OpenError;
use crate::batches::Batches;
use crate::rows::{PresentedCodeRow, PresentedSessionRow, RefreshFamilyRow};
use crate::sql::lookups::{presented_code, presented_session, refresh_family};

mod batches;
mod checkpoints;
mod connections;
mod revocations;

use batches::SqliteBatches;
use checkpoints::Checkpoints;
use connections::Connections;
pub(crate) use connections::Lent;
pub(crate) use connections::WriteTransaction;
use revocations::RevocationAnswers;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQL texts the writer keeps prepared. It writes about 100 of its own, 48 batch texts
/// (`crate::batches`: 3 kinds × 16 sizes) and 7 audit texts; under sqlx's default of 100 a
/// mixed load evicts them in turn, and each miss on a batch prepares up to 50 statements again
/// on the one writer thread.
const WRITER_STATEMENTS: usize = 256;

/// How long a connection waits for a lock another connection holds (another process's write,
/// a checkpoint's copy) before it fails with "database is locked".
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Readers: in WAL mode they read beside the writer without waiting for it.
    readers: Arc<Connections>,
    /// The one connection that writes. SQLite admits one writer at a time and makes any other
    /// connection that wants to write sleep and retry (up to 100 ms between tries), so under
    /// load writes would finish in no particular order and late. Queued here instead, each
    /// write starts the moment the previous one commits, in the order they came.
    writer: Arc<Connections>,
    /// Copies the WAL into the database file after writes, on a connection of its own.
    checkpoints: Arc<Checkpoints>,
    /// Revocation checks answered from memory while nothing was committed since.
    revocations: Arc<RevocationAnswers>,
    /// The user flows' writes (codes, redemptions, refresh rotations), committed together as
    /// they queue for the writer.
    batches: Arc<Batches>,
}

impl SqliteStore {
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, OpenError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(OpenError::Connect)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL is durable across application crashes and fast; only an OS
            // crash can lose the last transactions, never corrupt the file.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        create_private(&options, url)?;
        // The writer connects first: it creates the file and switches it to WAL. Its own
        // checkpoint waits for 10,000 pages: `checkpoints` copies the WAL before that.
        let writer = Arc::new(
            Connections::open(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", checkpoints::WRITER_BACKSTOP_PAGES)
                    .statement_cache_capacity(WRITER_STATEMENTS),
                1,
            )
            .await
            .map_err(OpenError::Connect)?,
        );
        let revocations = revocation_answers(&writer, url, &options)
            .await
            .map_err(OpenError::Connect)?;
        let checkpoints = Arc::new(
            Checkpoints::start(options.clone(), writer.clone())
                .await
                .map_err(OpenError::Connect)?,
        );
        let batches = Batches::start(SqliteBatches {
            writer: writer.clone(),
            checkpoints: checkpoints.clone(),
        });
        // Readers cannot write at all, so a write sent to them by mistake fails at once
        // instead of competing with the writer.
        let readers = Connections::open(options.pragma("query_only", "ON"), max_connections)
            .await
            .map_err(OpenError::Connect)?;
        Ok(Self {
            readers: Arc::new(readers),
            writer,
            checkpoints,
            revocations: Arc::new(revocations),
            batches: Arc::new(batches),
        })
    }

    /// The connection for statements that write (see `writer`), waiting its turn. Fails only
    /// after five seconds without a turn: SQLite is a file of this process (the signature is
    /// PostgreSQL's, whose statements share the SQL).
    pub(crate) async fn writer(&self) -> Result<Lent<'_>, ostiary_core::StoreError> {
        let writer = self.writer.lend().await.map_err(crate::error::backend)?;
        self.checkpoints.after_write();
        Ok(writer)
    }

    /// A connection for statements that only read: one of the read-only connections.
    pub(crate) async fn reader(&self) -> Result<Lent<'_>, ostiary_core::StoreError> {
        self.readers.lend().await.map_err(crate::error::backend)
    }

    /// The row of a lookup (`sql::lookups`) by its key, `sql`'s `$1`, read alone: a read of
    /// this process's file costs no round trip worth sharing.
    async fn look_up<R>(
        &self,
        sql: &'static str,
        key: &SecretHash,
    ) -> Result<Option<R>, ostiary_core::StoreError>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
    {
        sqlx::query_as(sql)
            .bind(key.as_bytes().as_slice())
            .fetch_optional(&mut *self.reader().await?)
            .await
            .map_err(crate::error::backend)
    }

    /// The session whose id hashes to `key` (`sql::lookups::presented_session!`).
    pub(crate) async fn presented_session_row(
        &self,
        key: &SecretHash,
    ) -> Result<Option<PresentedSessionRow>, ostiary_core::StoreError> {
        self.look_up(presented_session!("$1"), key).await
    }

    /// The code that hashes to `key` (`sql::lookups::presented_code!`).
    pub(crate) async fn presented_code_row(
        &self,
        key: &SecretHash,
    ) -> Result<Option<PresentedCodeRow>, ostiary_core::StoreError> {
        self.look_up(presented_code!("$1"), key).await
    }

    /// The refresh token that hashes to `key`, with its grant
    /// (`sql::lookups::refresh_family!`).
    pub(crate) async fn refresh_family_row(
        &self,
        key: &SecretHash,
    ) -> Result<Option<RefreshFamilyRow>, ostiary_core::StoreError> {
        self.look_up(refresh_family!("$1"), key).await
    }

    /// Whether an access token is revoked (`sql::keys`): `read` asks the database, unless
    /// the answer was read since the last commit of any process (`sqlite/revocations.rs`).
    pub(crate) async fn revocation_answer(
        &self,
        jti: &str,
        iat: i64,
        read: impl Future<Output = Result<bool, ostiary_core::StoreError>>,
    ) -> Result<bool, ostiary_core::StoreError> {
        // Taken before `read` runs: a commit after this point makes the answer's header stale.
        let before = self.revocations.commits();
        if let Some(before) = before
            && let Some(revoked) = self.revocations.recall(before, jti, iat)
        {
            return Ok(revoked);
        }
        let revoked = read.await?;
        if let Some(before) = before {
            self.revocations.keep(before, jti, iat, revoked);
        }
        Ok(revoked)
    }

    /// Waits for connections to be returned and closes them (flushes the WAL cleanly).
    pub(crate) async fn close(&self) {
        self.batches.stop();
        self.checkpoints.close().await;
        self.readers.close().await;
        self.writer.close().await;
    }

    pub async fn migrate(&self) -> Result<(), OpenError> {
        let mut writer = self.writer.lend().await.map_err(OpenError::Connect)?;
        MIGRATOR.run(&mut *writer).await.map_err(OpenError::Migrate)
    }

    /// A transaction that takes SQLite's write lock at `BEGIN IMMEDIATE`, waiting up to the busy
    /// timeout for it. A deferred transaction that reads first cannot upgrade to a writer once
    /// another connection has committed: SQLite then fails at once with "database is locked"
    /// instead of waiting. Every multi-statement write uses this.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<WriteTransaction<'_>, ostiary_core::StoreError> {
        WriteTransaction::begin(self.writer().await?, "BEGIN IMMEDIATE")
            .await
            .map_err(crate::error::backend)
    }

    /// The batch as multi-row `INSERT ... VALUES` statements of [`AUDIT_ROWS`] rows, then of
    /// halving sizes for the rest (one prepared text per size: 7), each row's fields bound as
    /// they are. Bound values cost SQLite less than a JSON array it parses and reads back
    /// with `->>`: its work per event fell from about 19,200 instructions to 8,200
    /// (callgrind), and every token request writes an event (bench/README.md, 2026-12-02).
    /// The caller's transaction takes the batch whole or not at all.
    pub(crate) async fn append_audit_batch(
        conn: &mut sqlx::SqliteConnection,
        events: &[ostiary_core::audit::AuditEvent],
    ) -> Result<(), ostiary_core::StoreError> {
        // (rows, text) for each size, largest first.
        static TEXTS: std::sync::OnceLock<Vec<(usize, String)>> = std::sync::OnceLock::new();
        let texts = TEXTS.get_or_init(|| {
            std::iter::successors(Some(AUDIT_ROWS), |rows| Some(rows / 2))
                .take_while(|rows| *rows > 0)
                .map(|rows| {
                    let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; rows].join(", ");
                    let text = format!(
                        "INSERT INTO audit_events (at, event, actor, client_id, subject, \
                         source_ip, outcome, reason) VALUES {values}"
                    );
                    (rows, text)
                })
                .collect()
        });
        let mut rest = events;
        for (rows, text) in texts {
            while rest.len() >= *rows {
                let (chunk, after) = rest.split_at(*rows);
                rest = after;
                let mut statement = sqlx::query(text.as_str());
                for e in chunk {
                    statement = statement
                        .bind(e.at.unix_timestamp())
                        .bind(e.event.as_str())
                        .bind(&e.actor)
                        .bind(&e.client_id)
                        .bind(&e.subject)
                        .bind(&e.source_ip)
                        .bind(e.outcome.as_str())
                        .bind(&e.reason);
                }
                statement
                    .execute(&mut *conn)
                    .await
                    .map_err(crate::error::backend)?;
            }
        }
        Ok(())
    }
}

/// Rows in the largest audit insert: 8 parameters each, far below SQLite's limit (32,766).
const AUDIT_ROWS: usize = 64;

/// The query parameters of a `sqlite:` URL as sqlx reads them (percent-escapes decoded).
fn url_parameters(url: &str) -> Vec<(String, String)> {
    url.split_once('?')
        .map(|(_, query)| {
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// Whether sqlx opens the URL as an in-memory database (`sqlite::memory:`, `mode=memory`).
fn in_memory(url: &str) -> bool {
    let database = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    database == ":memory:"
        || url_parameters(url)
            .iter()
            .any(|(key, value)| key == "mode" && value == "memory")
}

/// Revocation answers for the file the writer opened: SQLite's own name for it (symbolic
/// links resolved), and whether its WAL-index is the `-shm` file beside it and each reader
/// reads its own snapshot. That takes the WAL journal, normal locking, the default VFS
/// (`vfs=unix-excl` and exclusive locking keep the WAL-index in memory, where nothing outside
/// SQLite sees a commit) and a private cache (a shared one hands a reader the snapshot another
/// connection holds open, older than a commit it should see). The URL's parameters are read
/// as sqlx reads them, so no spelling escapes the check; a `file:` name may carry URI
/// parameters of its own and keeps nothing.
async fn revocation_answers(
    writer: &Arc<Connections>,
    url: &str,
    options: &SqliteConnectOptions,
) -> Result<RevocationAnswers, sqlx::Error> {
    let mut connection = writer.lend().await?;
    let main_file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&mut *connection)
            .await?;
    let journal: String = sqlx::query_scalar("PRAGMA main.journal_mode")
        .fetch_one(&mut *connection)
        .await?;
    let locking: String = sqlx::query_scalar("PRAGMA main.locking_mode")
        .fetch_one(&mut *connection)
        .await?;
    // An in-memory database needs no test here: SQLite names no file for it.
    let private_default_vfs = url_parameters(url)
        .iter()
        .all(|(key, value)| key != "vfs" && !(key == "cache" && value != "private"));
    let plain_name = !options
        .get_filename()
        .to_string_lossy()
        .starts_with("file:");
    let wal_index_in_file = journal.eq_ignore_ascii_case("wal")
        && locking.eq_ignore_ascii_case("normal")
        && private_default_vfs
        && plain_name;
    Ok(RevocationAnswers::open(&main_file, wal_index_in_file))
}

/// The database holds credential hashes: only the owner may read it. The file is created
/// with mode 0600 before SQLite opens it, and SQLite gives its WAL and shared-memory files
/// the database file's mode.
fn create_private(options: &SqliteConnectOptions, url: &str) -> Result<(), OpenError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = options.get_filename();
    // sqlx names an in-memory database `file:sqlx-in-memory-N`: no file to create.
    if in_memory(url) || path.as_os_str().is_empty() || path == Path::new(":memory:") {
        return Ok(());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(OpenError::Permissions(e)),
    }
}

crate::sql::clients::impl_client_store!(SqliteStore);
crate::sql::users::impl_user_store!(SqliteStore);
crate::sql::second_factors::impl_second_factor_store!(SqliteStore);
crate::sql::keys::impl_key_store!(SqliteStore);
crate::sql::audit::impl_audit_store!(SqliteStore);
crate::sql::sessions::impl_session_store!(SqliteStore);
crate::sql::grants::impl_grant_store!(SqliteStore);
crate::sql::interactions::impl_interaction_store!(SqliteStore);
crate::sql::replays::impl_replay_store!(SqliteStore);
crate::sql::pushed::impl_pushed_request_store!(SqliteStore);
crate::sql::device::impl_device_authorization_store!(SqliteStore);
crate::sql::registrations::impl_registration_store!(SqliteStore);
crate::sql::documents::impl_document_client_store!(SqliteStore);
crate::sql::bff_sessions::impl_bff_session_store!(SqliteStore);

#[async_trait::async_trait]
impl ostiary_core::Store for SqliteStore {
    async fn ping(&self) -> Result<(), ostiary_core::StoreError> {
        // Both sides: a lost writer would otherwise fail every write while reads answer.
        self.batches.check()?;
        self.writer.probe().await.map_err(crate::error::backend)?;
        self.readers.probe().await.map_err(crate::error::backend)
    }

    fn pool_stats(&self) -> ostiary_core::PoolStats {
        let (readers, writer) = (self.readers.stats(), self.writer.stats());
        ostiary_core::PoolStats {
            open: readers.open + writer.open,
            idle: readers.idle + writer.idle,
            max: readers.max + writer.max,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly

    use super::*;
    use crate::upgrade_tests;

    /// Migrations 21 (successors named) and 22 (answers on the successors' rows) on a database
    /// whose last rotation before them left an answer on the rotated row: the answer keeps
    /// its grace until the successor is used, as before the upgrade.
    #[tokio::test]
    async fn an_answer_from_before_migrations_21_and_22_keeps_its_grace_until_the_successor_is_used()
     {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("upgrade.db").display());
        let store = SqliteStore::open(&url, 2).await.unwrap();
        let mut writer = store.writer.lend().await.unwrap();
        MIGRATOR
            .run_to(upgrade_tests::BEFORE_SUCCESSORS, &mut *writer)
            .await
            .unwrap();
        sqlx::raw_sql(upgrade_tests::EARLIER_GRANTS)
            .execute(&mut *writer)
            .await
            .unwrap();
        upgrade_tests::insert_earlier_refresh_tokens!(&mut *writer);
        drop(writer);
        store.migrate().await.unwrap();
        upgrade_tests::assert_earlier_answers_keep_their_grace(&store).await;
    }
}
