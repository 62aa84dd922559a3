//! One file per endpoint. A handler extracts typed input, calls one core function and maps
//! the result.

pub mod discovery;
pub mod fallback;
pub mod health;
pub mod introspect;
pub mod jwks;
pub mod revoke;
pub mod token;

use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::response::{IntoResponse, Response};

/// Responses carrying tokens or token metadata are never cached (RFC 6749 5.1).
pub fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
