//! `GET /healthz` (the process is alive) and `GET /readyz` (it can reach its database).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::state::AppState;
use crate::telemetry::error_chain;

const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn ready(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(json!({ "status": "ok" }))).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %error_chain(&e), "readiness check failed");
            unavailable().into_response()
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            unavailable().into_response()
        }
    }
}

fn unavailable() -> (StatusCode, [(HeaderName, HeaderValue); 1], Json<Value>) {
    let wait = crate::error::retry_after_secs(crate::error::UNAVAILABLE_RETRY);
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(RETRY_AFTER, HeaderValue::from(wait))],
        Json(json!({ "status": "unavailable" })),
    )
}
