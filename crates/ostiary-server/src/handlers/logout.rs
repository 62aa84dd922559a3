//! `GET/POST /logout`: OpenID Connect RP-Initiated Logout 1.0. Core reads the request and
//! ends the session; this handler asks for confirmation when core says it must, and sends
//! the browser on.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::PrivateCookieJar;
use ostiary_core::logout::LOGOUT_PARAMS;

use crate::extract::form::FormPairs;
use crate::extract::source_ip::SourceIp;
use crate::pages::{self, LogoutPage, PageError, flow};
use crate::state::AppState;

pub async fn logout_get(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    source: SourceIp,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let params = FormPairs::decode(&query.unwrap_or_default());
    logout(state, jar, source, params, false).await
}

pub async fn logout_post(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    source: SourceIp,
    params: FormPairs,
) -> Result<Response, PageError> {
    logout(state, jar, source, params, true).await
}

async fn logout(
    state: AppState,
    jar: PrivateCookieJar,
    source: SourceIp,
    params: FormPairs,
    posted: bool,
) -> Result<Response, PageError> {
    let param = |name: &str| params.get(name);
    let token = state.cookies.session_token(&jar);
    let session = state.sessions.current(token.as_deref()).await;
    let request = state
        .logout
        .read(&params.0, session.as_ref())
        .await
        .map_err(|e| PageError::BadRequest(e.0))?;
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
                    params: LOGOUT_PARAMS
                        .iter()
                        .filter_map(|name| Some((*name, param(name)?)))
                        .collect(),
                },
            );
            return Ok((jar, page).into_response());
        }
    }
    if let Some(token) = &token {
        let source_ip = source.to_text();
        state
            .logout
            .end(token, source_ip.as_deref())
            .await
            .map_err(|e| {
                tracing::error!(error = %ostiary_core::error_chain(&e), "ending a session failed");
                PageError::SignOutUnavailable
            })?;
    }
    let jar = state.cookies.without_session(jar);
    let response = match request.destination {
        Some(url) => flow::redirect(&url),
        None => pages::message_page("Signed out", "You are signed out."),
    };
    Ok((jar, response).into_response())
}
