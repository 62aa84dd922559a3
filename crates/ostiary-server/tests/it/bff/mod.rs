//! The backend-for-frontend (`ostiary bff`) between a browser, Ostiary and an API built on
//! ostiary-jwt: the SPA signs in (PKCE, PAR and DPoP, as the server offers them), calls the
//! API and signs out without any token reaching it; refreshes happen once however many calls
//! race; CSRF, foreign origins, paths out of the upstream and replayed cookies are refused.
//! Here: the three servers and the browser's steps; the tests are in the modules.

mod attacks;
mod flow;
mod sessions;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use ostiary_core::SystemClock;
use ostiary_core::client::{
    Audience, ClientId, ClientJwks, ClientRegistration, GrantType, RedirectUri, Scope,
    TokenEndpointAuthMethod, UriPolicy,
};
use ostiary_core::secret::SecretHash;
use ostiary_jwt::bearer::BearerClaims;
use ostiary_jwt::remote::{DpopConfig, RemoteValidator};
use ostiary_jwt::{KeySet, Profile, Validator};
use ostiary_server::bff::Bff;
use ostiary_server::bff::config::BffConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Backend, Browser, TestApp, USER, USER_PASSWORD, add_user, serve_app_on};

const API_AUDIENCE: &str = "https://api.example.com";
const CLIENT_ID: &str = "spa-bff";

/// Ostiary, an API and a BFF for the API, each on its own loopback port.
struct Setup {
    app: TestApp,
    as_base: String,
    bff: String,
    http: reqwest::Client,
}

/// The API: `GET /orders` as the `resource_server` example serves it, and `POST /echo`,
/// which shows what reached it. Bearer and DPoP tokens both accepted.
async fn api(issuer: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let rules = Validator::new(
        Profile::AccessToken,
        issuer,
        API_AUDIENCE,
        KeySet::default(),
    );
    let validator = RemoteValidator::new(&format!("{issuer}/jwks.json"), rules)
        .await
        .unwrap()
        .with_dpop(DpopConfig::new(&origin).unwrap());
    let app = axum::Router::new()
        .route(
            "/orders",
            get(|token: BearerClaims| async move {
                Json(json!({
                    "orders": [],
                    "subject": token.0.sub,
                    "dpop_jkt": token.dpop_jkt(),
                }))
            }),
        )
        .route(
            "/echo",
            post(
                |_token: BearerClaims, headers: HeaderMap, body: String| async move {
                    let names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
                    let authorization = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.split(' ').next())
                        .unwrap_or_default()
                        .to_owned();
                    (
                        [("set-cookie", "api=1; Path=/")],
                        Json(json!({
                            "headers": names,
                            "scheme": authorization,
                            "body": body,
                        })),
                    )
                },
            ),
        )
        .with_state(Arc::new(validator));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    origin
}

fn registration(bff: &str, lifetime: Option<Duration>) -> ClientRegistration {
    let policy = UriPolicy {
        allow_insecure_http: true,
    };
    ClientRegistration {
        name: "SPA BFF".into(),
        client_id: Some(ClientId::parse(CLIENT_ID).unwrap()),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        redirect_uris: vec![RedirectUri::parse(&format!("{bff}/bff/callback"), policy).unwrap()],
        post_logout_redirect_uris: vec![RedirectUri::parse(&format!("{bff}/"), policy).unwrap()],
        scopes: ["openid", "profile", "offline_access", "orders:read"]
            .iter()
            .map(|s| Scope::parse(s).unwrap())
            .collect(),
        audiences: vec![Audience::parse(API_AUDIENCE).unwrap()],
        skip_consent: true,
        access_token_lifetime: lifetime.map(|d| time::Duration::seconds(d.as_secs() as i64)),
        ..ClientRegistration::default()
    }
}

/// Starts everything; `lifetime` is the access tokens' (short ones make every call refresh).
async fn setup(backend: Backend, lifetime: Option<Duration>) -> Option<Setup> {
    setup_with(backend, lifetime, None).await
}

/// `setup`, the BFF authenticating with the PKCS#8 PEM key at `private_key` when given
/// (`private_key_jwt`, its public key registered), with a client secret otherwise.
async fn setup_with(
    backend: Backend,
    lifetime: Option<Duration>,
    private_key: Option<(&std::path::Path, ostiary_jwt::JwkSet)>,
) -> Option<Setup> {
    let (app, as_base) = serve_app_on(backend, &[], Arc::new(SystemClock)).await?;
    add_user(&app).await;
    let api = api(&as_base).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bff = format!("http://{}", listener.local_addr().unwrap());
    let mut registration = registration(&bff, lifetime);
    let credentials = match private_key {
        Some((path, jwks)) => {
            registration.auth_method = Some(TokenEndpointAuthMethod::PrivateKeyJwt);
            registration.jwks = Some(ClientJwks::Value(jwks));
            app.client(registration).await;
            format!("client_private_key_file = \"{}\"", path.display())
        }
        None => format!(
            "client_secret = \"{}\"",
            app.client(registration).await.unwrap()
        ),
    };
    // The BFF's sessions beside the server's tables, as a small deployment may keep them.
    let database_url = app.database_url().to_owned();
    let config = BffConfig::parse(
        &format!(
            r#"
            origin = "{bff}"
            issuer = "{as_base}"
            client_id = "{CLIENT_ID}"
            {credentials}
            scopes = ["openid", "profile", "offline_access", "orders:read"]
            database_url = "{database_url}"
            session_secret = "0123456789abcdef0123456789abcdef-bff"
            [[routes]]
            prefix = "orders"
            upstream = "{api}"
            audience = "{API_AUDIENCE}"
            "#
        ),
        |_| None,
    )
    .unwrap();
    let router = Bff::start(config).await.unwrap().router();
    tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, service).await.unwrap();
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Some(Setup {
        app,
        as_base,
        bff,
        http,
    })
}

/// The value of cookie `name` that a response sets.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// No token in anything the browser receives from the BFF: no JWT, no token member.
fn assert_no_token(what: &str, text: &str) {
    for marker in ["eyJ", "access_token", "refresh_token", "id_token"] {
        assert!(!text.contains(marker), "{what} carries {marker}: {text}");
    }
}

async fn assert_response_has_no_token(
    what: &str,
    response: reqwest::Response,
) -> (StatusCode, String) {
    let status = response.status();
    let headers = format!("{:?}", response.headers());
    let body = response.text().await.unwrap();
    assert_no_token(what, &headers);
    assert_no_token(what, &body);
    (status, body)
}

impl Setup {
    /// Signs in as the SPA's user would, through the server's login page; returns the
    /// session cookie's `name=value`.
    async fn sign_in(&self) -> String {
        let (cookie, back_to, _) = self.sign_in_returning("/after").await;
        assert_eq!(back_to, "/after");
        cookie
    }

    /// Signs in from `/bff/login?return_to=...`; the session cookie, where the callback
    /// sends the browser, and the code it redeemed.
    async fn sign_in_returning(&self, return_to: &str) -> (String, String, String) {
        let start = self
            .http
            .get(format!("{}/bff/login?return_to={return_to}", self.bff))
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        let login_cookie = set_cookie(&start, "__Host-ostiary-bff-login").unwrap();
        let to_server = location(&start);
        // PAR: the browser carries only a request_uri, no parameters to tamper with.
        assert!(to_server.starts_with(&format!("{}/authorize?", self.as_base)));
        assert!(to_server.contains("request_uri=") && !to_server.contains("code_challenge"));
        let browser = Browser::new(&self.as_base);
        let login = browser.get(&to_server).await;
        let mut page = browser.submit_login(&login, USER, USER_PASSWORD).await;
        while let Some(next) = page
            .location()
            .filter(|l| l.as_str().starts_with(&self.as_base))
        {
            page = browser.get(next.as_str()).await;
        }
        let callback = page.location().expect("redirect to the callback");
        assert!(
            callback
                .as_str()
                .starts_with(&format!("{}/bff/callback?", self.bff))
        );
        let back = self
            .http
            .get(callback.as_str())
            .header(
                "cookie",
                format!(
                    "__Host-ostiary-bff-login={}",
                    login_cookie.split(';').next().unwrap()
                ),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(back.status(), StatusCode::SEE_OTHER, "{:?}", back.headers());
        let back_to = location(&back);
        let all: Vec<String> = back
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let session = all
            .iter()
            .find(|c| c.starts_with("__Host-ostiary-bff="))
            .expect("a session cookie");
        for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(session.contains(flag), "{session} lacks {flag}");
        }
        assert!(!session.contains("Domain"));
        assert!(
            all.iter()
                .any(|c| c.starts_with("__Host-ostiary-bff-login=;"))
        );
        assert_response_has_no_token("the callback", back).await;
        let code = crate::support::query_param(&callback, "code").unwrap();
        (session.split(';').next().unwrap().to_owned(), back_to, code)
    }

    fn call(&self, method: reqwest::Method, path: &str, cookie: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.bff))
            .header("cookie", cookie)
            .header("x-csrf", "1")
            .header("origin", &self.bff)
    }
}
