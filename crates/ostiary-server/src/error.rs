//! The one rendering of protocol errors (RFC 6749 5.2): JSON body, `Cache-Control: no-store`,
//! 401 with `WWW-Authenticate` for `invalid_client` and `invalid_token` (403 with it for
//! `insufficient_scope`), 503 with `Retry-After` when the store is unavailable, `DPoP-Nonce`
//! with `use_dpop_nonce`.

use axum::Json;
use axum::http::header::{CACHE_CONTROL, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ostiary_core::dpop::DpopError;
use ostiary_core::{ErrorCode, OAuthError};

use crate::extract::dpop::DPOP_NONCE;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    error: OAuthError,
    status: Option<StatusCode>,
    retry_after: Option<std::time::Duration>,
    /// RFC 9449 8: the nonce a `use_dpop_nonce` answer tells the client to use.
    dpop_nonce: Option<String>,
    /// RFC 6750 3.1: a request that sent no token gets the bare `Bearer` challenge, without
    /// an error code.
    no_token: bool,
}

impl ApiError {
    /// 429 with `Retry-After` (RFC 6585 4).
    pub fn rate_limited(retry_after: std::time::Duration, why: &'static str) -> Self {
        Self {
            error: OAuthError::new(ErrorCode::TemporarilyUnavailable, why),
            status: Some(StatusCode::TOO_MANY_REQUESTS),
            retry_after: Some(retry_after),
            dpop_nonce: None,
            no_token: false,
        }
    }

    /// `invalid_token` for a request that sent no token at all: 401 with the bare `Bearer`
    /// challenge (RFC 6750 3.1).
    pub fn no_token(description: &'static str) -> Self {
        Self {
            no_token: true,
            ..OAuthError::new(ErrorCode::InvalidToken, description).into()
        }
    }

    /// The same error body with a status other than the code's usual one (408, 413, 503).
    pub fn with_status(error: OAuthError, status: StatusCode) -> Self {
        Self {
            error,
            status: Some(status),
            retry_after: None,
            dpop_nonce: None,
            no_token: false,
        }
    }
}

impl From<OAuthError> for ApiError {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            status: None,
            retry_after: None,
            dpop_nonce: None,
            no_token: false,
        }
    }
}

impl From<DpopError> for ApiError {
    fn from(refused: DpopError) -> Self {
        Self {
            dpop_nonce: refused.nonce,
            ..refused.error.into()
        }
    }
}

fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        // access_denied reaches an API answer only from the token endpoint (RFC 8628 3.5),
        // where RFC 6749 5.2 makes every error a 400.
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or_else(|| status_of(self.error.code()));
        let body = Json(json!({
            "error": self.error.code().as_str(),
            "error_description": self.error.description(),
        }));
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        // RFC 9110 10.2.3: a 503 says when to come back (a passing database outage, a
        // request past its deadline): in a second, unless the cause knows better.
        let retry_after = self
            .retry_after
            .or((status == StatusCode::SERVICE_UNAVAILABLE).then_some(UNAVAILABLE_RETRY));
        if let Some(wait) = retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_secs(wait)));
        }
        if let Some(nonce) = self.dpop_nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            headers.insert(DPOP_NONCE, nonce);
        }
        match self.error.code() {
            ErrorCode::InvalidClient => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="ostiary", charset="UTF-8""#),
                );
            }
            // RFC 6750 3: a refused Bearer token (the registration endpoints' tokens).
            ErrorCode::InvalidToken => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(if self.no_token {
                        r#"Bearer realm="ostiary""#
                    } else {
                        r#"Bearer realm="ostiary", error="invalid_token""#
                    }),
                );
            }
            // RFC 6750 3.1: a valid token without the scope the call needs.
            ErrorCode::InsufficientScope => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        r#"Bearer realm="ostiary", error="insufficient_scope""#,
                    ),
                );
            }
            _ => {}
        }
        response
    }
}

/// When a client answered 503 without a cause-specific wait should try again.
pub const UNAVAILABLE_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Whole seconds, rounded up, at least 1: `Retry-After: 0` would invite an immediate retry.
pub fn retry_after_secs(wait: std::time::Duration) -> u64 {
    u64::try_from(wait.as_millis().div_ceil(1000))
        .unwrap_or(u64::MAX)
        .max(1)
}
