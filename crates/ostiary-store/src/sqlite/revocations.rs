//! Answers to "is this access token revoked?", kept in memory until any connection of any
//! process commits to the database: SQLite's WAL-index header changes with every commit.
//!
//! Introspection asks the question on every request, and on SQLite each read is a round trip
//! to a connection's thread (a quarter of an introspection's CPU, and most of its wake-ups).
//! The answer can only change by a commit: a revocation, a `tokens revoke-all` cut-off, or a
//! purge (of tokens already expired). Every commit, by this process or another one (the CLI),
//! rewrites the WAL-index header at the start of the `-shm` file before it returns: the unix
//! VFS's WAL-index (<https://sqlite.org/walformat.html>, "The WAL-Index Header") holds two
//! copies of a 48-byte header whose change counter (`iChange`), last frame (`mxFrame`) and
//! salts move with every transaction that commits. An answer is kept with the header read
//! *before* the database was asked, so a commit racing with the read leaves a header that no
//! longer matches, and the next question goes to the database again.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::Mutex;

/// One copy of the WAL-index header (`WalIndexHdr`), in bytes.
const HEADER_BYTES: usize = 48;

/// At most this many answers are kept; past it they are all dropped (a commit drops them
/// anyway). About 100 bytes each.
const MAX_KEPT: usize = 4096;

/// The WAL-index header as read before a question went to the database.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Commits([u8; HEADER_BYTES]);

/// The kept answers of one database file.
pub(crate) struct RevocationAnswers {
    /// The `-shm` file, read with `pread`; `None` for an in-memory database (nothing kept).
    shm: Option<File>,
    kept: Mutex<Kept>,
}

impl std::fmt::Debug for RevocationAnswers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationAnswers")
            .field("shm", &self.shm)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Kept {
    /// The header the answers were read under; `None` before the first.
    commits: Option<Commits>,
    /// `jti` to the `iat` asked with and whether it was revoked (a `jti` names one token, so
    /// one `iat`).
    answers: HashMap<Box<str>, (i64, bool)>,
}

impl RevocationAnswers {
    /// For the database file at `database` (SQLite keeps the WAL-index beside it, in
    /// `<database>-shm`). Opened after the store's connections, which create that file and
    /// keep it for as long as they are open. Nothing is ever kept when it cannot be read.
    pub(crate) fn open(database: &Path) -> Self {
        let shm = if database.as_os_str().is_empty() || database == Path::new(":memory:") {
            None
        } else {
            let mut name = database.as_os_str().to_owned();
            name.push("-shm");
            File::open(name)
                .inspect_err(|e| {
                    tracing::warn!(error = %e, "the SQLite WAL-index cannot be read: every revocation check reads the database");
                })
                .ok()
        };
        Self {
            shm,
            kept: Mutex::new(Kept::default()),
        }
    }

    /// The WAL-index header now; `None` when it cannot be read, its two copies differ (a
    /// commit is writing it) or the file was unlinked (SQLite deletes it when the last
    /// connection of every process closes, and the next one creates a new file, which this
    /// one would never show): then nothing is kept or recalled.
    pub(crate) fn commits(&self) -> Option<Commits> {
        let shm = self.shm.as_ref()?;
        if shm.metadata().ok()?.nlink() == 0 {
            return None;
        }
        let mut both = [0u8; 2 * HEADER_BYTES];
        shm.read_exact_at(&mut both, 0).ok()?;
        let (first, second) = both.split_at(HEADER_BYTES);
        if first != second {
            return None;
        }
        let mut header = [0u8; HEADER_BYTES];
        header.copy_from_slice(first);
        Some(Commits(header))
    }

    /// The answer kept for `(jti, iat)`, if nothing was committed since it was read.
    pub(crate) fn recall(&self, now: Commits, jti: &str, iat: i64) -> Option<bool> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.commits != Some(now) {
            return None;
        }
        match kept.answers.get(jti) {
            Some(&(asked, revoked)) if asked == iat => Some(revoked),
            _ => None,
        }
    }

    /// Keeps `revoked`, the database's answer for `(jti, iat)` read after `before` was taken.
    pub(crate) fn keep(&self, before: Commits, jti: &str, iat: i64, revoked: bool) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.commits != Some(before) || kept.answers.len() >= MAX_KEPT {
            kept.answers.clear();
            kept.commits = Some(before);
        }
        kept.answers.insert(jti.into(), (iat, revoked));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly

    use ostiary_core::client::ClientId;
    use ostiary_core::{GrantStore, TokenStore};
    use time::{Duration, OffsetDateTime};

    use super::super::SqliteStore;

    /// A kept answer is given while nothing is committed, and a revocation committed by
    /// another process (a second store on the file, as the CLI opens one) is seen at once:
    /// by `jti`, then by the `tokens revoke-all` cut-off.
    #[tokio::test]
    async fn a_kept_answer_lasts_until_any_process_commits() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("kept.db").display());
        let server = SqliteStore::open(&url, 2).await.unwrap();
        server.migrate().await.unwrap();
        let cli = SqliteStore::open(&url, 1).await.unwrap();
        let now = OffsetDateTime::now_utc();
        let iat = now.unix_timestamp();

        assert!(!server.is_access_token_revoked("a", iat).await.unwrap());
        assert!(!server.is_access_token_revoked("b", iat).await.unwrap());
        // Both are kept: nothing was committed since they were read.
        let commits = server.revocations.commits().unwrap();
        assert_eq!(server.revocations.recall(commits, "a", iat), Some(false));
        assert_eq!(server.revocations.recall(commits, "b", iat), Some(false));
        // Asked with another `iat`, the answer is read again.
        assert_eq!(server.revocations.recall(commits, "a", iat - 1), None);

        let client = ClientId::parse("svc").unwrap();
        cli.revoke_access_token("a", &client, now + Duration::minutes(5))
            .await
            .unwrap();
        assert!(server.is_access_token_revoked("a", iat).await.unwrap());
        assert!(!server.is_access_token_revoked("b", iat).await.unwrap());

        cli.revoke_everything(now).await.unwrap();
        assert!(server.is_access_token_revoked("b", iat).await.unwrap());
        assert!(!server.is_access_token_revoked("c", iat + 1).await.unwrap());
        cli.close().await;
        server.close().await;
    }

    /// An in-memory database keeps nothing, nor a WAL-index file that was unlinked (a new one
    /// would take its place unseen): every check reads.
    #[test]
    fn nothing_is_kept_without_a_wal_index_file() {
        let answers = super::RevocationAnswers::open(std::path::Path::new(":memory:"));
        assert!(answers.commits().is_none());

        let dir = tempfile::tempdir().unwrap();
        let shm = dir.path().join("gone.db-shm");
        std::fs::write(&shm, [7u8; 2 * super::HEADER_BYTES]).unwrap();
        let answers = super::RevocationAnswers::open(&dir.path().join("gone.db"));
        assert!(answers.commits().is_some());
        std::fs::remove_file(&shm).unwrap();
        assert!(answers.commits().is_none());
    }
}
