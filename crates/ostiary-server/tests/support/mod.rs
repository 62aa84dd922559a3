//! Shared helpers: run the real `ostiary` binary in a scratch directory, or build the router
//! in-process over a fresh SQLite database.
#![allow(dead_code)] // each test binary uses its own subset
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up fails loudly

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use ostiary_core::SystemClock;
use ostiary_core::client::{self, Audience, ClientId, ClientRegistration, GrantType, Scope};
use ostiary_server::config::{Config, Secrets};
use ostiary_server::state::AppState;
use ostiary_store::Database;
use secrecy::{SecretBox, SecretString};

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
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).expect("read dir") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if name.starts_with("ostiary.db") && !name.ends_with(".jwt-secret") {
                bytes.extend(std::fs::read(&path).expect("read db file"));
            }
        }
        assert!(!bytes.is_empty(), "no database files found");
        bytes
    }
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

/// The router over a fresh, migrated SQLite database, built by the same code as `serve`.
pub struct TestApp {
    pub state: AppState,
    pub database: Database,
    _dir: tempfile::TempDir,
}

pub const ISSUER: &str = "http://127.0.0.1:8080";

impl TestApp {
    pub async fn new() -> Self {
        Self::with_env(&[]).await
    }

    /// Extra `OAUTH2_*` settings on top of a fresh database.
    pub async fn with_env(vars: &[(&str, &str)]) -> Self {
        Self::with_clock(vars, Arc::new(SystemClock)).await
    }

    pub async fn with_clock(vars: &[(&str, &str)], clock: Arc<dyn ostiary_core::Clock>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("app.db").display());
        let config = Config::from_sources(None, |var| {
            if var == "OAUTH2_DATABASE_URL" {
                return Some(url.clone());
            }
            vars.iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("config");
        let database = Database::open(&url, 4).await.expect("open");
        database.migrate().await.expect("migrate");
        let secrets = Secrets {
            jwt_secret: SecretString::from("test-secret-test-secret-test-secret"),
            session_key: SecretBox::new(Box::new([7u8; 64])),
        };
        let state = AppState::build(config, secrets, database.store(), clock)
            .await
            .expect("state");
        Self {
            state,
            database,
            _dir: dir,
        }
    }

    pub fn router(&self) -> axum::Router {
        ostiary_server::router::build(self.state.clone())
    }

    /// Registers a client through the CLI's code path; returns its secret if confidential.
    pub async fn client(&self, registration: ClientRegistration) -> Option<String> {
        let registered = client::register_client(&*self.state.store, &SystemClock, registration)
            .await
            .expect("register client");
        registered.secret.map(|s| s.expose().to_owned())
    }

    /// Serves the router on an ephemeral loopback port; returns its base URL.
    pub async fn listen(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = self.router();
        tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
            axum::serve(listener, service).await.expect("serve");
        });
        format!("http://{addr}")
    }
}

/// A confidential machine client `id` with scopes `read write` and one audience.
pub fn machine_client(id: &str) -> ClientRegistration {
    ClientRegistration {
        name: format!("{id} service"),
        client_id: Some(ClientId::parse(id).unwrap()),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec![
            Scope::parse("read").unwrap(),
            Scope::parse("write").unwrap(),
        ],
        audiences: vec![Audience::parse("https://api.example.com").unwrap()],
        ..ClientRegistration::default()
    }
}

pub fn exists(path: &Path) -> bool {
    path.try_exists().unwrap_or(false)
}

/// Sends one request through the router; the body is parsed as JSON (`Null` if it is not).
pub async fn send(
    app: &TestApp,
    request: axum::http::Request<axum::body::Body>,
) -> (
    axum::http::StatusCode,
    axum::http::HeaderMap,
    serde_json::Value,
) {
    use tower::ServiceExt;
    let response = app.router().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

/// A form POST, optionally with HTTP Basic client credentials.
pub fn form_post(
    path: &str,
    body: &str,
    basic: Option<(&str, &str)>,
) -> axum::http::Request<axum::body::Body> {
    use base64::Engine;
    let mut builder =
        axum::http::Request::post(path).header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        builder = builder.header("authorization", format!("Basic {encoded}"));
    }
    builder
        .body(axum::body::Body::from(body.to_owned()))
        .unwrap()
}
