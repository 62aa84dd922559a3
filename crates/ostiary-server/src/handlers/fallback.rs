//! Unknown paths and methods: a JSON 404 or 405 (axum adds `Allow`), never an empty or HTML
//! body.

use axum::Json;
use axum::http::StatusCode;
use serde_json::{Value, json};

pub async fn not_found() -> (StatusCode, Json<Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not_found", "error_description": "no such endpoint" })),
    )
}

/// A known path asked with a method it does not take.
pub async fn method_not_allowed() -> (StatusCode, Json<Value>) {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({
            "error": "invalid_request",
            "error_description": "the endpoint does not take this method"
        })),
    )
}
