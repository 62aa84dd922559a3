//! `POST /introspect` (RFC 7662): `{"active": false}` for any token that is not valid, or not
//! the caller's business; signed by the server when the caller asks for a JWT (RFC 9701).

use axum::Json;
use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use ostiary_core::token::INTROSPECTION_JWT_MEDIA_TYPE;

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
    let answer = state.tokens.introspect(&client, token).await?;
    if !wants_jwt(&headers) {
        return Ok(no_store(Json(answer)));
    }
    let signed = state.tokens.sign_introspection(&client, &answer)?;
    let mut response = no_store(signed);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(INTROSPECTION_JWT_MEDIA_TYPE),
    );
    Ok(response)
}

/// RFC 9701 4: the caller lists `application/token-introspection+jwt` in `Accept` (any
/// parameters and other listed types aside).
fn wants_jwt(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            item.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(INTROSPECTION_JWT_MEDIA_TYPE))
        })
}
