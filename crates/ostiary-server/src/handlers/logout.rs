//! `GET/POST /logout`: OpenID Connect RP-Initiated Logout 1.0. Ends the browser's session
//! (and the refresh tokens bound to it), then returns to a registered
//! `post_logout_redirect_uri` with `state`, or shows that the user is signed out.
//!
//! Without an `id_token_hint` naming this very session, the user confirms first (section 2):
//! otherwise any site could sign users out by linking here.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::PrivateCookieJar;
use ostiary_core::audit::{AuditEvent, AuditEventType};
use ostiary_core::client::{Client, ClientId};
use ostiary_core::session::Session;

use super::authorize::{current_session, redirect};
use crate::extract::form::FormPairs;
use crate::extract::source_ip::SourceIp;
use crate::pages::{self, LogoutPage};
use crate::state::AppState;

/// The parameters carried through the confirmation form.
const PARAMS: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

pub async fn logout_get(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    source: SourceIp,
    RawQuery(query): RawQuery,
) -> Response {
    logout(
        state,
        jar,
        source,
        FormPairs::decode(&query.unwrap_or_default()),
        false,
    )
    .await
}

pub async fn logout_post(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    source: SourceIp,
    params: FormPairs,
) -> Response {
    logout(state, jar, source, params, true).await
}

/// What the request names: the client (from the hint or `client_id`) and whether the hint
/// is an ID token of the browser's current session.
struct LogoutRequest {
    client: Option<Arc<Client>>,
    hint_matches_session: bool,
    destination: Option<String>,
}

async fn logout(
    state: AppState,
    jar: PrivateCookieJar,
    source: SourceIp,
    params: FormPairs,
    posted: bool,
) -> Response {
    let param = |name: &str| params.get(name);
    let session = current_session(&state, &jar).await;
    let request = match read_request(&state, &params, session.as_ref()).await {
        Ok(request) => request,
        Err(text) => return pages::error_page(StatusCode::BAD_REQUEST, text),
    };
    if session.is_some() && !request.hint_matches_session {
        let confirmed = posted
            && param("confirm") == Some("yes")
            && state.cookies.csrf_matches(&jar, param("csrf"));
        if !confirmed {
            let (jar, csrf) = state.cookies.csrf_token(jar);
            let page = pages::page(
                StatusCode::OK,
                &LogoutPage {
                    client_name: request.client.as_deref().map(|c| c.name.as_str()),
                    csrf: &csrf,
                    params: PARAMS
                        .iter()
                        .filter_map(|name| Some((*name, param(name)?)))
                        .collect(),
                },
            );
            return (jar, page).into_response();
        }
    }
    if let Some(token) = state.cookies.session_token(&jar) {
        match state.sessions.end(&token).await {
            Ok(Some(ended)) => audit_logout(&state, &ended, source).await,
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
    let response = match request.destination {
        Some(url) => redirect(&url),
        None => pages::message_page("Signed out", "You are signed out."),
    };
    (jar, response).into_response()
}

async fn audit_logout(state: &AppState, session: &Session, source: SourceIp) {
    let event = AuditEvent::new(
        state.clock.now_seconds(),
        AuditEventType::LoggedOut,
        format!("user:{}", session.user_id),
    )
    .subject(session.user_id.to_string())
    .source_ip(source.to_text());
    state.audit.record(event).await;
}

/// Checks the hint, the client and the destination: only a URI registered for the client
/// that the `id_token_hint` (or `client_id`) names; an unregistered one is refused, never
/// followed.
async fn read_request(
    state: &AppState,
    params: &FormPairs,
    session: Option<&Session>,
) -> Result<LogoutRequest, &'static str> {
    let param = |name: &str| params.get(name);
    let uri = param("post_logout_redirect_uri");
    let hint = match param("id_token_hint") {
        Some(hint) => Some(
            state
                .tokens
                .id_token_hint(hint)
                .ok_or("The id_token_hint is not an ID token issued here.")?,
        ),
        None => None,
    };
    let hint_matches_session = match (&hint, session) {
        (Some(claims), Some(session)) => {
            claims.sub.as_deref() == Some(session.user_id.to_string().as_str())
                && claims.str("sid") == Some(session.sid.as_str())
        }
        _ => false,
    };
    let hinted = match &hint {
        Some(claims) => Some(
            claims
                .aud
                .first()
                .cloned()
                .ok_or("The id_token_hint has no audience.")?,
        ),
        None => None,
    };
    let client_id = match (hinted.as_deref(), param("client_id")) {
        (Some(a), Some(b)) if a != b => return Err("client_id does not match the id_token_hint."),
        (Some(id), _) | (None, Some(id)) => Some(id.to_owned()),
        (None, None) if uri.is_some() => {
            return Err("post_logout_redirect_uri needs an id_token_hint or a client_id.");
        }
        (None, None) => None,
    };
    let client = match client_id {
        Some(id) => Some(
            match ClientId::parse(&id) {
                Ok(id) => state.tokens.clients().find(&id).await.ok().flatten(),
                Err(_) => None,
            }
            .ok_or("The client is unknown.")?,
        ),
        None => None,
    };
    let destination = match (uri, &client) {
        (Some(uri), Some(client)) => {
            if !client
                .post_logout_redirect_uris
                .iter()
                .any(|r| r.as_str() == uri)
            {
                return Err("post_logout_redirect_uri is not registered for this client.");
            }
            let mut url =
                url::Url::parse(uri).map_err(|_| "post_logout_redirect_uri is not usable.")?;
            if let Some(logout_state) = param("state") {
                url.query_pairs_mut().append_pair("state", logout_state);
            }
            Some(url.into())
        }
        _ => None,
    };
    Ok(LogoutRequest {
        client,
        hint_matches_session,
        destination,
    })
}
