//! `POST /introspect` (RFC 7662): `{"active": false}` for any token that is not valid, or not
//! the caller's business.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use ostiary_core::{ErrorCode, OAuthError};

use super::no_store;
use crate::error::ApiError;
use crate::extract::client_credentials::client_credentials;
use crate::extract::form::OAuthForm;
use crate::state::AppState;

pub async fn introspect(
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
    Ok(no_store(Json(
        state.tokens.introspect(&client, token).await?,
    )))
}
