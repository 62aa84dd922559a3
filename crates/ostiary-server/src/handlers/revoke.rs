//! `POST /revoke` (RFC 7009): a client revokes its own tokens; unknown tokens answer 200.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{no_store, token_request};
use crate::error::ApiError;
use crate::extract::form::OAuthForm;
use crate::extract::source_ip::SourceIp;
use crate::state::AppState;
use ostiary_core::audit::{AuditEvent, AuditEventType};

pub async fn revoke(
    State(state): State<AppState>,
    source: SourceIp,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let (client, token) = token_request(&state, &headers, &form, source).await?;
    if let Some(jti) = state.tokens.revoke(&client, token).await? {
        let event = AuditEvent::new(
            state.clock.now_seconds(),
            AuditEventType::TokenRevoked,
            format!("client:{}", client.id),
        )
        .client(client.id.as_str())
        .subject(jti)
        .source_ip(source.to_text());
        state.audit.record(event).await;
    }
    Ok(no_store(StatusCode::OK))
}
