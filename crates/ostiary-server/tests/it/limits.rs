//! Brute-force defence, login events and browser-facing headers: 429 with Retry-After for
//! guessing, never for correct use; the counters and audit rows a login leaves; CORS only
//! for listed origins.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::support::{TestApp, machine_client};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use ostiary_core::SystemClock;
use ostiary_core::admin::create_user;
use ostiary_core::audit::AuditEventType;
use ostiary_core::password::{Password, PasswordHasher};
use ostiary_core::user::Username;
use secrecy::SecretString;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";

/// A browser at one source address: keeps its cookies, reads the CSRF field of pages.
struct Browser {
    source: SocketAddr,
    cookies: HashMap<String, String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Browser {
    fn at(ip: &str) -> Self {
        Self {
            source: format!("{ip}:40000").parse().unwrap(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, app: &TestApp, mut request: Request<Body>) -> Page {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !cookie.is_empty() {
            request
                .headers_mut()
                .insert("cookie", cookie.join("; ").parse().unwrap());
        }
        request.extensions_mut().insert(ConnectInfo(self.source));
        let response = app.router().oneshot(request).await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        Page {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn login(&mut self, app: &TestApp, username: &str, password: &str) -> Page {
        let form = self
            .send(app, Request::get("/login").body(Body::empty()).unwrap())
            .await;
        let csrf = hidden(&form.body, "csrf");
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &csrf)
            .append_pair("username", username)
            .append_pair("password", password)
            .finish();
        self.send(app, post("/login", &body)).await
    }
}

fn post(path: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("hidden field") + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

async fn user(app: &TestApp, name: &str) -> String {
    let user = create_user(
        &*app.state.store,
        &PasswordHasher::insecure_fast_for_tests(),
        &SystemClock,
        Username::parse(name).unwrap(),
        None,
        Password::new(SecretString::from(PASSWORD)).unwrap(),
    )
    .await
    .unwrap();
    user.id.to_string()
}

#[tokio::test]
async fn login_guessing_from_one_address_locks_that_address_but_not_the_user() {
    let app = TestApp::new().await;
    user(&app, "alice").await;
    let mut attacker = Browser::at("198.51.100.7");
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(attacker.login(&app, "alice", "wrong guess 123").await);
    }
    assert!(
        statuses[..5]
            .iter()
            .all(|p| p.status == StatusCode::UNAUTHORIZED)
    );
    let locked = statuses.last().unwrap();
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "Retry-After {retry}");
    // Even the right password waits out the lock from the guessing address...
    let right = attacker.login(&app, "alice", PASSWORD).await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!attacker.cookies.contains_key("ostiary_session"));
    // ...while alice, elsewhere, signs in at once.
    let mut alice = Browser::at("203.0.113.20");
    let page = alice.login(&app, "alice", PASSWORD).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(alice.cookies.contains_key("ostiary_session"));
}

#[tokio::test]
async fn wrong_client_secrets_get_429_while_the_right_one_keeps_working_elsewhere() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let mut prober = Browser::at("198.51.100.8");
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        let page = prober
            .send(
                &app,
                crate::support::form_post(
                    "/token",
                    "grant_type=client_credentials",
                    Some(("svc", "not-the-secret")),
                ),
            )
            .await;
        last = page.status;
        if last == StatusCode::TOO_MANY_REQUESTS {
            assert!(page.headers.contains_key("retry-after"));
            let body: serde_json::Value = serde_json::from_str(&page.body).unwrap();
            assert_eq!(body["error"], "temporarily_unavailable");
            break;
        }
        assert_eq!(last, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let mut service = Browser::at("203.0.113.30");
    for _ in 0..50 {
        let page = service
            .send(
                &app,
                crate::support::form_post(
                    "/token",
                    "grant_type=client_credentials",
                    Some(("svc", &secret)),
                ),
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    }
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let app = TestApp::with_env(&[("OAUTH2_TRUSTED_PROXIES", "10.0.0.0/8")]).await;
    let spoof = |ip: &str| {
        let mut request = crate::support::form_post(
            "/token",
            "grant_type=client_credentials",
            Some(("nobody", "x")),
        );
        request
            .headers_mut()
            .insert("x-forwarded-for", ip.parse().unwrap());
        request
    };
    // Behind the proxy, each forwarded address is its own source: no lock for 9 and 10.
    let mut proxy = Browser::at("10.1.2.3");
    for i in 0..40 {
        let page = proxy.send(&app, spoof(&format!("192.0.2.{i}"))).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    // A direct client's header is ignored: its own address locks.
    let mut direct = Browser::at("198.51.100.9");
    let mut statuses = Vec::new();
    for i in 0..12 {
        statuses.push(
            direct
                .send(&app, spoof(&format!("192.0.2.{}", 100 + i)))
                .await
                .status,
        );
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    let failures =
        crate::support::audit_events(&app, AuditEventType::ClientAuthenticationFailed).await;
    assert!(
        failures
            .iter()
            .any(|e| e.source_ip.as_deref() == Some("192.0.2.5"))
    );
    assert!(
        failures
            .iter()
            .all(|e| e.source_ip.as_deref() != Some("10.1.2.3"))
    );
}

async fn scrape(app: &TestApp) -> String {
    let response = ostiary_server::metrics::router(app.state.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} missing"))
}

#[tokio::test]
async fn failed_logins_and_client_authentications_show_in_metrics_and_audit() {
    let app = TestApp::new().await;
    let alice = user(&app, "alice").await;
    app.client(machine_client("svc")).await;
    let before = scrape(&app).await;
    let mut browser = Browser::at("192.0.2.1");
    assert_eq!(
        browser
            .login(&app, "alice", "not her password")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    browser
        .send(
            &app,
            crate::support::form_post(
                "/token",
                "grant_type=client_credentials",
                Some(("svc", "x")),
            ),
        )
        .await;
    assert_eq!(
        browser.login(&app, "alice", PASSWORD).await.status,
        StatusCode::OK
    );
    let after = scrape(&app).await;
    for kind in ["user", "client"] {
        let series = format!("oauth2_server_oauth_failed_authentications{{kind=\"{kind}\"}}");
        assert_eq!(
            value(&after, &series),
            value(&before, &series) + 1.0,
            "{kind}"
        );
    }
    assert_eq!(value(&before, "oauth2_server_active_sessions"), 0.0);
    assert_eq!(value(&after, "oauth2_server_active_sessions"), 1.0);

    let failed = crate::support::audit_events(&app, AuditEventType::LoginFailed).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].subject.as_deref(), Some(alice.as_str()));
    assert_eq!(failed[0].source_ip.as_deref(), Some("192.0.2.1"));
    let succeeded = crate::support::audit_events(&app, AuditEventType::LoginSucceeded).await;
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0].subject.as_deref(), Some(alice.as_str()));
    for event in failed.iter().chain(&succeeded) {
        assert!(!format!("{event:?}").contains("not her password"));
        assert!(!format!("{event:?}").contains(PASSWORD));
    }
}

#[tokio::test]
async fn rate_limit_rejections_are_counted() {
    let app = TestApp::new().await;
    user(&app, "bob").await;
    let mut browser = Browser::at("192.0.2.2");
    for _ in 0..6 {
        browser.login(&app, "bob", "wrong wrong wrong").await;
    }
    let text = scrape(&app).await;
    assert!(value(&text, r#"oauth2_server_rate_limited_total{kind="login"}"#) >= 1.0);
}

#[tokio::test]
async fn cors_answers_only_listed_origins_and_never_on_pages() {
    let app = TestApp::with_env(&[("OAUTH2_CORS_ORIGINS", "https://spa.example.com")]).await;
    let preflight = |path: &str, origin: &str| {
        Request::options(path)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .body(Body::empty())
            .unwrap()
    };
    let mut browser = Browser::at("192.0.2.3");
    let listed = browser
        .send(&app, preflight("/token", "https://spa.example.com"))
        .await;
    assert_eq!(
        listed.headers["access-control-allow-origin"],
        "https://spa.example.com"
    );
    assert!(
        !listed
            .headers
            .contains_key("access-control-allow-credentials")
    );
    let unlisted = browser
        .send(&app, preflight("/token", "https://evil.example"))
        .await;
    assert!(!unlisted.headers.contains_key("access-control-allow-origin"));
    for path in ["/authorize", "/login", "/introspect"] {
        let page = browser
            .send(&app, preflight(path, "https://spa.example.com"))
            .await;
        assert!(
            !page.headers.contains_key("access-control-allow-origin"),
            "CORS on {path}"
        );
    }
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = TestApp::new().await;
    let mut browser = Browser::at("192.0.2.4");
    let request = Request::get("/jwks.json")
        .header("origin", "https://spa.example.com")
        .body(Body::empty())
        .unwrap();
    let page = browser.send(&app, request).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.headers.contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn pages_carry_security_headers_and_production_adds_hsts() {
    let app = TestApp::new().await;
    let mut browser = Browser::at("192.0.2.5");
    let page = browser
        .send(&app, Request::get("/login").body(Body::empty()).unwrap())
        .await;
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
    assert!(!page.body.contains("<script"));
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(!page.headers.contains_key("strict-transport-security"));

    let key = "ab".repeat(64);
    let prod = TestApp::with_env(&[
        ("OAUTH2_ENV", "production"),
        ("OAUTH2_ISSUER", "https://id.example.com"),
        ("OAUTH2_SESSION_KEY", &key),
    ])
    .await;
    let page = browser
        .send(&prod, Request::get("/login").body(Body::empty()).unwrap())
        .await;
    assert!(
        page.headers["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    let cookie = page.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-ostiary_csrf="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax")
    );
}
