//! The one rendering of protocol errors (RFC 6749 5.2): JSON body, `Cache-Control: no-store`,
//! 401 with `WWW-Authenticate` for `invalid_client`, 503 when the store is unavailable.

use axum::Json;
use axum::http::header::{CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ostiary_core::{ErrorCode, OAuthError};
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    error: OAuthError,
    status: Option<StatusCode>,
}

impl ApiError {
    /// The same error body with a status other than the code's usual one (413, 415).
    pub fn with_status(error: OAuthError, status: StatusCode) -> Self {
        Self {
            error,
            status: Some(status),
        }
    }
}

impl From<OAuthError> for ApiError {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            status: None,
        }
    }
}

fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope | ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or_else(|| status_of(self.error.code));
        let body = Json(json!({
            "error": self.error.code.as_str(),
            "error_description": self.error.description,
        }));
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        if self.error.code == ErrorCode::InvalidClient {
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="ostiary", charset="UTF-8""#),
            );
        }
        response
    }
}
