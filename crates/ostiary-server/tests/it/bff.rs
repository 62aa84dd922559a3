//! The backend-for-frontend (`ostiary bff`) between a browser, Ostiary and an API built on
//! ostiary-jwt: the SPA signs in (PKCE, PAR and DPoP, as the server offers them), calls the
//! API and signs out without any token reaching it; refreshes happen once however many calls
//! race; CSRF, foreign origins, paths out of the upstream and replayed cookies are refused.

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

use crate::on_both_backends;
use crate::support::{Backend, Browser, TestApp, USER, USER_PASSWORD, add_user, serve_app_on};

const API_AUDIENCE: &str = "https://api.example.com";
const CLIENT_ID: &str = "spa-bff";

on_both_backends!(the_spa_signs_in_calls_the_api_and_signs_out_without_seeing_a_token);

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

async fn the_spa_signs_in_calls_the_api_and_signs_out_without_seeing_a_token(backend: Backend) {
    let Some(setup) = setup(backend, None).await else {
        return;
    };
    let (cookie, _, code) = setup.sign_in_returning("/").await;
    // The code was bound to the session's DPoP key (RFC 9449 section 10) and asked for the
    // userinfo endpoint and the API (RFC 8707).
    let code = setup
        .app
        .state
        .store
        .find_code(&SecretHash::of(&code))
        .await
        .unwrap()
        .unwrap();
    assert!(code.dpop_jkt.is_some());
    assert!(
        code.resources.contains(&API_AUDIENCE.to_owned()),
        "{:?}",
        code.resources
    );
    assert!(
        code.resources
            .contains(&format!("{}/userinfo", setup.as_base))
    );
    let user = setup
        .call(reqwest::Method::GET, "/bff/user", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(user.headers()["cache-control"], "no-store");
    let (status, body) = assert_response_has_no_token("/bff/user", user).await;
    assert_eq!(status, StatusCode::OK);
    let claims: Value = serde_json::from_str(&body).unwrap();
    assert!(claims["sub"].is_string());
    // What userinfo adds to the ID token's few claims.
    assert_eq!(claims["preferred_username"], USER, "{claims}");
    assert!(claims.get("nonce").is_none() && claims.get("aud").is_none());

    let orders = setup
        .call(reqwest::Method::GET, "/api/orders/orders", &cookie)
        .send()
        .await
        .unwrap();
    let (status, body) = assert_response_has_no_token("the API's answer", orders).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let orders: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(orders["subject"], claims["sub"]);
    // The server offers DPoP, so the token is bound to the BFF's key for this session.
    assert!(orders["dpop_jkt"].is_string(), "{orders}");

    // The API sees the token, and neither the browser's cookie nor the CSRF header; the
    // browser never sees a cookie the API sets.
    let echo = setup
        .call(reqwest::Method::POST, "/api/orders/echo", &cookie)
        .header("content-type", "text/plain")
        .header("x-request-id", "r1")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert!(echo.headers().get("set-cookie").is_none());
    // The API's answer runs nothing on the SPA's origin, whatever it is.
    assert!(
        echo.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("sandbox")
    );
    let (status, body) = assert_response_has_no_token("the echo", echo).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["scheme"], "DPoP");
    assert_eq!(echo["body"], "hello");
    let headers: Vec<&str> = echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(
        headers.contains(&"dpop") && headers.contains(&"x-request-id"),
        "{headers:?}"
    );
    for never in ["cookie", "x-csrf", "origin"] {
        assert!(!headers.contains(&never), "{never} reached the API");
    }

    // Signing out: the session ends here and at the server, and the cookie is useless.
    let logout = setup
        .call(reqwest::Method::POST, "/bff/logout", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_no_token("the logout redirect", &format!("{:?}", logout.headers()));
    let to = location(&logout);
    assert!(!to.contains("id_token_hint"), "{to}");
    assert!(
        to.starts_with(&format!("{}/", setup.as_base)) && to.contains("post_logout_redirect_uri="),
        "{to}"
    );
    assert_eq!(
        set_cookie(&logout, "__Host-ostiary-bff")
            .as_deref()
            .map(|c| c.split(';').next().unwrap()),
        Some("")
    );
    for path in ["/bff/user", "/api/orders/orders"] {
        let replayed = setup
            .call(reqwest::Method::GET, path, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED, "{path}");
        let body: Value = replayed.json().await.unwrap();
        assert_eq!(body["error"], "login_required");
    }
}

#[tokio::test]
async fn calls_without_the_csrf_header_or_from_another_origin_are_refused() {
    let setup = setup(Backend::Sqlite, None).await.unwrap();
    let cookie = setup.sign_in().await;
    let url = format!("{}/api/orders/echo", setup.bff);
    // What a cross-site form can send: the cookie (were SameSite not there), no custom header.
    let form = setup
        .http
        .post(&url)
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body("a=1")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::FORBIDDEN);
    let cases: [(&str, Option<&str>, Option<&str>); 4] = [
        ("no CSRF header", None, Some(&setup.bff)),
        ("another origin", Some("1"), Some("http://evil.example")),
        ("no origin on a POST", Some("1"), None),
        ("a wrong CSRF value", Some("yes"), Some(&setup.bff)),
    ];
    for (case, csrf, origin) in cases {
        let mut request = setup.http.post(&url).header("cookie", &cookie).body("x");
        if let Some(csrf) = csrf {
            request = request.header("x-csrf", csrf);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "forbidden", "{case}");
    }
    // Only the methods of an API are forwarded.
    let trace = setup
        .call(
            reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
            "/api/orders/echo",
            &cookie,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(trace.status(), StatusCode::METHOD_NOT_ALLOWED);
    // /bff/user asks for the header too, and logout for the origin.
    let user = setup
        .http
        .get(format!("{}/bff/user", setup.bff))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), StatusCode::FORBIDDEN);
    let logout = setup
        .http
        .post(format!("{}/bff/logout", setup.bff))
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FORBIDDEN);
    // The session survived every refused attempt.
    let user = setup
        .call(reqwest::Method::GET, "/bff/user", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), StatusCode::OK);
}

/// Sends `path` byte for byte (HTTP clients normalise dot segments away); the status code.
async fn raw_get(base: &str, path: &str, cookie: &str) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nX-CSRF: 1\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn paths_that_try_to_leave_the_upstream_are_refused() {
    let setup = setup(Backend::Sqlite, None).await.unwrap();
    let cookie = setup.sign_in().await;
    assert_eq!(
        raw_get(&setup.bff, "/api/orders/orders", &cookie).await,
        200
    );
    for path in [
        "/api/orders/../orders",
        "/api/orders/x/../../admin",
        "/api/orders/%2e%2e/admin",
        "/api/orders/x%2f..%2f..%2fadmin",
        "/api/orders/x%5c..%5cadmin",
        "/api/orders/%252e%252e/admin",
        "/api/orders//evil.example/orders",
        "/api/orders/http://evil.example/orders",
        "/api/orders/x/..;/..;/admin",
        "/api/orders/%c0%ae%c0%ae/admin",
    ] {
        assert_eq!(raw_get(&setup.bff, path, &cookie).await, 400, "{path}");
    }
    for path in [
        "/api/other/orders",
        "/api/..%2forders/orders",
        "http://evil.example/api/x",
    ] {
        assert_eq!(raw_get(&setup.bff, path, &cookie).await, 404, "{path}");
    }
    // An absolute URL in the request line is the BFF's own path, never a target.
    let absolute = "http://evil.example/api/orders/orders";
    assert_eq!(raw_get(&setup.bff, absolute, &cookie).await, 200);
}

#[tokio::test]
async fn racing_calls_refresh_once_and_a_revoked_family_ends_the_session() {
    // Tokens of 10 s: every call finds its token too close to expiry and refreshes.
    let setup = setup(Backend::Sqlite, Some(Duration::from_secs(10)))
        .await
        .unwrap();
    let cookie = setup.sign_in().await;
    let calls = futures::future::join_all((0..6).map(|_| {
        setup
            .call(reqwest::Method::GET, "/api/orders/orders", &cookie)
            .send()
    }))
    .await;
    for call in calls {
        // A refresh token presented twice would have revoked the family: every call got
        // through, so each refresh presented the current one.
        assert_eq!(call.unwrap().status(), StatusCode::OK);
    }
    let again = setup
        .call(reqwest::Method::GET, "/api/orders/orders", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    // The user is disabled at the server: the next refresh is refused and the session ends.
    ostiary_core::admin::disable_user(
        &*setup.app.state.store,
        &SystemClock,
        &ostiary_core::user::Username::parse(USER).unwrap(),
    )
    .await
    .unwrap();
    let ended = setup
        .call(reqwest::Method::GET, "/api/orders/orders", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::UNAUTHORIZED);
    let user = setup
        .call(reqwest::Method::GET, "/bff/user", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_forged_or_foreign_callback_is_refused() {
    let setup = setup(Backend::Sqlite, None).await.unwrap();
    // No sign-in in progress: a code alone is refused.
    let forged = setup
        .http
        .get(format!("{}/bff/callback?code=abc&state=xyz", setup.bff))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    // A sign-in in progress, answered with another state or another issuer.
    let start = setup
        .http
        .get(format!("{}/bff/login", setup.bff))
        .send()
        .await
        .unwrap();
    let login_cookie = set_cookie(&start, "__Host-ostiary-bff-login").unwrap();
    let login_cookie = format!(
        "__Host-ostiary-bff-login={}",
        login_cookie.split(';').next().unwrap()
    );
    for query in ["code=abc&state=wrong", "code=abc"] {
        let response = setup
            .http
            .get(format!("{}/bff/callback?{query}", setup.bff))
            .header("cookie", &login_cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    // Malformed input gets the BFF's JSON error, never a bare framework message.
    let duplicated = setup
        .http
        .get(format!("{}/bff/callback?state=a&state=b", setup.bff))
        .send()
        .await
        .unwrap();
    let json_post = setup
        .http
        .post(format!("{}/bff/backchannel-logout", setup.bff))
        .json(&json!({"logout_token": "x"}))
        .send()
        .await
        .unwrap();
    let unknown = setup
        .http
        .get(format!("{}/bff/nothing", setup.bff))
        .send()
        .await
        .unwrap();
    for (response, status, error) in [
        (duplicated, StatusCode::BAD_REQUEST, "invalid_request"),
        (json_post, StatusCode::BAD_REQUEST, "invalid_request"),
        (unknown, StatusCode::NOT_FOUND, "not_found"),
    ] {
        assert_eq!(response.status(), status);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error);
    }
    // A return_to elsewhere is replaced by the SPA's root.
    for elsewhere in [
        "//evil.example/x",
        "https://evil.example/",
        "/%5Cevil.example",
    ] {
        let (_, back_to, _) = setup.sign_in_returning(elsewhere).await;
        assert_eq!(back_to, "/", "{elsewhere}");
    }
}

#[tokio::test]
async fn a_bff_with_a_private_key_signs_in_with_private_key_jwt() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let key = ostiary_jwt::SigningKey::generate(ostiary_jwt::Algorithm::Es256).unwrap();
    let der = key.to_pkcs8().unwrap();
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let path = dir.path().join("bff-key.pem");
    std::fs::write(
        &path,
        format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"),
    )
    .unwrap();
    // The key set `ostiary bff --print-jwks` prints is the one registered.
    let config = BffConfig::parse(
        &format!(
            "origin = \"http://127.0.0.1:1\"\nissuer = \"http://127.0.0.1:2\"\nclient_id = \"c\"\n\
             client_private_key_file = \"{}\"\nsession_secret = \"{}\"\n",
            path.display(),
            "s".repeat(32)
        ),
        |_| None,
    )
    .unwrap();
    let printed: ostiary_jwt::JwkSet =
        serde_json::from_str(&ostiary_server::bff::client_jwks(&config).unwrap()).unwrap();
    assert_eq!(printed.keys, [key.public_jwk().unwrap().clone()]);
    let setup = setup_with(Backend::Sqlite, None, Some((&path, printed)))
        .await
        .unwrap();
    let cookie = setup.sign_in().await;
    let orders = setup
        .call(reqwest::Method::GET, "/api/orders/orders", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(orders.status(), StatusCode::OK);
}

/// A logout token (Back-Channel Logout 1.0 section 2.4) for the BFF's client, signed by `key`.
fn logout_token(
    setup: &Setup,
    key: &ostiary_jwt::SigningKey,
    sid: Option<&str>,
    sub: Option<&str>,
) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({
        "iss": setup.as_base,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": format!("logout-{now}-{sid:?}-{sub:?}"),
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    if let Some(sid) = sid {
        claims["sid"] = sid.into();
    }
    if let Some(sub) = sub {
        claims["sub"] = sub.into();
    }
    ostiary_jwt::encode(key, "logout+jwt", &claims).unwrap()
}

#[tokio::test]
async fn back_channel_logout_ends_the_sessions_it_names() {
    let setup = setup(Backend::Sqlite, None).await.unwrap();
    let first = setup.sign_in().await;
    let second = setup.sign_in().await;
    let stored = |cookie: &str| {
        let id = cookie.split_once('=').unwrap().1.to_owned();
        let store = setup.app.state.store.clone();
        async move { store.find_bff_session(&SecretHash::of(&id)).await.unwrap() }
    };
    let sid = stored(&first)
        .await
        .unwrap()
        .sid
        .expect("the ID token's sid");
    let sub = stored(&first).await.unwrap().sub;
    let snapshot = setup.app.state.tokens.keys().current();
    let server_key = [ostiary_jwt::Algorithm::Es256, ostiary_jwt::Algorithm::Rs256]
        .into_iter()
        .find_map(|alg| snapshot.signing_key(alg))
        .unwrap();
    let post = |token: String| {
        setup
            .http
            .post(format!("{}/bff/backchannel-logout", setup.bff))
            .form(&[("logout_token", token)])
            .send()
    };
    // A token the server did not sign ends nothing.
    let stranger = ostiary_jwt::SigningKey::generate(ostiary_jwt::Algorithm::Es256).unwrap();
    let forged = post(logout_token(&setup, &stranger, Some(&sid), None))
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert!(stored(&first).await.is_some());
    // The server's token for the first session's sid ends that one only.
    let token = logout_token(&setup, server_key, Some(&sid), None);
    let by_sid = post(token.clone()).await.unwrap();
    assert_eq!(by_sid.status(), StatusCode::OK);
    // A logout token is used once.
    let replayed = post(token).await.unwrap();
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    assert!(stored(&first).await.is_none());
    assert!(stored(&second).await.is_some());
    let user = setup
        .call(reqwest::Method::GET, "/bff/user", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), StatusCode::UNAUTHORIZED);
    // A token naming the subject alone ends the rest of the user's sessions.
    let by_sub = post(logout_token(&setup, server_key, None, Some(&sub)))
        .await
        .unwrap();
    assert_eq!(by_sub.status(), StatusCode::OK);
    assert!(stored(&second).await.is_none());
}

#[tokio::test]
async fn a_refresh_refused_for_another_reason_than_the_grant_keeps_the_session() {
    let setup = setup(Backend::Sqlite, Some(Duration::from_secs(10)))
        .await
        .unwrap();
    let cookie = setup.sign_in().await;
    // The client's secret is rotated at the server before the BFF is given the new one: its
    // refreshes fail as invalid_client, which says nothing about the user's session.
    ostiary_core::admin::rotate_secret(
        &*setup.app.state.store,
        &SystemClock,
        &ClientId::parse(CLIENT_ID).unwrap(),
        None,
    )
    .await
    .unwrap();
    // The server's client cache holds a client for a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let call = setup
        .call(reqwest::Method::GET, "/api/orders/orders", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(call.headers().contains_key("retry-after"));
    let user = setup
        .call(reqwest::Method::GET, "/bff/user", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), StatusCode::OK);
}
