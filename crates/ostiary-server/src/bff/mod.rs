//! `ostiary bff`: a backend-for-frontend for single-page apps. It signs users in at the
//! authorization server as a confidential client, keeps their tokens server-side (sealed),
//! gives the browser one hardened session cookie, and forwards the SPA's API calls with the
//! access token attached, so no token ever reaches the browser.

mod access;
mod callback;
pub mod config;
mod cookies;
mod error;
mod guard;
mod jwt;
mod login;
mod logout;
mod proxy;
mod session;
mod target;
mod upstream;

pub use self::upstream::client_jwks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{any, get, post};
use ostiary_jwt::KeySealer;
use ostiary_store::Database;
use secrecy::ExposeSecret;
use tower_http::set_header::SetResponseHeaderLayer;

use self::config::BffConfig;
use self::session::Sessions;
use self::upstream::AuthServer;
use crate::connections::{self, Limits};

/// Everything a BFF request needs.
#[derive(Debug)]
pub struct Bff {
    config: BffConfig,
    auth: AuthServer,
    sessions: Sessions,
    /// Seals the sign-in in progress into its cookie.
    login_sealer: KeySealer,
    /// The client for the APIs.
    http: reqwest::Client,
    /// Closed at shutdown (SQLite's WAL is then checkpointed cleanly).
    database: Database,
}

impl Bff {
    /// Discovers the authorization server and opens the session store (migrated).
    pub async fn start(config: BffConfig) -> anyhow::Result<Arc<Self>> {
        let database = Database::open(&config.database_url, 8).await?;
        database.migrate().await?;
        let auth = AuthServer::discover(&config).await?;
        let secret = config.session_secret.expose_secret().as_bytes();
        let login_sealer = KeySealer::for_purpose(secret, b"ostiary bff login")?;
        let sessions = Sessions::new(
            database.store(),
            &config.session_secret,
            config.session_lifetime_secs,
        )?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(u64::from(config.upstream_timeout_secs)))
            // A redirect is the API's answer to the SPA, not a place to take the token.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("could not build the HTTP client")?;
        Ok(Arc::new(Self {
            config,
            auth,
            sessions,
            login_sealer,
            http,
            database,
        }))
    }

    /// The audiences a sign-in asks for (RFC 8707 `resource`): the userinfo endpoint first
    /// (the token the code buys is for it), then the routes' distinct audiences. None when no
    /// route names one: the server's defaults then, which include userinfo.
    fn audiences(&self) -> impl Iterator<Item = &str> {
        let routes = self
            .config
            .routes
            .iter()
            .filter_map(|r| r.audience.as_deref());
        let userinfo = self
            .auth
            .userinfo_endpoint()
            .filter(|_| routes.clone().next().is_some());
        let mut seen: Vec<&str> = Vec::new();
        for audience in userinfo.into_iter().chain(routes) {
            if !seen.contains(&audience) {
                seen.push(audience);
            }
        }
        seen.into_iter()
    }

    /// The live session the request's cookie names.
    async fn session(
        &self,
        headers: &axum::http::HeaderMap,
    ) -> Result<session::Open, error::BffError> {
        let id = cookies::get(headers, cookies::SESSION).ok_or(error::BffError::LoginRequired)?;
        self.sessions
            .find(id)
            .await?
            .ok_or(error::BffError::LoginRequired)
    }

    /// The BFF's routes, with the SPA's files at `/` when `static_dir` is set.
    pub fn router(self: &Arc<Self>) -> Router {
        let mut router = Router::new()
            .route("/bff/healthz", get(crate::handlers::health::live))
            .route("/bff/login", get(login::login))
            .route("/bff/callback", get(callback::callback))
            .route("/bff/user", get(login::user))
            .route("/bff/logout", post(logout::logout))
            .route("/bff/backchannel-logout", post(logout::backchannel))
            .route("/api/{*rest}", any(proxy::forward))
            .with_state(self.clone());
        router = match &self.config.static_dir {
            Some(dir) => router.fallback_service(tower_http::services::ServeDir::new(dir)),
            None => router.fallback(|| async { error::BffError::NotFound }),
        };
        // The pages the BFF serves run only their own scripts and post forms only to this
        // origin and, on the way to signing out, the server's.
        let csp = format!(
            "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; \
             frame-ancestors 'none'; form-action 'self' {}",
            origin_of(&self.config.issuer)
        );
        let set = |name, value: HeaderValue| SetResponseHeaderLayer::if_not_present(name, value);
        // A request may wait for an API and, before it, for a refresh.
        let deadline = Duration::from_secs(u64::from(self.config.upstream_timeout_secs))
            + access::REFRESH_WITHIN
            + Duration::from_secs(10);
        let router = crate::router::common_layers(router, deadline, 64 * 1024);
        router
            .layer(set(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_str(&csp)
                    .unwrap_or(HeaderValue::from_static("default-src 'self'")),
            ))
            .layer(set(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            // Not `no-referrer`: with it, browsers send `Origin: null` on the page's own form
            // posts, which the origin check must refuse.
            .layer(set(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ))
            .layer(set(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("DENY"),
            ))
    }
}

fn origin_of(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| String::new(), |u| u.origin().ascii_serialization())
}

/// How often ended sessions are purged from the store.
const PURGE_EVERY: Duration = Duration::from_secs(300);

/// Runs the BFF until SIGTERM or SIGINT.
pub async fn run(config: BffConfig) -> anyhow::Result<()> {
    let bind = config.bind;
    let bff = Bff::start(config).await?;
    let listener =
        connections::bind(bind).with_context(|| format!("could not listen on {bind} (bind)"))?;
    tracing::info!(addr = %listener.local_addr()?, issuer = %bff.config.issuer, "BFF listening");
    let purge = {
        let bff = bff.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PURGE_EVERY);
            loop {
                every.tick().await;
                let now = time::OffsetDateTime::now_utc();
                if let Err(e) = bff.sessions.store.purge_expired_bff_sessions(now).await {
                    tracing::warn!(error = %e, "could not purge ended BFF sessions");
                }
            }
        })
    };
    connections::serve(
        listener,
        bff.router()
            .into_make_service_with_connect_info::<SocketAddr>(),
        Limits {
            max_connections: 10_000,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        },
        None,
        crate::serve::shutdown_signal(),
    )
    .await;
    purge.abort();
    bff.database.close().await;
    Ok(())
}
