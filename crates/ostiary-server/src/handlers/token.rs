//! `POST /token` (RFC 6749 3.2): authenticate the client, then run the requested grant.

use std::str::FromStr;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use ostiary_core::client::{Client, GrantType};
use ostiary_core::token::{CodeRedemption, GrantError, TokenResponse, UserTokens};
use ostiary_core::{ErrorCode, OAuthError};

use super::{authenticate, no_store};
use crate::error::ApiError;
use crate::extract::form::OAuthForm;
use crate::extract::source_ip::SourceIp;
use crate::state::AppState;
use ostiary_core::audit::{AuditEvent, AuditEventType};

pub async fn token(
    State(state): State<AppState>,
    source: SourceIp,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let client = authenticate(&state, &headers, &form, source).await?;
    let grant = form
        .get("grant_type")
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "grant_type is required"))?;
    let grant = GrantType::from_str(grant).map_err(|_| {
        OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "this grant type is not supported",
        )
    })?;
    let (response, subject) = match grant {
        GrantType::ClientCredentials => (
            state
                .tokens
                .client_credentials(&client, form.get("scope"), form.all("resource"))?,
            client.id.to_string(),
        ),
        GrantType::AuthorizationCode => {
            let redemption = CodeRedemption {
                code: required(&form, "code")?,
                redirect_uri: form.get("redirect_uri"),
                code_verifier: form.get("code_verifier"),
                resources: form.all("resource"),
            };
            let result = state.tokens.authorization_code(&client, redemption).await;
            user_tokens(&state, &client, source, result).await?
        }
        GrantType::RefreshToken => {
            let presented = required(&form, "refresh_token")?;
            let result = state
                .tokens
                .refresh_token(&client, presented, form.get("scope"), form.all("resource"))
                .await;
            user_tokens(&state, &client, source, result).await?
        }
    };
    state.metrics.token_issued(grant.as_str());
    let event = AuditEvent::new(
        state.clock.now_seconds(),
        AuditEventType::TokenIssued,
        format!("client:{}", client.id),
    )
    .client(client.id.as_str())
    .subject(subject)
    .source_ip(source.to_text());
    state.audit.record(event).await;
    Ok(no_store(Json(response)))
}

fn required<'f>(form: &'f OAuthForm, name: &'static str) -> Result<&'f str, OAuthError> {
    form.get(name)
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, format!("{name} is required")))
}

/// The response of a user grant and its user; a replay is audited before it is refused.
async fn user_tokens(
    state: &AppState,
    client: &Client,
    source: SourceIp,
    result: Result<UserTokens, GrantError>,
) -> Result<(TokenResponse, String), OAuthError> {
    match result {
        Ok(tokens) => Ok((tokens.response, tokens.user_id.to_string())),
        Err(GrantError::Refused(error)) => Err(error),
        Err(GrantError::Replayed { user_id, error }) => {
            let event = AuditEvent::new(
                state.clock.now_seconds(),
                AuditEventType::ReuseDetected,
                format!("client:{}", client.id),
            )
            .client(client.id.as_str())
            .subject(user_id.to_string())
            .source_ip(source.to_text())
            .failed("grant_revoked");
            state.audit.record(event).await;
            Err(error)
        }
    }
}
