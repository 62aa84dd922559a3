//! Every metric is updated by what it counts, and is served only on the metrics listener.

use crate::support::{TestApp, form_post, machine_client, send};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

async fn scrape(app: &TestApp) -> String {
    let response = ostiary_server::metrics::router(app.state.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn counters_follow_authentications_issuance_and_revocation() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let before = scrape(&app).await;
    assert_eq!(
        value(
            &before,
            r#"oauth2_server_oauth_failed_authentications{kind="client"}"#
        ),
        Some(0.0)
    );

    let (status, _, _) = send(
        &app,
        form_post(
            "/token",
            "grant_type=client_credentials",
            Some(("svc", "wrong")),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, json) = send(
        &app,
        form_post(
            "/token",
            "grant_type=client_credentials",
            Some(("svc", &secret)),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token = json["access_token"].as_str().unwrap();
    let (status, _, _) = send(
        &app,
        form_post("/revoke", &format!("token={token}"), Some(("svc", &secret))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = send(
        &app,
        form_post("/revoke", "token=unknown", Some(("svc", &secret))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let after = scrape(&app).await;
    assert_eq!(
        value(
            &after,
            r#"oauth2_server_oauth_failed_authentications{kind="client"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            r#"oauth2_server_oauth_token_issued_total{grant_type="client_credentials"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            r#"oauth2_server_oauth_token_revoked_total{reason="client_request"}"#
        ),
        Some(1.0),
        "unknown tokens are not counted"
    );
    // Every reason has a series from the start, and revocations made by another process
    // (the CLI's revoke-all writes to the same database) are counted too.
    assert_eq!(
        value(
            &after,
            r#"oauth2_server_oauth_token_revoked_total{reason="reuse_detected"}"#
        ),
        Some(0.0)
    );
    app.state
        .store
        .revoke_everything(time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(
        value(
            &scrape(&app).await,
            r#"oauth2_server_oauth_token_revoked_total{reason="revoke_all"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            r#"oauth2_server_http_requests_total{method="POST",route="/token",status="401"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            r#"oauth2_server_http_requests_total{method="POST",route="/token",status="200"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            r#"oauth2_server_http_request_duration_seconds_count{method="POST",route="/revoke"}"#
        ),
        Some(2.0)
    );
    let age = value(
        &after,
        r#"oauth2_server_signing_key_age_seconds{alg="ES256"}"#,
    )
    .unwrap();
    assert!((0.0..60.0).contains(&age), "{age}");
    assert!(value(&after, r#"oauth2_server_db_pool_connections{state="max"}"#).unwrap() >= 1.0);
}

#[tokio::test]
async fn unknown_paths_share_one_label_and_metrics_are_not_public() {
    let app = TestApp::new().await;
    for path in ["/a", "/b", "/metrics"] {
        let (status, _, _) = send(&app, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let text = scrape(&app).await;
    assert_eq!(
        value(
            &text,
            r#"oauth2_server_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        Some(3.0)
    );
    assert!(!text.contains(r#"route="/a""#));
}
