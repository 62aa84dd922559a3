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

use super::{client_failure, no_store};
use crate::error::ApiError;
use crate::extract::authorization::bearer_token;
use crate::extract::client_metadata::MetadataBody;
use crate::extract::source_ip::SourceIp;
use crate::metrics::RateLimited;
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
    // Guesses at initial access tokens are limited like client secrets; registrations
    // without one, which each store a client, get a budget per source.
    let limited_as = match token {
        Some(_) => Credential::RegistrationToken,
        None => Credential::OpenRegistration,
    };
    not_locked(&state, limited_as, source).await?;
    let registered = match state.registrations.register(token, metadata).await {
        Ok(registered) => registered,
        Err(e) if e.code() == ErrorCode::InvalidToken => {
            return Err(match token {
                Some(_) => client_failure(&state, limited_as, None, source, e).await,
                None => {
                    ApiError::no_token("registration needs an initial access token (RFC 7591 3)")
                }
            });
        }
        Err(e) => return Err(e.into()),
    };
    if token.is_none() {
        state.limiter.failed(limited_as, source.0).await;
    }
    let secret = registered.client_secret.as_ref().map(|s| s.expose());
    let answer = RegisteredMetadata::of(
        &registered.client,
        endpoint(&state),
        registered.registration_access_token.expose(),
    )
    .with_secret(secret);
    Ok(no_store((StatusCode::CREATED, Json(answer))))
}

/// RFC 7592 2.1: the client's current metadata.
pub async fn read(
    State(state): State<AppState>,
    source: SourceIp,
    ClientIdPath(client_id): ClientIdPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = access_token(&state, &client_id, &headers, source).await?;
    let client = match state.registrations.read(&client_id, token).await {
        Ok(done) => done,
        Err(e) => return Err(refused(&state, &client_id, source, e).await),
    };
    Ok(configuration(&state, &client, token))
}

/// RFC 7592 2.2: replaces the client's metadata, answered with the result.
pub async fn update(
    State(state): State<AppState>,
    source: SourceIp,
    ClientIdPath(client_id): ClientIdPath,
    headers: HeaderMap,
    MetadataBody(metadata): MetadataBody,
) -> Result<Response, ApiError> {
    let token = access_token(&state, &client_id, &headers, source).await?;
    let client = match state
        .registrations
        .update(&client_id, token, metadata)
        .await
    {
        Ok(done) => done,
        Err(e) => return Err(refused(&state, &client_id, source, e).await),
    };
    Ok(configuration(&state, &client, token))
}

/// RFC 7592 2.3: deletes the client, answered `204 No Content`.
pub async fn delete(
    State(state): State<AppState>,
    source: SourceIp,
    ClientIdPath(client_id): ClientIdPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = access_token(&state, &client_id, &headers, source).await?;
    if let Err(e) = state.registrations.delete(&client_id, token).await {
        return Err(refused(&state, &client_id, source, e).await);
    }
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

/// RFC 7592 3: the client's configuration with the registration access token it presented
/// (not rotated: it stays valid).
fn configuration(state: &AppState, client: &Client, access_token: &str) -> Response {
    no_store(Json(RegisteredMetadata::of(
        client,
        endpoint(state),
        access_token,
    )))
}

/// The request's registration access token, unless the source is locked out for this client.
async fn access_token<'h>(
    state: &AppState,
    client_id: &str,
    headers: &'h HeaderMap,
    source: SourceIp,
) -> Result<&'h str, ApiError> {
    not_locked(state, Credential::Client(client_id), source).await?;
    bearer_token(headers).ok_or_else(|| {
        ApiError::no_token("send the registration access token as a Bearer token (RFC 7592 2)")
    })
}

/// A management request's error; a refused token counts against the source and is audited.
async fn refused(state: &AppState, client_id: &str, source: SourceIp, e: OAuthError) -> ApiError {
    if e.code() == ErrorCode::InvalidToken {
        let limited_as = Credential::Client(client_id);
        client_failure(state, limited_as, Some(client_id), source, e).await
    } else {
        e.into()
    }
}

/// 429 while the source is locked for `credential`.
async fn not_locked(
    state: &AppState,
    credential: Credential<'_>,
    source: SourceIp,
) -> Result<(), ApiError> {
    match state.limiter.retry_after(credential, source.0).await {
        Some(wait) => {
            state.metrics.rate_limited(RateLimited::Client);
            Err(ApiError::rate_limited(
                wait,
                "too many registrations or refused tokens from this source; retry later",
            ))
        }
        None => Ok(()),
    }
}
