//! `POST /revoke` (RFC 7009): a client revokes its own tokens; unknown tokens answer 200.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{no_store, token_request};
use crate::error::ApiError;
use crate::extract::form::OAuthForm;
use crate::state::AppState;

pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let (client, token) = token_request(&state, &headers, &form).await?;
    if state.tokens.revoke(&client, token).await? {
        state.metrics.token_revoked();
    }
    Ok(no_store(StatusCode::OK))
}
