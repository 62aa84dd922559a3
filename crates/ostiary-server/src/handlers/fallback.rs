//! Unknown paths: a JSON 404, never an empty or HTML body.

use axum::Json;
use axum::http::StatusCode;
use serde_json::{Value, json};

pub async fn not_found() -> (StatusCode, Json<Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not_found", "error_description": "no such endpoint" })),
    )
}
