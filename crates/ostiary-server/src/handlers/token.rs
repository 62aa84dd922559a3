//! `POST /token` (RFC 6749 3.2): authenticate the client, then run the requested grant.

use std::str::FromStr;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use ostiary_core::client::GrantType;
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
    let response = match grant {
        GrantType::ClientCredentials => {
            state
                .tokens
                .client_credentials(&client, form.get("scope"), form.all("resource"))?
        }
        GrantType::AuthorizationCode | GrantType::RefreshToken | GrantType::DeviceCode => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported by this server yet",
            )
            .into());
        }
    };
    state.metrics.token_issued(grant.as_str());
    let event = AuditEvent::new(
        state.clock.now_seconds(),
        AuditEventType::TokenIssued,
        format!("client:{}", client.id),
    )
    .client(client.id.as_str())
    .subject(client.id.as_str())
    .source_ip(source.to_text());
    state.audit.record(event).await;
    Ok(no_store(Json(response)))
}
