//! `POST /token` (RFC 6749 3.2): authenticate the client, parse the request, check its DPoP
//! proof (RFC 9449 5), run its grant in one core call, and record what happened.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use ostiary_core::audit::{AuditEvent, AuditEventType};
use ostiary_core::client::Client;
use ostiary_core::token::{GrantError, Issued, TokenParams, TokenRequest};

use super::{authenticate, no_store, proven_key};
use crate::error::ApiError;
use crate::extract::dpop::DPOP_NONCE;
use crate::extract::form::OAuthForm;
use crate::extract::source_ip::SourceIp;
use crate::state::AppState;

pub async fn token(
    State(state): State<AppState>,
    source: SourceIp,
    headers: HeaderMap,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let client = authenticate(&state, &headers, &form, source).await?;
    let request = TokenRequest::parse(&form)?;
    let dpop = proven_key(&state, &headers, &state.urls.token).await?;
    let result = state.tokens.exchange(&client, request, dpop.as_ref()).await;
    record(&state, &client, source, &result).await;
    let issued = result.map_err(GrantError::into_error)?;
    let mut response = no_store(Json(issued.response));
    // RFC 9449 8.2: the next nonce comes with the answer, saving the client a refusal.
    if dpop.is_some()
        && let Some(nonce) = state.dpop.current_nonce()
        && let Ok(value) = HeaderValue::from_str(&nonce)
    {
        response.headers_mut().insert(DPOP_NONCE, value);
    }
    Ok(response)
}

/// Metrics and the audit trail of a token request: `token.issued` for tokens issued,
/// `token.reuse_detected` for a replay (its grant was revoked); other refusals are answered
/// and not recorded.
async fn record(
    state: &AppState,
    client: &Client,
    source: SourceIp,
    result: &Result<Issued, GrantError>,
) {
    let event = |event_type| {
        AuditEvent::new(
            state.clock.now_seconds(),
            event_type,
            format!("client:{}", client.id),
        )
        .client(client.id.as_str())
    };
    let event = match result {
        Ok(issued) => {
            state.metrics.token_issued(issued.grant_type.as_str());
            event(AuditEventType::TokenIssued)
                .subject(issued.subject.to_string())
                .source_ip(source.to_text())
        }
        Err(GrantError::Replayed { user_id, .. }) => event(AuditEventType::ReuseDetected)
            .subject(user_id.to_string())
            .source_ip(source.to_text())
            .failed("grant_revoked"),
        Err(GrantError::Refused(_)) => return,
    };
    state.audit.record(event).await;
}

impl TokenParams for OAuthForm {
    fn get(&self, name: &str) -> Option<&str> {
        OAuthForm::get(self, name)
    }

    fn all(&self, name: &str) -> &[String] {
        OAuthForm::all(self, name)
    }
}
