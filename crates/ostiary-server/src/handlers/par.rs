//! `POST /par` (RFC 9126): an authenticated client pushes its authorization request and gets
//! a `request_uri` for `/authorize`, answered `201 Created`; a DPoP proof sent with it binds
//! the code to its key (RFC 9449 10.1).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{authenticate, no_store, proven_key};
use crate::error::ApiError;
use crate::extract::form::OAuthForm;
use crate::extract::source_ip::SourceIp;
use crate::state::AppState;

/// Client authentication parameters: credentials, not part of the authorization request.
const CREDENTIALS: [&str; 3] = ["client_secret", "client_assertion", "client_assertion_type"];

pub async fn par(
    State(state): State<AppState>,
    source: SourceIp,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let client = authenticate(&state, &headers, &form, source).await?;
    let dpop = proven_key(&state, &headers, &state.urls.par).await?;
    let pushed = state
        .interactions
        .push(&client, form.pairs_except(&CREDENTIALS), dpop.as_ref())
        .await?;
    Ok(no_store((StatusCode::CREATED, Json(pushed))))
}
