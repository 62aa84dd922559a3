//! The router in-process: status codes and bodies of the foundation endpoints.

use crate::support::{TestApp, send};
use axum::body::Body;
use axum::http::{Request, StatusCode};

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let app = TestApp::new().await;
    let (status, headers, body) = send(&app, get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert!(headers.contains_key("x-request-id"));
    let (status, _, body) = send(&app, get("/readyz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_gone() {
    let app = TestApp::new().await;
    app.database.close().await;
    let (status, _, body) = send(&app, get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, serde_json::json!({ "status": "unavailable" }));
    let (status, _, _) = send(&app, get("/healthz")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "liveness does not depend on the database"
    );
}

#[tokio::test]
async fn a_caller_supplied_request_id_is_echoed() {
    let app = TestApp::new().await;
    let request = Request::get("/healthz")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = send(&app, request).await;
    assert_eq!(headers["x-request-id"], "abc-123");
}

/// An id that is not one plain token would be written as is into the request's log lines,
/// where it could pass for a line of its own (an audit event, say): a fresh one replaces it.
#[tokio::test]
async fn a_crafted_request_id_is_replaced() {
    let app = TestApp::new().await;
    let forged = r#"x request_id=forged}: audit: audit event event="admin.key_revoked" actor=root"#;
    let long = "a".repeat(129);
    for ids in [vec![forged], vec![long.as_str()], vec!["a", "b"], vec![""]] {
        let mut request = Request::get("/healthz");
        for id in &ids {
            request = request.header("x-request-id", *id);
        }
        let (status, headers, _) = send(&app, request.body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        let echoed: Vec<_> = headers.get_all("x-request-id").iter().collect();
        assert_eq!(echoed.len(), 1, "{ids:?}");
        let echoed = echoed[0].to_str().unwrap();
        // A fresh UUID, as for a request without an id.
        assert!(
            echoed.len() == 36 && echoed.matches('-').count() == 4,
            "{ids:?}: {echoed}"
        );
    }
    for plain in ["req_01:a-b.c", "Zm9v+YmFy/cQ=="] {
        let request = Request::get("/healthz")
            .header("x-request-id", plain)
            .body(Body::empty())
            .unwrap();
        let (_, headers, _) = send(&app, request).await;
        assert_eq!(headers["x-request-id"], plain);
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_are_4xx() {
    let app = TestApp::new().await;
    let (status, _, body) = send(&app, get("/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    // RFC-shaped like every other refusal, with the methods the endpoint takes.
    for (method, path, allow) in [("POST", "/healthz", "GET,HEAD"), ("GET", "/token", "POST")] {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::from("x"))
            .unwrap();
        let (status, headers, body) = send(&app, request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(body["error"], "invalid_request", "{method} {path}");
        assert_eq!(headers["allow"], allow, "{method} {path}");
    }
}
