//! `GET /jwks.json`: the public parts of the active and still-published retired keys.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

use crate::state::AppState;

pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let snapshot = state.tokens.keys().current();
    (
        [
            (CONTENT_TYPE, "application/json"),
            // Short: resource servers see new and revoked keys within minutes.
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        snapshot.jwks_json().to_owned(),
    )
}
