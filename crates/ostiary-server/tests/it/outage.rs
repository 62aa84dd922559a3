//! PostgreSQL going away and coming back: requests that need it answer 503 with
//! `Retry-After` at once (not after seconds of waiting), RFC-shaped and without driver text;
//! `/readyz` says not ready; service resumes by itself when the database returns.

use std::time::{Duration, Instant};

use futures::FutureExt;
use ostiary_store::testing::TcpProxy;
use reqwest::StatusCode;

use crate::support::{TestApp, code_request, machine_client, pkce, serve_router, web_client};

#[tokio::test]
async fn a_database_outage_answers_503_at_once_and_service_resumes_by_itself() {
    let Some(database) = ostiary_store::testing::PostgresTestDatabase::create().await else {
        return;
    };
    let (proxy, via_proxy) = TcpProxy::to_postgres(&database.url).await;
    let app = TestApp::on_postgres_via(database, via_proxy).await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    app.client(web_client("web", true)).await;
    let base = serve_router(app.router()).await;
    let http = reqwest::Client::new();
    let token = http
        .post(format!("{base}/token"))
        .basic_auth("svc", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    let token = token.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let introspect = || {
        http.post(format!("{base}/introspect"))
            .basic_auth("svc", Some(&secret))
            .form(&[("token", token.as_str())])
            .send()
    };
    assert_eq!(introspect().await.unwrap().status(), StatusCode::OK);

    let (_, challenge) = pkce();
    let mut authorize = url::Url::parse(&format!("{base}/authorize")).unwrap();
    authorize
        .query_pairs_mut()
        .extend_pairs(code_request("web", "openid", "s1", &challenge));
    let page = http.get(authorize.as_str()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    proxy.cut();
    for (what, request) in [
        ("introspection", introspect().boxed()),
        (
            "readiness",
            http.get(format!("{base}/readyz")).send().boxed(),
        ),
        (
            "the sign-in page",
            http.get(authorize.as_str()).send().boxed(),
        ),
    ] {
        let started = Instant::now();
        let response = request.await.unwrap();
        let waited = started.elapsed();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert!(response.headers().contains_key("retry-after"), "{what}");
        let body = response.text().await.unwrap();
        for leak in ["sqlx", "pool", "connection", "postgres", "error returned"] {
            assert!(!body.to_lowercase().contains(leak), "{what} says {body}");
        }
        // Not the old five-second wait for a connection that cannot come.
        assert!(waited < Duration::from_secs(3), "{what} took {waited:?}");
    }
    // Under a burst of every kind of request, nothing answers a 5xx other than 503, and every
    // 503 says when to come back.
    let burst = (0..40).map(|i| match i % 4 {
        0 => introspect().boxed(),
        1 => http
            .post(format!("{base}/token"))
            .basic_auth("svc", Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .boxed(),
        2 => http.get(authorize.as_str()).send().boxed(),
        _ => http.get(format!("{base}/readyz")).send().boxed(),
    });
    for response in futures::future::join_all(burst).await {
        let response = response.unwrap();
        let status = response.status();
        assert!(
            !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status} from {}",
            response.url()
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(response.headers().contains_key("retry-after"));
        }
    }

    // Once the store's probe has found the database gone (it asks twice a second), nothing
    // waits for a connection: the answer comes at once, not after the pool's 750 ms.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let started = Instant::now();
        let response = introspect().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        if started.elapsed() < Duration::from_millis(200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still waiting for connections 5 s into the outage"
        );
    }

    proxy.restore().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
        if ready.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready again after the database returned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = introspect().await.unwrap();
    assert_eq!(after.status(), StatusCode::OK);
    assert_eq!(
        after.json::<serde_json::Value>().await.unwrap()["active"],
        true
    );
}
