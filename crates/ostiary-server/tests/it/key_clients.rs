//! `private_key_jwt` (RFC 7523 2.2): clients registered with their public keys authenticate at
//! the token, introspection and revocation endpoints with assertions signed by a third-party
//! JOSE library; every malformed, replayed or misdirected assertion is `invalid_client`.

use axum::http::StatusCode;
use ostiary_core::client::{ClientJwks, ClientRegistration};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{
    Backend, ClientKey, ISSUER, TestApp, assertion_fields, form_body, form_post, machine_client,
    now, send, unique,
};

on_both_backends!(
    a_key_client_gets_introspects_and_revokes_tokens_with_assertions,
    an_assertion_is_accepted_once_even_by_another_instance,
);

const TOKEN_URL: &str = "http://127.0.0.1:8080/token";

/// The machine client `svc` (scopes `read write`), holding `key`.
fn key_client(key: &ClientKey) -> ClientRegistration {
    ClientRegistration {
        jwks: Some(ClientJwks::from_json(&key.jwks()).unwrap()),
        ..machine_client("svc")
    }
}

/// POSTs `fields` plus `private_key_jwt` authentication with `assertion` to `path`.
async fn post_with_assertion(
    app: &TestApp,
    path: &str,
    assertion: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut all: Vec<(&str, &str)> = fields.to_vec();
    all.extend(assertion_fields(assertion));
    let body = form_body(&all);
    let (status, _, json) = send(app, form_post(path, &body, None)).await;
    (status, json)
}

/// An app whose client `svc` registered the `/jwks.json` that `router` serves on loopback.
async fn app_with_jwks_uri(router: axum::Router) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_uri = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let app = TestApp::new().await;
    app.client(ClientRegistration {
        jwks: Some(ClientJwks::from_uri(&jwks_uri).unwrap()),
        ..machine_client("svc")
    })
    .await;
    app
}

async fn client_credentials(app: &TestApp, assertion: &str) -> (StatusCode, Value) {
    post_with_assertion(
        app,
        "/token",
        assertion,
        &[("grant_type", "client_credentials")],
    )
    .await
}

async fn a_key_client_gets_introspects_and_revokes_tokens_with_assertions(backend: Backend) {
    let Some(app) = TestApp::on(backend, &[], std::sync::Arc::new(ostiary_core::SystemClock)).await
    else {
        return;
    };
    let key = ClientKey::generate();
    assert_eq!(app.client(key_client(&key)).await, None, "no secret issued");

    // `aud` the issuer, then the token endpoint URL: both name this server.
    let (status, issued) = client_credentials(&app, &key.assertion("svc", ISSUER)).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let token = issued["access_token"].as_str().unwrap();
    let fields = [("token", token)];
    let (status, answer) = post_with_assertion(
        &app,
        "/introspect",
        &key.assertion("svc", TOKEN_URL),
        &fields,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], "svc");

    let introspection_url = format!("{ISSUER}/introspect");
    let revocation_url = format!("{ISSUER}/revoke");
    let (status, _) = post_with_assertion(
        &app,
        "/revoke",
        &key.assertion("svc", &revocation_url),
        &fields,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, answer) = post_with_assertion(
        &app,
        "/introspect",
        &key.assertion("svc", &introspection_url),
        &fields,
    )
    .await;
    assert_eq!(answer, json!({ "active": false }));
}

async fn an_assertion_is_accepted_once_even_by_another_instance(backend: Backend) {
    let Some(app) = TestApp::on(backend, &[], std::sync::Arc::new(ostiary_core::SystemClock)).await
    else {
        return;
    };
    let key = ClientKey::generate();
    app.client(key_client(&key)).await;
    let assertion = key.assertion("svc", ISSUER);
    assert_eq!(client_credentials(&app, &assertion).await.0, StatusCode::OK);
    let (status, replayed) = client_credentials(&app, &assertion).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(replayed["error"], "invalid_client");

    // A second instance on the same database remembers the `jti` too.
    let other = app.other_instance().await;
    let fields: Vec<(&str, &str)> = [("grant_type", "client_credentials")]
        .into_iter()
        .chain(assertion_fields(&assertion))
        .collect();
    let body = form_body(&fields);
    use tower::ServiceExt;
    let response = other
        .oneshot(form_post("/token", &body, None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A fresh assertion works on either.
    let fresh = key.assertion("svc", ISSUER);
    let body = body.replace(&assertion, &fresh);
    let response = app
        .other_instance()
        .await
        .oneshot(form_post("/token", &body, None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_assertions_are_invalid_client() {
    let app = TestApp::new().await;
    let key = ClientKey::generate();
    app.client(key_client(&key)).await;
    let stranger = ClientKey::generate();
    let claims = |aud: &str, exp: i64| {
        json!({ "iss": "svc", "sub": "svc", "aud": aud, "iat": now(), "exp": exp,
                "jti": unique("bad") })
    };
    let expired = key.assertion_with(&claims(ISSUER, now() - 120));
    let too_long = key.assertion_with(&claims(ISSUER, now() + 3600));
    let elsewhere = key.assertion_with(&claims("https://other.example.com", now() + 60));
    let unregistered = stranger.assertion("svc", ISSUER);
    let no_jti = key.assertion_with(&json!({
        "iss": "svc", "sub": "svc", "aud": ISSUER, "exp": now() + 60
    }));
    let other_subject = key.assertion_with(&json!({
        "iss": "svc", "sub": "web", "aud": ISSUER, "exp": now() + 60, "jti": unique("sub")
    }));
    let unsigned = {
        use base64::Engine;
        let b64 = |v: Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        format!(
            "{}.{}.",
            b64(json!({ "alg": "none", "kid": "k1" })),
            b64(claims(ISSUER, now() + 60))
        )
    };
    for (what, assertion) in [
        ("expired", expired),
        ("exp an hour ahead", too_long),
        ("another audience", elsewhere),
        ("an unregistered key", unregistered),
        ("no jti", no_jti),
        ("sub is not iss", other_subject),
        ("alg none", unsigned),
        ("not a JWT", "not-a-jwt".to_owned()),
    ] {
        let (status, body) = client_credentials(&app, &assertion).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["error"], "invalid_client", "{what}");
    }
}

#[tokio::test]
async fn methods_are_not_interchangeable() {
    let app = TestApp::new().await;
    let key = ClientKey::generate();
    app.client(key_client(&key)).await;
    let secret = app.client(machine_client("secret-svc")).await.unwrap();

    // A secret client cannot switch to assertions, even signed by a key it never registered.
    let (status, _) = client_credentials(&app, &key.assertion("secret-svc", ISSUER)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A key client has no secret to present.
    let body = "grant_type=client_credentials&client_id=svc&client_secret=guess";
    let (status, _, _) = send(&app, form_post("/token", body, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Two methods at once, or a client_id naming another client than the assertion.
    let assertion = key.assertion("svc", ISSUER);
    let mut both: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
    both.extend(assertion_fields(&assertion));
    let body = form_body(&both);
    let (status, _, json) = send(
        &app,
        form_post("/token", &body, Some(("secret-svc", &secret))),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    let (status, _) = post_with_assertion(
        &app,
        "/token",
        &key.assertion("svc", ISSUER),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "secret-svc"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The wrong assertion type.
    let body = format!(
        "grant_type=client_credentials&client_assertion_type=urn%3Aother&client_assertion={}",
        key.assertion("svc", ISSUER)
    );
    let (status, _, _) = send(&app, form_post("/token", &body, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn keys_are_fetched_from_the_jwks_uri_and_an_assertion_without_kid_finds_the_only_key() {
    let key = ClientKey::generate();
    let jwks: Value = serde_json::from_str(&key.jwks()).unwrap();
    let router = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let app = app_with_jwks_uri(router).await;
    let (status, body) = client_credentials(&app, &key.assertion("svc", ISSUER)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Without `kid`: the client has one ES256 key, so that is the key.
    let no_kid = {
        let claims = json!({ "iss": "svc", "sub": "svc", "aud": ISSUER, "exp": now() + 60,
                             "jti": unique("nokid") });
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        key.sign(&header, &claims)
    };
    let (status, body) = client_credentials(&app, &no_kid).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_unreachable_jwks_uri_is_not_asked_again_for_every_assertion() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let fetches = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let router = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { StatusCode::INTERNAL_SERVER_ERROR }
        }),
    );
    let app = app_with_jwks_uri(router).await;
    let key = ClientKey::generate();
    for _ in 0..3 {
        let (status, body) = client_credentials(&app, &key.assertion("svc", ISSUER)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn concurrent_first_assertions_fetch_the_jwks_uri_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let key = ClientKey::generate();
    let jwks: Value = serde_json::from_str(&key.jwks()).unwrap();
    let fetches = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let router = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let jwks = jwks.clone();
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                axum::Json(jwks)
            }
        }),
    );
    let app = std::sync::Arc::new(app_with_jwks_uri(router).await);
    let attempts: Vec<_> = (0..6)
        .map(|_| {
            let (app, assertion) = (app.clone(), key.assertion("svc", ISSUER));
            tokio::spawn(async move { client_credentials(&app, &assertion).await.0 })
        })
        .collect();
    for attempt in attempts {
        assert_eq!(attempt.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}
