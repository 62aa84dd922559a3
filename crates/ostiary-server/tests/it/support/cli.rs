//! The real `ostiary` binary in a scratch directory: running CLI commands and reading what they
//! leave on disk.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A scratch directory holding one SQLite database, for running the binary against.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("ostiary.db")
    }

    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self.db_path().display())
    }

    /// The binary with a clean environment: only what the test sets reaches it.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ostiary"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("OAUTH2_DATABASE_URL", self.database_url())
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run ostiary")
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ostiary");
        // The command may refuse its arguments and exit before reading stdin.
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes());
        child.wait_with_output().expect("wait for ostiary")
    }

    /// Runs an admin command that must succeed and returns its JSON output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args);
        assert_success(&out, args);
        serde_json::from_slice(&out.stdout).expect("stdout is JSON")
    }

    /// Every byte SQLite keeps on disk (database, WAL and shared-memory files).
    pub fn database_bytes(&self) -> Vec<u8> {
        sqlite_bytes(self.dir.path(), "ostiary.db")
    }

    /// A database for the binary on `backend`: this directory's SQLite file, or a fresh
    /// PostgreSQL database (`None` when PostgreSQL is not configured). Its URL, and the
    /// PostgreSQL database to drop at the end.
    pub async fn database_on(
        &self,
        backend: super::Backend,
    ) -> Option<(String, Option<ostiary_store::testing::PostgresTestDatabase>)> {
        match backend {
            super::Backend::Sqlite => Some((self.database_url(), None)),
            super::Backend::Postgres => {
                let db = ostiary_store::testing::PostgresTestDatabase::create().await?;
                Some((db.url.clone(), Some(db)))
            }
        }
    }
}

/// Every byte of the SQLite files in `dir` whose names start with `prefix` (the database, its
/// WAL and shared-memory files), for checking what is never stored in plain text.
pub fn sqlite_bytes(dir: &Path, prefix: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.starts_with(prefix) && !name.ends_with(".jwt-secret") {
            bytes.extend(std::fs::read(&path).expect("read db file"));
        }
    }
    assert!(!bytes.is_empty(), "no database files found");
    bytes
}

pub fn assert_success(out: &Output, args: &[&str]) {
    assert!(
        out.status.success(),
        "ostiary {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub fn exists(path: &Path) -> bool {
    path.try_exists().unwrap_or(false)
}
