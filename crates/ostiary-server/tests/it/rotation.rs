//! The first two steps of the incident runbook without downtime: a new root secret
//! (`OAUTH2_JWT_SECRET` with `OAUTH2_JWT_SECRET_PREVIOUS`) and a new session key
//! (`OAUTH2_SESSION_KEY` with `OAUTH2_SESSION_KEY_PREVIOUS`), with instances on the old and
//! the new values serving one database at once, on both backends.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ostiary_core::SystemClock;
use ostiary_server::config::Secrets;
use ostiary_server::router;
use secrecy::{SecretBox, SecretString};
use serde_json::Value;
use tower::ServiceExt;

use crate::on_both_backends;
use crate::support::{
    Backend, Browser, TEST_JWT_SECRET, TEST_SESSION_KEY, TestApp, USER, USER_PASSWORD, add_user,
    form_post, machine_client, serve_app_on, serve_router, test_secrets, web_client,
};

on_both_backends!(
    instances_on_the_old_and_new_root_secret_keep_serving,
    instances_on_the_old_and_new_session_key_keep_users_signed_in,
);

const NEW_JWT_SECRET: &str = "a-new-root-secret-for-the-rotation-test";
const NEW_SESSION_KEY: [u8; 64] = [9u8; 64];

/// The new root secret, with the old one still accepted.
fn rotating_jwt_secret() -> Secrets {
    Secrets {
        jwt_secret_previous: vec![SecretString::from(TEST_JWT_SECRET)],
        ..Secrets::new(SecretString::from(NEW_JWT_SECRET), TEST_SESSION_KEY)
    }
}

/// A session key with another one still read.
fn session_keys(current: [u8; 64], previous: Option<[u8; 64]>) -> Secrets {
    Secrets {
        session_key_previous: previous.map(|key| SecretBox::new(Box::new(key))),
        ..Secrets::new(SecretString::from(TEST_JWT_SECRET), current)
    }
}

async fn post(router: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn token(router: &axum::Router, secret: &str) -> String {
    let request = form_post(
        "/token",
        "grant_type=client_credentials",
        Some(("svc", secret)),
    );
    let (status, json) = post(router, request).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    json["access_token"].as_str().unwrap().to_owned()
}

async fn active(router: &axum::Router, secret: &str, token: &str) -> bool {
    let body = format!("token={token}");
    let (status, json) = post(
        router,
        form_post("/introspect", &body, Some(("svc", secret))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    json["active"] == true
}

async fn instances_on_the_old_and_new_root_secret_keep_serving(backend: Backend) {
    let Some(app) = TestApp::on(backend, &[], Arc::new(SystemClock)).await else {
        return;
    };
    let secret = app.client(machine_client("svc")).await.unwrap();
    let old = app.router();
    let before = token(&old, &secret).await;

    // The first instance on the new secret starts, opening the keys with the old one, and
    // seals them under the new one as it starts.
    let new = router::build(
        app.instance_with(rotating_jwt_secret())
            .await
            .expect("starts with the old secret as previous"),
    );
    let after = token(&new, &secret).await;
    // Both keep serving, and each accepts what the other issued.
    for (router, name) in [(&old, "old"), (&new, "new")] {
        assert!(active(router, &secret, &before).await, "{name}");
        assert!(active(router, &secret, &after).await, "{name}");
    }
    let again = token(&old, &secret).await;
    assert!(active(&new, &secret, &again).await);

    // The keys moved: the new secret alone now opens them, the old one alone no longer does,
    // and the refusal says what to do.
    let new_only = Secrets::new(SecretString::from(NEW_JWT_SECRET), TEST_SESSION_KEY);
    app.instance_with(new_only)
        .await
        .expect("the previous secret is no longer needed");
    let refused = app
        .instance_with(test_secrets())
        .await
        .expect_err("keys are sealed under the new secret")
        .to_string();
    assert!(refused.contains("OAUTH2_JWT_SECRET_PREVIOUS"), "{refused}");
}

async fn instances_on_the_old_and_new_session_key_keep_users_signed_in(backend: Backend) {
    let Some((app, old)) = serve_app_on(backend, &[], Arc::new(SystemClock)).await else {
        return;
    };
    add_user(&app).await;
    let mut web = web_client("web", true);
    web.skip_consent = true;
    app.client(web).await;
    let instance = |secrets| async {
        serve_router(router::build(app.instance_with(secrets).await.unwrap())).await
    };
    let browser = Browser::new(&old);
    let login = browser.get("/login").await;
    let done = browser.submit_login(&login, USER, USER_PASSWORD).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(browser.signed_in(&old, "web").await);

    // Phase 1 of the rolling change: instances learn to read the new key before any
    // instance writes with it; the user stays signed in everywhere.
    let reading_new = instance(session_keys(TEST_SESSION_KEY, Some(NEW_SESSION_KEY))).await;
    assert!(browser.signed_in(&reading_new, "web").await);
    // Phase 2: the new key, the old one still read. The cookie is re-issued under the new
    // key by the first instance on it.
    let rotating = instance(session_keys(NEW_SESSION_KEY, Some(TEST_SESSION_KEY))).await;
    let new_only = instance(session_keys(NEW_SESSION_KEY, None)).await;
    assert!(
        !browser.signed_in(&new_only, "web").await,
        "the new key alone does not read the old cookie"
    );
    let before = browser.cookies();
    // Re-issued on whatever the browser asks for first, the stylesheet included, whose
    // answer then must not be cached by anyone.
    let css = browser.get(&format!("{rotating}/assets/ostiary.css")).await;
    assert!(css.sets_cookie("ostiary_session"), "{:?}", css.headers);
    assert_eq!(css.headers["cache-control"], "no-store");
    assert_ne!(browser.cookies(), before, "the cookies were re-issued");
    assert!(browser.signed_in(&rotating, "web").await);
    // Phase 2 instances and those still in phase 1 read each other's cookies.
    for base in [&reading_new, &rotating, &reading_new, &rotating] {
        assert!(browser.signed_in(base, "web").await, "{base}");
    }
    // Phase 3: the previous key is gone; the cookie, re-issued in phase 2, still reads.
    assert!(browser.signed_in(&new_only, "web").await);
    // The old key alone no longer reads it: what an instance that skipped phase 1 sees,
    // and why the runbook has two phases.
    assert!(!browser.signed_in(&old, "web").await);
}
