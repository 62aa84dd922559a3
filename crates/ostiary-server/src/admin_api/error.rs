//! The admin API's errors: `{"error", "error_description"}` (the shape of RFC 6749 5.2, so
//! one parser serves every Ostiary answer) with the HTTP status the error names.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ostiary_core::error::{AdminError, error_chain};
use ostiary_core::keys::KeyManagerError;
use ostiary_core::{InvalidInput, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every refused admin call.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `invalid_request`, `invalid_token`, `insufficient_scope`, `not_found`, `conflict`,
    /// `unsupported_media_type`, `temporarily_unavailable` or `server_error`.
    pub error: &'static str,
    /// Human-readable; never internal detail (database text, key material).
    pub error_description: String,
}

/// A refused admin call: its status and body.
#[derive(Debug)]
pub struct AdminApiError {
    status: StatusCode,
    problem: Problem,
}

impl AdminApiError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            problem: Problem {
                error,
                error_description: description.into(),
            },
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 404 `not_found`.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the operation failed; the server log says why",
        )
    }

    fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "try again later",
        )
    }
}

impl From<InvalidInput> for AdminApiError {
    fn from(e: InvalidInput) -> Self {
        Self::invalid(e.to_string())
    }
}

impl From<StoreError> for AdminApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            StoreError::Unstorable(_) => {
                tracing::warn!(error = %error_chain(&e), "the database refused a value");
                Self::invalid("a value in the request cannot be accepted")
            }
            StoreError::Corrupt(_) | StoreError::Backend(_) => {
                tracing::error!(error = %error_chain(&e), "store failed");
                Self::unavailable()
            }
        }
    }
}

impl From<AdminError> for AdminApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(invalid) => invalid.into(),
            AdminError::NotFound(what) => Self::not_found(what),
            AdminError::Store(e) => e.into(),
            AdminError::Keys(KeyManagerError::NotFound(kid)) => {
                Self::not_found(format!("no signing key {kid}"))
            }
            AdminError::Keys(KeyManagerError::Store(e)) => e.into(),
            e @ (AdminError::Unavailable(_) | AdminError::Keys(_)) => {
                tracing::error!(error = %error_chain(&e), "admin operation failed");
                Self::server_error()
            }
        }
    }
}

/// A body that is not the JSON an operation takes: 415 without a JSON content type, 413
/// past the body limit, else 400 (axum's own text bodies would break the API's shape).
impl From<JsonRejection> for AdminApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be application/json",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "the body is too large",
            ),
            other => Self::invalid(format!("the body is not valid: {}", other.body_text())),
        }
    }
}

impl From<PathRejection> for AdminApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::invalid(format!("the path is not valid: {}", rejection.body_text()))
    }
}

impl From<QueryRejection> for AdminApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::invalid(format!("the query is not valid: {}", rejection.body_text()))
    }
}

impl IntoResponse for AdminApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (status, Json(self.problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let wait = crate::error::retry_after_secs(crate::error::UNAVAILABLE_RETRY);
            headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(wait));
        }
        response
    }
}
