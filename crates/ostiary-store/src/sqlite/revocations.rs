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
use std::sync::{Arc, Mutex};

/// One copy of the WAL-index header (`WalIndexHdr`), in bytes.
const HEADER_BYTES: usize = 48;

/// `iVersion`, the header's first field, in the WAL-index format this reads.
const WAL_INDEX_VERSION: u32 = 3_007_000;

/// At most this many answers are kept; past it they are all dropped (a commit drops them
/// anyway). About 100 bytes each.
const MAX_KEPT: usize = 4096;

/// The WAL-index header as read before a question went to the database.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Commits([u8; HEADER_BYTES]);

/// The kept answers of one database file.
pub(crate) struct RevocationAnswers {
    /// The `-shm` file SQLite uses, read with `pread`; `None` when there is none to trust
    /// (nothing is then kept).
    shm: Option<Arc<File>>,
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

/// The `-shm` files this process reads, one descriptor per file, open for as long as the file
/// exists. POSIX record locks belong to a process and a file, not to a descriptor: closing
/// *any* descriptor of the `-shm` file would drop every lock this process's SQLite connections
/// hold on it, among them the one that tells other processes the WAL-index is in use (one of
/// them would then rebuild it under those connections). SQLite keeps its own descriptors for
/// the same reason. A descriptor here is closed only once its file is unlinked, when no process
/// can open that file again.
static SHM_FILES: Mutex<Vec<Arc<File>>> = Mutex::new(Vec::new());

/// This process's descriptor of the `-shm` file at `path`, opened if it has none.
fn shm_file(path: &Path) -> std::io::Result<Arc<File>> {
    let mut files = SHM_FILES.lock().unwrap_or_else(|e| e.into_inner());
    files.retain(|file| file.metadata().is_ok_and(|m| m.nlink() > 0));
    let wanted = std::fs::metadata(path)?;
    let same = |m: &std::fs::Metadata| m.dev() == wanted.dev() && m.ino() == wanted.ino();
    if let Some(file) = files
        .iter()
        .find(|file| file.metadata().is_ok_and(|m| same(&m)))
    {
        return Ok(Arc::clone(file));
    }
    // Kept in the list even if the path changed meanwhile: closing it could drop locks.
    let file = Arc::new(File::open(path)?);
    files.push(Arc::clone(&file));
    Ok(file)
}

impl RevocationAnswers {
    /// For the database file `main_file`, as SQLite resolved it (`PRAGMA database_list`;
    /// empty for an in-memory database): its WAL-index is `<main_file>-shm` while
    /// `wal_index_in_file` (WAL journal, normal locking, the default VFS and a private cache:
    /// see `revocation_answers` in `sqlite.rs`). Opened after the store's connections, which
    /// create that file and keep it for as long as they are open. Nothing is ever kept
    /// otherwise, nor when the file cannot be read.
    pub(crate) fn open(main_file: &str, wal_index_in_file: bool) -> Self {
        let shm = (wal_index_in_file && !main_file.is_empty())
            .then(|| {
                shm_file(Path::new(&format!("{main_file}-shm")))
                    .inspect_err(|e| {
                        tracing::warn!(error = %e, "the SQLite WAL-index cannot be read: every revocation check reads the database");
                    })
                    .ok()
            })
            .flatten();
        Self {
            shm,
            kept: Mutex::new(Kept::default()),
        }
    }

    /// The WAL-index header now; `None` when it cannot be read, is not an initialised header
    /// of the expected version, its two copies differ (a commit is writing it) or the file was
    /// unlinked (SQLite deletes it when the last connection of every process closes, and the
    /// next one creates a new file, which this one would never show): then nothing is kept or
    /// recalled.
    pub(crate) fn commits(&self) -> Option<Commits> {
        let shm = self.shm.as_ref()?;
        if shm.metadata().ok()?.nlink() == 0 {
            return None;
        }
        let mut both = [0u8; 2 * HEADER_BYTES];
        shm.read_exact_at(&mut both, 0).ok()?;
        let (first, second) = both.split_at(HEADER_BYTES);
        // `iVersion` (bytes 0..4, native order) and `isInit` (byte 12).
        let version = u32::from_ne_bytes([first[0], first[1], first[2], first[3]]);
        if first != second || version != WAL_INDEX_VERSION || first[12] != 1 {
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

    /// Opened through a symbolic link, the store reads the WAL-index SQLite uses (beside the
    /// file the link names), not a leftover `-shm` beside the link.
    #[tokio::test]
    async fn the_wal_index_read_is_the_one_sqlite_uses() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.db");
        let link = dir.path().join("link.db");
        let cli = SqliteStore::open(&format!("sqlite://{}", real.display()), 1)
            .await
            .unwrap();
        cli.migrate().await.unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        // A valid header that no commit will ever change (written, not copied: opening and
        // closing the live `-shm` would drop this process's locks on it).
        let mut header = [0u8; super::HEADER_BYTES];
        header[..4].copy_from_slice(&super::WAL_INDEX_VERSION.to_ne_bytes());
        header[12] = 1;
        std::fs::write(dir.path().join("link.db-shm"), [header, header].concat()).unwrap();
        let server = SqliteStore::open(&format!("sqlite://{}", link.display()), 1)
            .await
            .unwrap();
        let iat = OffsetDateTime::now_utc().unix_timestamp();
        assert!(!server.is_access_token_revoked("a", iat).await.unwrap());
        assert!(!server.is_access_token_revoked("a", iat).await.unwrap());
        let client = ClientId::parse("svc").unwrap();
        cli.revoke_access_token(
            "a",
            &client,
            OffsetDateTime::now_utc() + Duration::minutes(5),
        )
        .await
        .unwrap();
        assert!(server.is_access_token_revoked("a", iat).await.unwrap());
        server.close().await;
        cli.close().await;
    }

    /// An in-memory database keeps nothing, nor a shared cache, nor a WAL-index that is not in
    /// its file, nor one whose file was unlinked (a new one would take its place unseen):
    /// every check reads.
    #[tokio::test]
    async fn nothing_is_kept_without_a_wal_index_file() {
        // SQLite names no file for an in-memory database, which still answers.
        assert!(super::RevocationAnswers::open("", true).commits().is_none());
        let memory = SqliteStore::open("sqlite::memory:", 2).await.unwrap();
        memory.migrate().await.unwrap();
        assert!(!memory.is_access_token_revoked("a", 0).await.unwrap());
        memory.close().await;

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("gone.db").display());
        let store = SqliteStore::open(&url, 1).await.unwrap();
        store.migrate().await.unwrap();
        assert!(store.revocations.commits().is_some());
        let main_file = dir.path().join("gone.db").display().to_string();
        assert!(
            super::RevocationAnswers::open(&main_file, false)
                .commits()
                .is_none()
        );
        // A shared cache, however the URL spells it.
        let shared = SqliteStore::open(&format!("{url}?%63ache=shared"), 1)
            .await
            .unwrap();
        assert!(shared.revocations.commits().is_none());
        shared.close().await;
        std::fs::remove_file(dir.path().join("gone.db-shm")).unwrap();
        assert!(store.revocations.commits().is_none());
        store.close().await;
    }
}
