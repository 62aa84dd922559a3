//! `POST /revoke` (RFC 7009): a client revokes its own tokens; unknown tokens answer 200.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ostiary_core::{ErrorCode, OAuthError};

use super::no_store;
use crate::error::ApiError;
use crate::extract::client_credentials::client_credentials;
use crate::extract::form::OAuthForm;
use crate::state::AppState;

pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let client = state
        .tokens
        .authenticate(&client_credentials(&headers, &form)?)
        .await?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "token is required"))?;
    state.tokens.revoke(&client, token).await?;
    Ok(no_store(StatusCode::OK))
}
