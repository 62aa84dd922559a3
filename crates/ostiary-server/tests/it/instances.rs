//! Three instances on one PostgreSQL database, as behind a load balancer: each has its own
//! pool, caches and limits and follows the database's change announcements, as `serve`
//! runs it. What one instance or the CLI changes holds at every other at once, and guesses
//! spread over the three lock as they would on one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ostiary_core::SystemClock;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{
    Backend, Browser, Instance, Scratch, TEST_JWT_SECRET, TestApp, USER, USER_PASSWORD, add_user,
    assert_success, machine_client, post_client_form_with,
};

/// What "at once" means across instances here: far below the periodic re-reads (keys every
/// 2 s, clients every 30 s) that would otherwise carry a change, with room for a suite that
/// shares two cores with these requests. The topology test (tests/e2e/instances), separate
/// processes running alone, holds them to 100 ms.
const WITHIN: Duration = Duration::from_millis(500);

/// A database with three instances listening for its changes; `None` without PostgreSQL.
async fn three_instances() -> Option<(TestApp, [Instance; 3])> {
    three_instances_with(&[]).await
}

/// `three_instances` with these settings for all.
async fn three_instances_with(vars: &[(&str, &str)]) -> Option<(TestApp, [Instance; 3])> {
    let app = TestApp::on(Backend::Postgres, vars, Arc::new(SystemClock)).await?;
    let instances = [
        app.served_instance().await,
        app.served_instance().await,
        app.served_instance().await,
    ];
    // Changes are announced to the listeners there are: wait until the three instances and
    // the app's own state (the test's administrator, which follows changes too) listen.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listening = app.postgres_listeners().await.unwrap();
        if listening >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "{listening} of 4 listen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Some((app, instances))
}

/// `ostiary ARGS` against the app's database, as an operator would run it.
fn cli(app: &TestApp, args: &[&str]) -> Value {
    let scratch = Scratch::new();
    let out = scratch
        .command(args)
        .env("OAUTH2_DATABASE_URL", app.database_url())
        .env("OAUTH2_JWT_SECRET", TEST_JWT_SECRET)
        .output()
        .unwrap();
    assert_success(&out, args);
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// A client_credentials token request of `svc` at `instance`: its status and body.
async fn token(instance: &Instance, secret: &str) -> (StatusCode, Value) {
    let grant = [("grant_type", "client_credentials")];
    post_client_form_with(
        &instance.http,
        &instance.base,
        "/token",
        "svc",
        Some(secret),
        &grant,
    )
    .await
}

fn kid(access_token: &str) -> String {
    use base64::Engine;
    let header = access_token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    serde_json::from_slice::<Value>(&header).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn introspect(instance: &Instance, secret: &str, token: &str) -> Value {
    let form = [("token", token)];
    let (status, answer) = post_client_form_with(
        &instance.http,
        &instance.base,
        "/introspect",
        "svc",
        Some(secret),
        &form,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

/// Asks `check` of every instance at once, round after round, until each has passed once;
/// when the slowest was first asked a question it passed (how long its own answer took, a
/// debug build's statements and audit, is not the change's delay).
async fn until_everywhere<'a, F, Fut>(instances: &'a [Instance; 3], mut check: F) -> Duration
where
    F: FnMut(&'a Instance) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    let mut pending: Vec<&'a Instance> = instances.iter().collect();
    let mut asked = Duration::ZERO;
    while !pending.is_empty() {
        asked = started.elapsed();
        let passed = futures::future::join_all(pending.iter().map(|i| check(i))).await;
        pending = pending
            .into_iter()
            .zip(passed)
            .filter_map(|(instance, passed)| (!passed).then_some(instance))
            .collect();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not seen everywhere in 5 s"
        );
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    asked
}

/// Revocations are not announced: every introspection reads them, so one made at A holds at
/// C with the very next request (this would fail if introspection kept them in memory).
#[tokio::test]
async fn a_token_from_one_instance_introspects_at_another_and_its_revocation_holds_at_a_third() {
    let Some((app, [a, b, c])) = three_instances().await else {
        return;
    };
    let secret = app.client(machine_client("svc")).await.unwrap();
    let (status, body) = token(&a, &secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access_token = body["access_token"].as_str().unwrap();
    assert_eq!(introspect(&b, &secret, access_token).await["active"], true);
    assert_eq!(introspect(&c, &secret, access_token).await["active"], true);

    let form = [("token", access_token)];
    let (revoked, _) =
        post_client_form_with(&a.http, &a.base, "/revoke", "svc", Some(&secret), &form).await;
    assert_eq!(revoked, StatusCode::OK);
    let started = Instant::now();
    assert_eq!(introspect(&c, &secret, access_token).await["active"], false);
    assert!(started.elapsed() < WITHIN, "{:?}", started.elapsed());
    assert_eq!(introspect(&b, &secret, access_token).await["active"], false);
}

#[tokio::test]
async fn a_key_rotated_by_the_cli_signs_at_every_instance_at_once() {
    let Some((app, instances)) = three_instances().await else {
        return;
    };
    let secret = app.client(machine_client("svc")).await.unwrap();
    let mut before = Vec::new();
    for instance in &instances {
        let (status, body) = token(instance, &secret).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        before.push(kid(body["access_token"].as_str().unwrap()));
    }
    assert!(before.windows(2).all(|w| w[0] == w[1]), "{before:?}");

    cli(&app, &["keys", "rotate", "--alg", "ES256"]);
    let took = until_everywhere(&instances, |instance| {
        let secret = secret.clone();
        let old = before[0].clone();
        async move {
            let (status, body) = token(instance, &secret).await;
            status == StatusCode::OK && kid(body["access_token"].as_str().unwrap()) != old
        }
    })
    .await;
    assert!(
        took < WITHIN,
        "the new key was used everywhere after {took:?}"
    );
    // What one instance signs with the new key, another accepts.
    let (_, body) = token(&instances[0], &secret).await;
    let fresh = body["access_token"].as_str().unwrap();
    assert_eq!(
        introspect(&instances[2], &secret, fresh).await["active"],
        true
    );
}

#[tokio::test]
async fn a_client_deleted_by_the_cli_is_refused_at_every_instance_at_once() {
    let Some((app, instances)) = three_instances().await else {
        return;
    };
    let secret = app.client(machine_client("svc")).await.unwrap();
    // Every instance has the client in memory (kept 30 s by default on PostgreSQL).
    for instance in &instances {
        assert_eq!(token(instance, &secret).await.0, StatusCode::OK);
    }
    cli(&app, &["client", "delete", "svc"]);
    let took = until_everywhere(&instances, |instance| {
        let secret = secret.clone();
        async move {
            let (status, body) = token(instance, &secret).await;
            status == StatusCode::UNAUTHORIZED && body["error"] == "invalid_client"
        }
    })
    .await;
    assert!(
        took < WITHIN,
        "the client was refused everywhere after {took:?}"
    );
}

#[tokio::test]
async fn password_guesses_spread_over_three_instances_lock_as_on_one() {
    let Some((app, instances)) = three_instances().await else {
        return;
    };
    add_user(&app).await;
    let browsers: Vec<Browser> = instances.iter().map(|i| Browser::new(&i.base)).collect();
    // Five wrong passwords for one account from one address, round robin: on one instance
    // the fifth locks the pair.
    for attempt in 0..5 {
        let browser = &browsers[attempt % 3];
        let form = browser.get("/login").await;
        let page = browser.submit_login(&form, USER, "wrong guess 123").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // Even the right password now waits, at every instance, the next one first.
    for browser in browsers.iter().cycle().skip(5).take(3) {
        let form = browser.get("/login").await;
        let page = browser.submit_login(&form, USER, USER_PASSWORD).await;
        assert_eq!(
            page.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            browser.base
        );
        assert!(page.headers.contains_key("retry-after"));
        assert!(!browser.has_session_cookie());
    }
}

#[tokio::test]
async fn client_secret_guesses_spread_over_three_instances_lock_as_on_one() {
    let Some((app, instances)) = three_instances().await else {
        return;
    };
    app.client(machine_client("svc")).await;
    // Ten wrong secrets for one client from one address lock the pair on one instance.
    for attempt in 0..10 {
        let (status, _) = token(&instances[attempt % 3], "not-the-secret").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    for instance in &instances {
        let (status, body) = token(instance, "not-the-secret").await;
        assert_eq!(
            status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}: {body}",
            instance.base
        );
    }
    // The lock reaches every instance's memory: announced, not only read from the database.
    let took = until_everywhere(&instances, |instance| {
        let held = instance.state.limiter.locked_in_memory(
            ostiary_server::rate_limit::Credential::Client("svc"),
            Some("127.0.0.1".parse().unwrap()),
        );
        async move { held.is_some() }
    })
    .await;
    assert!(
        took < WITHIN,
        "the lock reached every instance after {took:?}"
    );
}

#[tokio::test]
async fn a_client_quota_is_shared_among_the_instances() {
    let Some((app, instances)) =
        three_instances_with(&[("OAUTH2_CLIENT_QUOTA_PER_SEC", "8")]).await
    else {
        return;
    };
    let secret = app.client(machine_client("svc")).await.unwrap();
    // Four instances listen (the three and the app's own state): each allows 8 / 4 a second,
    // once it has counted them (every 5 s).
    let deadline = Instant::now() + Duration::from_secs(15);
    while instances
        .iter()
        .any(|i| i.state.quota.as_ref().unwrap().per_instance() != 2)
    {
        assert!(Instant::now() < deadline, "the instances were not counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for instance in &instances {
        let statuses = [
            token(instance, &secret).await.0,
            token(instance, &secret).await.0,
            token(instance, &secret).await.0,
        ];
        assert_eq!(
            statuses,
            [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::TOO_MANY_REQUESTS
            ],
            "{}",
            instance.base
        );
    }
}
