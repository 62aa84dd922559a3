//! `GET/POST /userinfo` (OpenID Connect Core 5.3): claims about the user, for an access token
//! in the `Authorization: Bearer` header (RFC 6750 2.1) that was issued for this endpoint.

use axum::Json;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ostiary_core::ErrorCode;

use super::no_store;
use crate::state::AppState;

pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = bearer_token(&headers) else {
        // RFC 6750 3.1: a request without credentials gets a bare challenge.
        return challenge(StatusCode::UNAUTHORIZED, r#"Bearer realm="ostiary""#);
    };
    match state.tokens.userinfo(token).await {
        Ok(info) => no_store(Json(info)),
        Err(e) => match e.code() {
            ErrorCode::InsufficientScope => challenge(
                StatusCode::FORBIDDEN,
                r#"Bearer realm="ostiary", error="insufficient_scope", scope="openid""#,
            ),
            ErrorCode::InvalidToken => challenge(
                StatusCode::UNAUTHORIZED,
                r#"Bearer realm="ostiary", error="invalid_token""#,
            ),
            _ => crate::error::ApiError::from(e).into_response(),
        },
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 7235 2.1).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

fn challenge(status: StatusCode, value: &'static str) -> Response {
    let mut response = no_store(status);
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(value));
    response
}
