//! The app under test: the router over a fresh, migrated database on either backend, driven
//! in-process or served on an ephemeral loopback port.

use std::sync::Arc;

use ostiary_core::SystemClock;
use ostiary_core::admin;
use ostiary_core::client::ClientRegistration;
use ostiary_server::config::{Config, Secrets};
use ostiary_server::state::AppState;
use ostiary_store::Database;
use secrecy::SecretString;

/// Which database a `TestApp` runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// A fresh database through `OSTIARY_TEST_POSTGRES_URL`, dropped with the app.
    Postgres,
}

/// Generates, for each named `async fn(Backend)`, one test per backend: `sqlite::NAME` and
/// `postgres::NAME` (which skips, saying so, where PostgreSQL is not configured).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::support::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// The router over a fresh, migrated database, built by the same code as `serve`.
pub struct TestApp {
    pub state: AppState,
    pub database: Database,
    /// The database URL and settings, for a second instance on the same database.
    url: String,
    vars: Vec<(String, String)>,
    _dir: tempfile::TempDir,
    postgres: Option<ostiary_store::testing::PostgresTestDatabase>,
    /// Follows the database's change announcements, as `serve` does (PostgreSQL).
    follower: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(follower) = &self.follower {
            follower.abort();
        }
        let Some(postgres) = self.postgres.take() else {
            return;
        };
        // Drop is synchronous: the database is dropped from a runtime of its own.
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(postgres.drop_database());
            }
        })
        .join();
    }
}

pub const ISSUER: &str = "http://127.0.0.1:8080";

/// The root secret and session key every test app runs with, unless a test gives others.
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret";
pub const TEST_SESSION_KEY: [u8; 64] = [7u8; 64];

pub fn test_secrets() -> Secrets {
    Secrets::new(SecretString::from(TEST_JWT_SECRET), TEST_SESSION_KEY)
}

/// The state `serve` would build for these settings and secrets over `store`.
async fn instance_state(
    url: &str,
    journal: &std::path::Path,
    vars: &[(String, String)],
    store: std::sync::Arc<dyn ostiary_core::Store>,
    clock: Arc<dyn ostiary_core::Clock>,
    secrets: Secrets,
) -> anyhow::Result<AppState> {
    let config = Config::from_sources(None, |var| {
        if var == "OAUTH2_DATABASE_URL" {
            return Some(url.to_owned());
        }
        // Instances of one app share a journal directory, as instances on one host may.
        if var == "OAUTH2_AUDIT_JOURNAL" {
            return Some(journal.display().to_string());
        }
        vars.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone())
    })
    .expect("config");
    AppState::build(config, secrets, store, clock).await
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_env(&[]).await
    }

    /// Extra `OAUTH2_*` settings on top of a fresh database.
    pub async fn with_env(vars: &[(&str, &str)]) -> Self {
        Self::with_clock(vars, Arc::new(SystemClock)).await
    }

    pub async fn with_clock(vars: &[(&str, &str)], clock: Arc<dyn ostiary_core::Clock>) -> Self {
        Self::on(Backend::Sqlite, vars, clock)
            .await
            .expect("SQLite is always there")
    }

    /// An app on `backend`; `None` when that is PostgreSQL and it is not configured.
    pub async fn on(
        backend: Backend,
        vars: &[(&str, &str)],
        clock: Arc<dyn ostiary_core::Clock>,
    ) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let postgres = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                Some(ostiary_store::testing::PostgresTestDatabase::create().await?)
            }
        };
        let url = match &postgres {
            Some(db) => db.url.clone(),
            None => format!("sqlite://{}", dir.path().join("app.db").display()),
        };
        Some(Self::over(dir, postgres, url, vars, clock).await)
    }

    /// An app on the PostgreSQL database `postgres`, reached through `url` (another route to
    /// the same server, such as a proxy a test can cut).
    pub async fn on_postgres_via(
        postgres: ostiary_store::testing::PostgresTestDatabase,
        url: String,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::over(dir, Some(postgres), url, &[], Arc::new(SystemClock)).await
    }

    async fn over(
        dir: tempfile::TempDir,
        postgres: Option<ostiary_store::testing::PostgresTestDatabase>,
        url: String,
        vars: &[(&str, &str)],
        clock: Arc<dyn ostiary_core::Clock>,
    ) -> Self {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let database = Database::open(&url, 4).await.expect("open");
        database.migrate().await.expect("migrate");
        let journal = dir.path().join("audit-journal");
        let state = instance_state(
            &url,
            &journal,
            &vars,
            database.store(),
            clock,
            test_secrets(),
        )
        .await
        .expect("state");
        let follower = ostiary_server::changes::spawn(state.clone());
        Self {
            state,
            database,
            url,
            vars,
            _dir: dir,
            postgres,
            follower,
        }
    }

    /// Another instance on the same database and settings: its own caches and limits, as a
    /// second process behind a load balancer would have.
    pub async fn other_instance(&self) -> axum::Router {
        let state = self
            .instance_with(test_secrets())
            .await
            .expect("a second instance");
        ostiary_server::router::build(state)
    }

    /// Another instance on the same database and settings with other secrets, as it would
    /// start (or refuse to) during a rotation of the root secret or the session key.
    pub async fn instance_with(&self, secrets: Secrets) -> anyhow::Result<AppState> {
        instance_state(
            &self.url,
            &self.journal_dir(),
            &self.vars,
            self.database.store(),
            self.state.clock.clone(),
            secrets,
        )
        .await
    }

    /// Another instance as a separate process would run it: its own pool, caches and limits,
    /// following the database's change announcements as `serve` does, on a loopback port.
    pub async fn served_instance(&self) -> Instance {
        let database = Database::open(&self.url, 4).await.expect("open");
        let state = instance_state(
            &self.url,
            &self.journal_dir(),
            &self.vars,
            database.store(),
            self.state.clock.clone(),
            test_secrets(),
        )
        .await
        .expect("another instance");
        let follower = ostiary_server::changes::spawn(state.clone());
        let base = serve_router(ostiary_server::router::build(state.clone())).await;
        Instance {
            state,
            base,
            http: reqwest::Client::new(),
            follower,
        }
    }

    /// Runs `sql` in the app's PostgreSQL database; `None` on SQLite.
    pub async fn postgres_execute(&self, sql: &str) -> Option<()> {
        self.postgres.as_ref()?.execute(sql).await;
        Some(())
    }

    /// How many connections listen for the database's change announcements; `None` on
    /// SQLite.
    pub async fn postgres_listeners(&self) -> Option<i64> {
        Some(self.postgres.as_ref()?.listeners().await)
    }

    /// The URL of the app's database.
    pub fn database_url(&self) -> &str {
        &self.url
    }

    /// The audit journal directory every instance of this app shares.
    pub fn journal_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("audit-journal")
    }

    /// Every byte of the SQLite database on disk (database, WAL, shared memory).
    pub fn database_bytes(&self) -> Vec<u8> {
        assert!(self.postgres.is_none(), "SQLite only");
        super::sqlite_bytes(self._dir.path(), "app.db")
    }

    pub fn router(&self) -> axum::Router {
        ostiary_server::router::build(self.state.clone())
    }

    /// Registers a client through the CLI's code path; returns its secret if confidential.
    pub async fn client(&self, registration: ClientRegistration) -> Option<String> {
        let registered = admin::register_client(&*self.state.store, &SystemClock, registration)
            .await
            .expect("register client");
        registered.secret.map(|s| s.expose().to_owned())
    }

    /// Serves the router on an ephemeral loopback port; returns its base URL.
    pub async fn listen(&self) -> String {
        serve_router(self.router()).await
    }
}

/// One instance of several on one database (`TestApp::served_instance`).
pub struct Instance {
    pub state: AppState,
    /// Where it listens, `http://127.0.0.1:PORT`.
    pub base: String,
    /// A client for it, built once: building one loads the system's roots, which on a
    /// test's single thread would hold up every instance's requests meanwhile.
    pub http: reqwest::Client,
    follower: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(follower) = &self.follower {
            follower.abort();
        }
    }
}

/// Serves `router` on an ephemeral loopback port; returns its base URL.
pub async fn serve_router(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, service).await.expect("serve");
    });
    format!("http://{addr}")
}

/// A `TestApp` whose issuer is its own listen address (discovery clients check that the
/// discovered issuer is the URL they were given), served on an ephemeral loopback port.
/// Returns the app and its base URL.
pub async fn serve_app(vars: &[(&str, &str)]) -> (TestApp, String) {
    serve_app_with_clock(vars, Arc::new(SystemClock)).await
}

/// `serve_app` with a clock of the test's choosing (e.g. `ManualClock`).
pub async fn serve_app_with_clock(
    vars: &[(&str, &str)],
    clock: Arc<dyn ostiary_core::Clock>,
) -> (TestApp, String) {
    serve_app_on(Backend::Sqlite, vars, clock)
        .await
        .expect("SQLite is always there")
}

/// `serve_app_with_clock` on `backend`; `None` when PostgreSQL is not configured.
pub async fn serve_app_on(
    backend: Backend,
    vars: &[(&str, &str)],
    clock: Arc<dyn ostiary_core::Clock>,
) -> Option<(TestApp, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let mut all: Vec<(&str, &str)> = vec![("OAUTH2_ISSUER", base.as_str())];
    all.extend(vars.iter().filter(|(k, _)| *k != "OAUTH2_ISSUER"));
    let app = TestApp::on(backend, &all, clock).await?;
    let router = app.router();
    tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, service).await.expect("serve");
    });
    Some((app, base))
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

/// The audit events of one type, once the writer has caught up.
pub async fn audit_events(
    app: &TestApp,
    event: ostiary_core::audit::AuditEventType,
) -> Vec<ostiary_core::audit::AuditEvent> {
    app.state.audit.flush().await;
    app.state
        .store
        .list_audit_events(&ostiary_core::audit::AuditQuery {
            since: None,
            event: Some(event),
            subject: None,
            before: None,
            limit: 1000,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}
