//! One file per endpoint. A handler extracts typed input, calls one core function and maps
//! the result.

pub mod authorize;
pub mod consent;
pub mod discovery;
pub mod fallback;
pub mod health;
pub mod introspect;
pub mod jwks;
pub mod login;
pub mod logout;
pub mod revoke;
pub mod token;
pub mod userinfo;

use std::sync::Arc;

use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use ostiary_core::client::Client;
use ostiary_core::{ErrorCode, OAuthError};

use crate::error::ApiError;
use crate::extract::client_credentials::client_credentials;
use crate::extract::form::OAuthForm;
use crate::extract::source_ip::SourceIp;
use crate::metrics::AuthFailure;
use crate::state::AppState;
use ostiary_core::audit::{AuditEvent, AuditEventType};

/// Responses carrying tokens or token metadata are never cached (RFC 6749 5.1).
pub fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The authenticated client and the `token` parameter of an introspection or revocation
/// request (RFC 7662 2.1, RFC 7009 2.1).
async fn token_request<'f>(
    state: &AppState,
    headers: &HeaderMap,
    form: &'f OAuthForm,
    source: SourceIp,
) -> Result<(Arc<Client>, &'f str), ApiError> {
    let client = authenticate(state, headers, form, source).await?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "token is required"))?;
    Ok((client, token))
}

/// The request's client, authenticated; failures are counted and audited.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
    source: SourceIp,
) -> Result<Arc<Client>, OAuthError> {
    let credentials = client_credentials(headers, form);
    let result = match &credentials {
        Ok(credentials) => state.tokens.authenticate(credentials).await,
        Err(e) => Err(e.clone()),
    };
    if let Err(e) = &result
        && e.code == ErrorCode::InvalidClient
    {
        state.metrics.authentication_failed(AuthFailure::Client);
        let mut event = AuditEvent::new(
            state.clock.now_seconds(),
            AuditEventType::ClientAuthenticationFailed,
            "anonymous",
        )
        .source_ip(source.to_text())
        .failed(e.code.as_str());
        event.client_id = credentials.ok().map(|c| c.client_id().to_owned());
        state.audit.record(event).await;
    }
    result
}
