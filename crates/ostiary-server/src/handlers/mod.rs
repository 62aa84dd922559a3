//! One file per endpoint. A handler extracts typed input, calls one core function and maps
//! the result.

pub mod authorize;
pub mod consent;
pub mod device;
pub mod device_authorization;
pub mod discovery;
pub mod fallback;
pub mod health;
pub mod introspect;
pub mod jwks;
pub mod login;
pub mod logout;
pub mod par;
pub mod register;
pub mod revoke;
pub mod second_factor;
pub mod token;
pub mod userinfo;

use std::sync::Arc;

use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use ostiary_core::client::{Client, ClientId};
use ostiary_core::token::Confirmation;
use ostiary_core::{ErrorCode, OAuthError};

use crate::error::ApiError;
use crate::extract::client_credentials::client_credentials;
use crate::extract::dpop::dpop_proof;
use crate::extract::form::FormPairs;
use crate::extract::form::OAuthForm;
use crate::extract::source_ip::SourceIp;
use crate::metrics::{AuthFailure, RateLimited};
use crate::pages::PageError;
use crate::rate_limit::Credential;
use crate::state::AppState;
use ostiary_core::audit::{AuditEvent, AuditEventType};

/// The CSRF token a page's form posted, if it matches the browser's cookie; the forbidden
/// page otherwise. It is also the browser's binding for interactions.
fn posted_csrf<'f>(
    state: &AppState,
    jar: &axum_extra::extract::PrivateCookieJar,
    form: &'f FormPairs,
) -> Result<&'f str, PageError> {
    let csrf = form.get("csrf").unwrap_or_default();
    if !state.cookies.csrf_matches(jar, Some(csrf)) {
        return Err(PageError::Csrf);
    }
    Ok(csrf)
}

/// Responses carrying tokens or token metadata are never cached (RFC 6749 5.1).
pub fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The key of the request's DPoP proof for a `POST` to `url` (the endpoint as advertised),
/// its `jti` now spent; `None` without a `DPoP` header. For endpoints whose client is already
/// authenticated (token, PAR), so only a known client can write replay records.
async fn proven_key(
    state: &AppState,
    headers: &HeaderMap,
    url: &str,
) -> Result<Option<Confirmation>, ApiError> {
    match dpop_proof(headers)? {
        Some(proof) => Ok(Some(state.dpop.verify(proof, "POST", url, None).await?)),
        None => Ok(None),
    }
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

/// The request's client, authenticated. Correct credentials always pass (limits stop
/// guessing, not use); failures are counted, audited and limited per client and source, and
/// a locked source gets 429 instead of an answer. A configured quota applies after.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
    source: SourceIp,
) -> Result<Arc<Client>, ApiError> {
    let credentials = client_credentials(headers, form);
    let result = match &credentials {
        Ok(credentials) => state.tokens.authenticate(credentials).await,
        Err(e) => Err(e.clone()),
    };
    let client = match result {
        Ok(client) => client,
        Err(e) if e.code() == ErrorCode::InvalidClient => {
            let claimed = credentials.ok().map(|c| c.client_id().to_owned());
            let limited_as = Credential::Client(claimed.as_deref().unwrap_or(""));
            return Err(client_failure(state, limited_as, claimed.as_deref(), source, e).await);
        }
        Err(e) => return Err(e.into()),
    };
    let limited_as = Credential::Client(client.id.as_str());
    state.limiter.succeeded(limited_as, source.0).await;
    if let Some(quota) = &state.quota
        && let Some(wait) = quota.check(client.id.as_str())
    {
        state.metrics.rate_limited(RateLimited::Quota);
        return Err(ApiError::rate_limited(
            wait,
            "this client is over its request quota; retry later",
        ));
    }
    Ok(client)
}

/// A failed client authentication (a wrong client secret or assertion, or a wrong token at
/// the registration endpoints): 429 while the source is locked for `limited_as` (not even
/// counted), else counted and audited as `client.authentication_failed` with the error's
/// code as reason, naming the `claimed` client.
async fn client_failure(
    state: &AppState,
    limited_as: Credential<'_>,
    claimed: Option<&str>,
    source: SourceIp,
    error: OAuthError,
) -> ApiError {
    if let Some(wait) = state.limiter.retry_after(limited_as, source.0).await {
        state.metrics.rate_limited(RateLimited::Client);
        return ApiError::rate_limited(wait, "too many failed client authentications; retry later");
    }
    state.metrics.authentication_failed(AuthFailure::Client);
    let locked = state.limiter.failed(limited_as, source.0).await;
    let mut event = AuditEvent::new(
        state.clock.now_seconds(),
        AuditEventType::ClientAuthenticationFailed,
        "anonymous",
    )
    .source_ip(source.to_text())
    .failed(if locked.is_some() {
        "invalid_client_locked_out"
    } else {
        error.code().as_str()
    });
    // The claimed id is the requester's text: only a well-formed client id is recorded, so a
    // hostile one (control characters, 64 KiB) never reaches the audit trail or the logs; a
    // URL only on a host the operator allows for metadata documents.
    event.client_id = claimed
        .filter(|id| match ClientId::parse_any(id) {
            Ok(id) => id
                .document_url()
                .is_none_or(|url| state.config.client_metadata_hosts.allows(&url)),
            Err(_) => false,
        })
        .map(str::to_owned);
    state.audit.record(event).await;
    error.into()
}
