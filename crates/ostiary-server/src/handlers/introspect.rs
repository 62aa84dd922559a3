//! `POST /introspect` (RFC 7662): `{"active": false}` for any token that is not valid, or not
//! the caller's business.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::{no_store, token_request};
use crate::error::ApiError;
use crate::extract::form::OAuthForm;
use crate::extract::source_ip::SourceIp;
use crate::state::AppState;

pub async fn introspect(
    State(state): State<AppState>,
    source: SourceIp,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let (client, token) = token_request(&state, &headers, &form, source).await?;
    Ok(no_store(Json(
        state.tokens.introspect(&client, token).await?,
    )))
}
