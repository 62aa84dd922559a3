//! The BFF's error responses: JSON `{"error", "error_description"}` as RFC 6749 shapes them,
//! `Cache-Control: no-store`; internal causes are logged, never sent.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum BffError {
    /// 401 `login_required`: no live session (never signed in, signed out, or its refresh
    /// token's family ended).
    #[error("no session")]
    LoginRequired,
    /// 403 `forbidden`: the CSRF header or the origin check failed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 400 `invalid_request`.
    #[error("{0}")]
    BadRequest(&'static str),
    /// 404 `not_found`: no route for the path.
    #[error("no such route")]
    NotFound,
    /// 405 `method_not_allowed`: a method not forwarded to APIs (only GET, HEAD, POST, PUT,
    /// PATCH and DELETE are).
    #[error("this method is not forwarded")]
    MethodNotAllowed,
    /// 413 `request_too_large`.
    #[error("the request body is too large")]
    TooLarge,
    /// 502 `bad_gateway`: the API failed or answered too much.
    #[error("{0}")]
    BadGateway(&'static str),
    /// 504 `gateway_timeout`: the API did not answer in time.
    #[error("the API did not answer in time")]
    GatewayTimeout,
    /// 503 `temporarily_unavailable` with `Retry-After`: the authorization server could not
    /// be reached.
    #[error("the authorization server is unavailable")]
    Unavailable,
    /// 500 `server_error`; the cause is logged.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl IntoResponse for BffError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::LoginRequired => (StatusCode::UNAUTHORIZED, "login_required"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large"),
            Self::BadGateway(_) => (StatusCode::BAD_GATEWAY, "bad_gateway"),
            Self::GatewayTimeout => (StatusCode::GATEWAY_TIMEOUT, "gateway_timeout"),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
            Self::Internal(e) => {
                tracing::error!(
                    error = ostiary_core::error_chain(e.as_ref()),
                    "BFF request failed"
                );
                (StatusCode::INTERNAL_SERVER_ERROR, "server_error")
            }
        };
        let description = match &self {
            Self::Internal(_) => "the request could not be completed".to_owned(),
            other => other.to_string(),
        };
        let mut response = (
            status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "error": code, "error_description": description })),
        )
            .into_response();
        if matches!(self, Self::Unavailable) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        response
    }
}

impl From<ostiary_core::StoreError> for BffError {
    fn from(e: ostiary_core::StoreError) -> Self {
        Self::Internal(e.into())
    }
}
