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

#[tokio::test]
async fn unknown_paths_and_methods_are_4xx() {
    let app = TestApp::new().await;
    let (status, _, body) = send(&app, get("/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    let post = Request::post("/healthz").body(Body::from("x")).unwrap();
    let (status, _, _) = send(&app, post).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}
