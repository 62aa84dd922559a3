//! Shared helpers: run the real `ostiary` binary in a scratch directory, or build the router
//! in-process over a fresh SQLite database.
#![allow(dead_code)] // helpers kept for the areas that use them, not every one is used
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
    /// The database URL, for running the binary against the same database.
    pub database_url: String,
    _dir: tempfile::TempDir,
    postgres: Option<ostiary_store::testing::PostgresTestDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
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
        Some(Self {
            state,
            database,
            database_url: url,
            _dir: dir,
            postgres,
        })
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

// ---------------------------------------------------------------------------------------
// Browser flows over a real listener: authorization code, login and consent forms.
// ---------------------------------------------------------------------------------------

/// Where the test web application receives its authorization responses.
pub const APP_REDIRECT: &str = "https://app.example.com/cb";
/// The application's registered `post_logout_redirect_uri`.
pub const APP_LOGOUT_REDIRECT: &str = "https://app.example.com/signed-out";
pub const USER: &str = "alice";
pub const USER_PASSWORD: &str = "correct horse battery staple";
pub const USER_EMAIL: &str = "alice@example.com";

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

/// A web application `id` for the authorization code and refresh token grants, with scopes
/// `openid profile email offline_access`, redirect URI `APP_REDIRECT` and post-logout
/// redirect URI `APP_LOGOUT_REDIRECT`; public (no secret) or confidential.
pub fn web_client(id: &str, public: bool) -> ClientRegistration {
    use ostiary_core::client::{RedirectUri, UriPolicy};
    let policy = UriPolicy {
        allow_insecure_http: false,
    };
    ClientRegistration {
        name: format!("{id} app"),
        client_id: Some(ClientId::parse(id).unwrap()),
        public,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        redirect_uris: vec![RedirectUri::parse(APP_REDIRECT, policy).unwrap()],
        post_logout_redirect_uris: vec![RedirectUri::parse(APP_LOGOUT_REDIRECT, policy).unwrap()],
        scopes: ["openid", "profile", "email", "offline_access"]
            .iter()
            .map(|s| Scope::parse(s).unwrap())
            .collect(),
        ..ClientRegistration::default()
    }
}

/// Creates the user `USER` (password `USER_PASSWORD`, email `USER_EMAIL`) through the CLI's
/// code path. Cheap hashing is fine: the server verifies any Argon2id PHC string.
pub async fn add_user(app: &TestApp) -> ostiary_core::user::User {
    add_user_with_password(app, USER, USER_PASSWORD).await
}

/// Creates `username` with `password` (email `USER_EMAIL`) through the CLI's code path: the
/// password is prepared and checked by `Password::new` as `user create --password-stdin` does.
pub async fn add_user_with_password(
    app: &TestApp,
    username: &str,
    password: &str,
) -> ostiary_core::user::User {
    use ostiary_core::password::{Password, PasswordHasher};
    use ostiary_core::user::{Email, Username, create_user};
    create_user(
        &*app.state.store,
        &PasswordHasher::insecure_fast_for_tests(),
        &SystemClock,
        Username::parse(username).unwrap(),
        Some(Email::parse(USER_EMAIL).unwrap()),
        Password::new(SecretString::from(password)).unwrap(),
    )
    .await
    .expect("create user")
}

/// The claims of a JWT, read without verifying it (tests look at what the server issued).
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let segment = jwt.split('.').nth(1).expect("a JWS has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// A fresh PKCE pair: (S256 challenge, verifier).
pub fn pkce() -> (String, String) {
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    (challenge.as_str().to_owned(), verifier.secret().clone())
}

/// The parameters of an authorization code request with PKCE S256 to `APP_REDIRECT`.
pub fn code_request(
    client_id: &str,
    scope: &str,
    state: &str,
    challenge: &str,
) -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", APP_REDIRECT),
        ("scope", scope),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// Replaces (or adds) one parameter; an empty value removes it.
pub fn set_param(params: &mut Vec<(String, String)>, name: &str, value: &str) {
    params.retain(|(k, _)| k != name);
    if !value.is_empty() {
        params.push((name.to_owned(), value.to_owned()));
    }
}

/// A response as a browser sees it.
#[derive(Debug)]
pub struct Page {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<url::Url> {
        let value = self.headers.get(reqwest::header::LOCATION)?;
        Some(url::Url::parse(value.to_str().expect("ascii Location")).expect("absolute Location"))
    }

    /// The one value of a query parameter of the `Location` header.
    pub fn redirect_param(&self, name: &str) -> Option<String> {
        query_param(&self.location()?, name)
    }

    /// The value of the (first) `<input>` named `name`, HTML entities decoded.
    pub fn input(&self, name: &str) -> Option<String> {
        html_inputs(&self.body)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    pub fn is_login_form(&self) -> bool {
        self.body.contains(r#"action="/login""#) && self.input("password").is_some()
    }

    pub fn is_consent_form(&self) -> bool {
        self.body.contains(r#"action="/consent""#) && self.body.contains(r#"name="decision""#)
    }

    pub fn is_html(&self) -> bool {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"))
    }

    /// Whether the response sets (not removes) the cookie `name`, with or without `__Host-`.
    pub fn sets_cookie(&self, name: &str) -> bool {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                let v = v.strip_prefix("__Host-").unwrap_or(v);
                v.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('='))
                    .is_some_and(|rest| !rest.starts_with(';') && !rest.is_empty())
            })
    }
}

/// The one value of the query parameter `name` (panics if repeated).
pub fn query_param(url: &url::Url, name: &str) -> Option<String> {
    let values: Vec<String> = url
        .query_pairs()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect();
    assert!(values.len() <= 1, "{name} repeated in {url}");
    values.into_iter().next()
}

/// `(name, value)` of every `<input>` of an HTML page, entities decoded. Enough for the
/// server's own templates: attributes are double-quoted.
pub fn html_inputs(html: &str) -> Vec<(String, String)> {
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let needle = format!(" {name}=\"");
        let start = tag.find(&needle)? + needle.len();
        let end = tag[start..].find('"')? + start;
        Some(html_unescape(&tag[start..end]))
    };
    html.split("<input")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            let name = attribute(tag, "name")?;
            Some((name, attribute(tag, "value").unwrap_or_default()))
        })
        .collect()
}

/// Decodes the character references an HTML escaper produces (`&amp;`, `&#38;`, `&#x26;`...).
pub fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A browser: a cookie store, no redirects followed (so `Location` can be read).
pub struct Browser {
    pub http: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    pub base: String,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("browser");
        Self {
            http,
            jar,
            base: base.to_owned(),
        }
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    /// The cookies the browser would send to the server, as one `Cookie` header value.
    pub fn cookies(&self) -> String {
        use reqwest::cookie::CookieStore;
        let url = url::Url::parse(&self.base).expect("base url");
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().expect("ascii cookies").to_owned())
            .unwrap_or_default()
    }

    pub fn has_session_cookie(&self) -> bool {
        self.cookies()
            .split("; ")
            .any(|c| c.starts_with("ostiary_session=") || c.starts_with("__Host-ostiary_session="))
    }

    async fn page(response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.expect("body");
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path_or_url: &str) -> Page {
        let response = self
            .http
            .get(self.url(path_or_url))
            .send()
            .await
            .expect("GET");
        Self::page(response).await
    }

    pub async fn post(&self, path: &str, fields: &[(String, String)]) -> Page {
        let response = self
            .http
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST");
        Self::page(response).await
    }

    /// `GET /authorize` with these parameters.
    pub async fn authorize(&self, params: &[(String, String)]) -> Page {
        let mut url = url::Url::parse(&format!("{}/authorize", self.base)).expect("url");
        url.query_pairs_mut().extend_pairs(params);
        self.get(url.as_str()).await
    }

    /// Submits the login form of `page` (its hidden fields) with these credentials.
    pub async fn submit_login(&self, page: &Page, username: &str, password: &str) -> Page {
        assert!(
            page.is_login_form(),
            "not a login page: {} {}",
            page.status,
            page.body
        );
        let mut fields = vec![
            ("csrf".to_owned(), page.input("csrf").expect("csrf field")),
            ("username".to_owned(), username.to_owned()),
            ("password".to_owned(), password.to_owned()),
        ];
        // Absent when no application is waiting (the login page of GET /login).
        if let Some(interaction) = page.input("interaction") {
            fields.push(("interaction".to_owned(), interaction));
        }
        self.post("/login", &fields).await
    }

    /// Submits the consent form of `page` with `decision` (`approve` or `deny`).
    pub async fn submit_consent(&self, page: &Page, decision: &str) -> Page {
        assert!(
            page.is_consent_form(),
            "not a consent page: {} {}",
            page.status,
            page.body
        );
        let fields = vec![
            ("csrf".to_owned(), page.input("csrf").expect("csrf field")),
            (
                "interaction".to_owned(),
                page.input("interaction").expect("interaction field"),
            ),
            ("decision".to_owned(), decision.to_owned()),
        ];
        self.post("/consent", &fields).await
    }

    /// Follows an authorization request as a user would: the login page (if shown), the
    /// consent page (if shown, approved), up to the redirect to the client, which is returned.
    pub async fn sign_in_and_approve(&self, params: &[(String, String)]) -> Page {
        let mut page = self.authorize(params).await;
        if page.is_login_form() {
            page = self.submit_login(&page, USER, USER_PASSWORD).await;
        }
        if page.is_consent_form() {
            page = self.submit_consent(&page, "approve").await;
        }
        assert_eq!(
            page.status,
            reqwest::StatusCode::SEE_OTHER,
            "expected the redirect to the client: {}",
            page.body
        );
        page
    }

    /// A code for `client_id` and `scope` after signing in and approving: (code, verifier).
    pub async fn obtain_code(&self, client_id: &str, scope: &str) -> (String, String) {
        let (challenge, verifier) = pkce();
        let page = self
            .sign_in_and_approve(&code_request(client_id, scope, "st", &challenge))
            .await;
        assert_eq!(page.redirect_param("error"), None, "{:?}", page.location());
        let code = page.redirect_param("code").expect("code in the redirect");
        (code, verifier)
    }
}

/// A form POST to `{base}{path}`, with HTTP Basic client credentials when a secret is
/// given (client_id in the body otherwise); the status and the JSON body (`Null` if none).
pub async fn post_client_form(
    base: &str,
    path: &str,
    client_id: &str,
    secret: Option<&str>,
    fields: &[(&str, &str)],
) -> (reqwest::StatusCode, serde_json::Value) {
    let mut fields: Vec<(&str, &str)> = fields.to_vec();
    let mut request = reqwest::Client::new().post(format!("{base}{path}"));
    match secret {
        Some(secret) => request = request.basic_auth(client_id, Some(secret)),
        None => fields.push(("client_id", client_id)),
    }
    let response = request.form(&fields).send().await.expect("POST");
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Redeems a code at `/token` with `APP_REDIRECT` and the verifier.
pub async fn redeem_code(
    base: &str,
    client_id: &str,
    secret: Option<&str>,
    code: &str,
    verifier: &str,
) -> (reqwest::StatusCode, serde_json::Value) {
    post_client_form(
        base,
        "/token",
        client_id,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", APP_REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// Uses a refresh token at `/token`.
pub async fn use_refresh_token(
    base: &str,
    client_id: &str,
    secret: Option<&str>,
    refresh_token: &str,
) -> (reqwest::StatusCode, serde_json::Value) {
    post_client_form(
        base,
        "/token",
        client_id,
        secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// Introspects a token as a confidential client; the JSON answer (must be 200).
pub async fn introspect_as(
    base: &str,
    client_id: &str,
    secret: &str,
    token: &str,
) -> serde_json::Value {
    let (status, json) = post_client_form(
        base,
        "/introspect",
        client_id,
        Some(secret),
        &[("token", token)],
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{json}");
    json
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
            limit: 1000,
        })
        .await
        .unwrap()
}
