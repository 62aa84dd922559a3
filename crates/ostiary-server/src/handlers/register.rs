//! The registration endpoint, `POST /register` (RFC 7591 3), and each self-registered client's
//! configuration endpoint, `GET`, `PUT` and `DELETE /register/{client_id}` (RFC 7592 2), all
//! authorized by a Bearer token: the operator's initial access token, then the client's
//! registration access token. Wrong tokens are counted per source like wrong client secrets.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ostiary_core::client::Client;
use ostiary_core::registration::RegisteredMetadata;
use ostiary_core::{ErrorCode, OAuthError};

use super::no_store;
use crate::error::ApiError;
use crate::extract::authorization::bearer_token;
use crate::extract::client_metadata::MetadataBody;
use crate::extract::source_ip::SourceIp;
use crate::metrics::{AuthFailure, RateLimited};
use crate::rate_limit::Credential;
use crate::state::AppState;

/// RFC 7591 3.1: registers a client, answered `201 Created` with its metadata, its
/// credentials (shown once) and its configuration endpoint (RFC 7591 3.2.1).
pub async fn register(
    State(state): State<AppState>,
    source: SourceIp,
    headers: HeaderMap,
    MetadataBody(metadata): MetadataBody,
) -> Result<Response, ApiError> {
    let token = bearer_token(&headers);
    let limited_as = Credential::RegistrationToken;
    if token.is_some() {
        not_locked(&state, limited_as, source)?;
    }
    let registered = match state.registrations.register(token, metadata).await {
        Ok(registered) => registered,
        Err(e) if e.code() == ErrorCode::InvalidToken && token.is_some() => {
            return Err(failed(&state, limited_as, source, e));
        }
        Err(e) => return Err(e.into()),
    };
    let secret = registered.client_secret.as_ref().map(|s| s.expose());
    let answer = RegisteredMetadata::of(&registered.client, endpoint(&state))
        .issued(secret, registered.registration_access_token.expose());
    Ok(no_store((StatusCode::CREATED, Json(answer))))
}

/// RFC 7592 2.1: the client's current metadata.
pub async fn read(
    State(state): State<AppState>,
    source: SourceIp,
    ClientIdPath(client_id): ClientIdPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = access_token(&state, &client_id, &headers, source)?;
    let client = state
        .registrations
        .read(&client_id, token)
        .await
        .map_err(|e| refused(&state, &client_id, source, e))?;
    Ok(configuration(&state, &client))
}

/// RFC 7592 2.2: replaces the client's metadata, answered with the result.
pub async fn update(
    State(state): State<AppState>,
    source: SourceIp,
    ClientIdPath(client_id): ClientIdPath,
    headers: HeaderMap,
    MetadataBody(metadata): MetadataBody,
) -> Result<Response, ApiError> {
    let token = access_token(&state, &client_id, &headers, source)?;
    let client = state
        .registrations
        .update(&client_id, token, metadata)
        .await
        .map_err(|e| refused(&state, &client_id, source, e))?;
    Ok(configuration(&state, &client))
}

/// RFC 7592 2.3: deletes the client, answered `204 No Content`.
pub async fn delete(
    State(state): State<AppState>,
    source: SourceIp,
    ClientIdPath(client_id): ClientIdPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = access_token(&state, &client_id, &headers, source)?;
    state
        .registrations
        .delete(&client_id, token)
        .await
        .map_err(|e| refused(&state, &client_id, source, e))?;
    Ok(no_store(StatusCode::NO_CONTENT))
}

/// The `{client_id}` of a configuration endpoint's path, as sent (checked by the service);
/// a path that does not decode (invalid UTF-8) is `invalid_request`, not axum's plain text.
#[derive(Debug)]
pub struct ClientIdPath(String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                OAuthError::new(
                    ErrorCode::InvalidRequest,
                    "the client id in the path does not decode",
                )
            })?;
        Ok(Self(id))
    }
}

fn endpoint(state: &AppState) -> &str {
    &state.registrations.policy().endpoint
}

fn configuration(state: &AppState, client: &Client) -> Response {
    no_store(Json(RegisteredMetadata::of(client, endpoint(state))))
}

/// The request's registration access token, unless the source is locked out for this client.
fn access_token<'h>(
    state: &AppState,
    client_id: &str,
    headers: &'h HeaderMap,
    source: SourceIp,
) -> Result<&'h str, ApiError> {
    not_locked(state, Credential::Client(client_id), source)?;
    bearer_token(headers).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::InvalidToken,
            "send the registration access token as a Bearer token (RFC 7592 2)",
        )
        .into()
    })
}

/// A management request's error; a refused token counts against the source.
fn refused(state: &AppState, client_id: &str, source: SourceIp, e: OAuthError) -> ApiError {
    if e.code() == ErrorCode::InvalidToken {
        failed(state, Credential::Client(client_id), source, e)
    } else {
        e.into()
    }
}

/// 429 while the source is locked for `credential`.
fn not_locked(
    state: &AppState,
    credential: Credential<'_>,
    source: SourceIp,
) -> Result<(), ApiError> {
    match state.limiter.retry_after(credential, source.0) {
        Some(wait) => {
            state.metrics.rate_limited(RateLimited::Client);
            Err(ApiError::rate_limited(
                wait,
                "too many refused registration tokens; retry later",
            ))
        }
        None => Ok(()),
    }
}

/// A refused token: counted against the source, answered with its `invalid_token`.
fn failed(
    state: &AppState,
    credential: Credential<'_>,
    source: SourceIp,
    e: OAuthError,
) -> ApiError {
    state.metrics.authentication_failed(AuthFailure::Client);
    state.limiter.failed(credential, source.0);
    e.into()
}
