//! `GET/POST /logout`: OpenID Connect RP-Initiated Logout 1.0. Ends the browser's session
//! (and the refresh tokens bound to it), then returns to a registered
//! `post_logout_redirect_uri` with `state`, or shows that the user is signed out.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::PrivateCookieJar;
use ostiary_core::audit::{AuditEvent, AuditEventType};
use ostiary_core::client::ClientId;

use super::authorize::redirect;
use crate::extract::form::FormPairs;
use crate::extract::source_ip::SourceIp;
use crate::pages;
use crate::state::AppState;

pub async fn logout_get(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    source: SourceIp,
    RawQuery(query): RawQuery,
) -> Response {
    let params = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    logout(state, jar, source, params).await
}

pub async fn logout_post(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    source: SourceIp,
    FormPairs(params): FormPairs,
) -> Response {
    logout(state, jar, source, params).await
}

async fn logout(
    state: AppState,
    jar: PrivateCookieJar,
    source: SourceIp,
    params: Vec<(String, String)>,
) -> Response {
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let destination = match post_logout_destination(
        &state,
        param("id_token_hint"),
        param("client_id"),
        param("post_logout_redirect_uri"),
        param("state"),
    )
    .await
    {
        Ok(destination) => destination,
        Err(text) => return pages::error_page(StatusCode::BAD_REQUEST, text),
    };
    if let Some(token) = state.cookies.session_token(&jar) {
        match state.sessions.end(&token).await {
            Ok(Some(session)) => {
                let event = AuditEvent::new(
                    state.clock.now_seconds(),
                    AuditEventType::LoggedOut,
                    format!("user:{}", session.user_id),
                )
                .subject(session.user_id.to_string())
                .source_ip(source.to_text());
                state.audit.record(event).await;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %ostiary_core::error_chain(&e), "ending a session failed");
                return pages::error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Signing out is not possible right now. Try again later.",
                );
            }
        }
    }
    let jar = state.cookies.without_session(jar);
    let response = match destination {
        Some(url) => redirect(&url),
        None => pages::message_page("Signed out", "You are signed out."),
    };
    (jar, response).into_response()
}

/// Where to send the browser afterwards: only a URI registered for the client that the
/// `id_token_hint` (or `client_id`) names; an unregistered one is refused, never followed.
async fn post_logout_destination(
    state: &AppState,
    id_token_hint: Option<&str>,
    client_id: Option<&str>,
    uri: Option<&str>,
    logout_state: Option<&str>,
) -> Result<Option<String>, &'static str> {
    let hinted = match id_token_hint {
        Some(hint) => {
            let claims = state
                .tokens
                .id_token_hint(hint)
                .ok_or("The id_token_hint is not an ID token issued here.")?;
            Some(
                claims
                    .aud
                    .first()
                    .cloned()
                    .ok_or("The id_token_hint has no audience.")?,
            )
        }
        None => None,
    };
    let client_id = match (hinted.as_deref(), client_id) {
        (Some(a), Some(b)) if a != b => return Err("client_id does not match the id_token_hint."),
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) if uri.is_some() => {
            return Err("post_logout_redirect_uri needs an id_token_hint or a client_id.");
        }
        (None, None) => return Ok(None),
    };
    let Some(uri) = uri else {
        return Ok(None);
    };
    let client = match ClientId::parse(client_id) {
        Ok(id) => state.tokens.clients().find(&id).await.ok().flatten(),
        Err(_) => None,
    }
    .ok_or("The client is unknown.")?;
    if !client
        .post_logout_redirect_uris
        .iter()
        .any(|r| r.as_str() == uri)
    {
        return Err("post_logout_redirect_uri is not registered for this client.");
    }
    let mut url = url::Url::parse(uri).map_err(|_| "post_logout_redirect_uri is not usable.")?;
    if let Some(logout_state) = logout_state {
        url.query_pairs_mut().append_pair("state", logout_state);
    }
    Ok(Some(url.into()))
}
