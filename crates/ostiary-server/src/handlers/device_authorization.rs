//! `POST /device_authorization` (RFC 8628 3.1): an authenticated client (or a public one,
//! registered for the device grant) gets a device code to poll the token endpoint with and a
//! user code for the user to enter at the verification page.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::{authenticate, no_store};
use crate::error::ApiError;
use crate::extract::form::OAuthForm;
use crate::extract::source_ip::SourceIp;
use crate::state::AppState;

pub async fn device_authorization(
    State(state): State<AppState>,
    source: SourceIp,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let client = authenticate(&state, &headers, &form, source).await?;
    let started = state
        .devices
        .start(&client, form.get("scope"), form.all("resource"))
        .await?;
    Ok(no_store(Json(started)))
}
