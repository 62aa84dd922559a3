//! `GET/POST /authorize` (RFC 6749 4.1.1, OpenID Connect Core 3.1.2): checks the request,
//! then shows the login page, the consent page, or sends the browser back with a code.
//! Also the steps the login and consent forms share with it.

use axum::extract::{RawQuery, State};
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::PrivateCookieJar;
use ostiary_core::authorize::{AuthorizationRequest, AuthorizeError, Next};
use ostiary_core::session::Session;
use ostiary_core::{ErrorCode, OAuthError};

use crate::extract::form::FormPairs;
use crate::pages::{self, ConsentPage, LoginPage, ScopeLine};
use crate::state::AppState;

pub async fn authorize_get(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    RawQuery(query): RawQuery,
) -> Response {
    let FormPairs(params) = FormPairs::decode(&query.unwrap_or_default());
    authorize(state, jar, params).await
}

pub async fn authorize_post(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    FormPairs(params): FormPairs,
) -> Response {
    authorize(state, jar, params).await
}

async fn authorize(
    state: AppState,
    jar: PrivateCookieJar,
    params: Vec<(String, String)>,
) -> Response {
    let request = match state.authorizer.parse(params).await {
        Ok(request) => request,
        Err(error) => return authorize_error(&state, &error),
    };
    let session = current_session(&state, &jar).await;
    let next = state
        .authorizer
        .decide(&request, session.as_ref(), false)
        .await;
    show(&state, jar, &request, session.as_ref(), next).await
}

/// The browser's live session, if its cookie names one.
pub(super) async fn current_session(state: &AppState, jar: &PrivateCookieJar) -> Option<Session> {
    let token = state.cookies.session_token(jar)?;
    match state.sessions.resume(&token).await {
        Ok(session) => session,
        Err(e) => {
            tracing::error!(error = %ostiary_core::error_chain(&e), "session lookup failed");
            None
        }
    }
}

/// An invalid request: redirected to the client once it is established, shown otherwise.
pub(super) fn authorize_error(state: &AppState, error: &AuthorizeError) -> Response {
    match (state.authorizer.error_url(error), error) {
        (Some(url), _) => redirect(&url),
        (None, AuthorizeError::Page(e)) => pages::error_page(
            StatusCode::BAD_REQUEST,
            &format!(
                "This sign-in request cannot be processed: {}.",
                e.description()
            ),
        ),
        (None, AuthorizeError::Redirect { .. }) => pages::error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in request cannot be processed.",
        ),
    }
}

/// 303: the browser follows with a GET whatever method brought it here.
pub(super) fn redirect(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(location) => (
            StatusCode::SEE_OTHER,
            [
                (LOCATION, location),
                (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => pages::error_page(StatusCode::BAD_REQUEST, "The redirect URI is not usable."),
    }
}

/// The authorization request's parameters, for the hidden field of the login and consent forms.
pub(super) fn encode_request(request: &AuthorizationRequest) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(request.params.iter())
        .finish()
}

/// Renders what comes next: a page (with the browser's CSRF token) or the redirect.
pub(super) async fn show(
    state: &AppState,
    jar: PrivateCookieJar,
    request: &AuthorizationRequest,
    session: Option<&Session>,
    next: Result<Next, OAuthError>,
) -> Response {
    let next = match next {
        Ok(next) => next,
        Err(error) => {
            let error = AuthorizeError::Redirect {
                redirect_uri: request.redirect_uri.clone(),
                state: request.state.clone(),
                error,
            };
            return (jar, authorize_error(state, &error)).into_response();
        }
    };
    let (jar, csrf) = state.cookies.csrf_token(jar);
    let response = match (next, session) {
        (Next::Redirect(url), _) => redirect(&url),
        (Next::Consent, Some(session)) => consent_page(state, request, session, &csrf).await,
        (Next::Login | Next::Consent, _) => login_page(
            StatusCode::OK,
            Some(&request.client.name),
            None,
            request.login_hint.as_deref().unwrap_or_default(),
            &csrf,
            &encode_request(request),
        ),
    };
    (jar, response).into_response()
}

pub(super) fn login_page(
    status: StatusCode,
    client_name: Option<&str>,
    error: Option<&str>,
    username: &str,
    csrf: &str,
    request: &str,
) -> Response {
    pages::page(
        status,
        &LoginPage {
            client_name,
            error,
            username,
            csrf,
            request,
        },
    )
}

async fn consent_page(
    state: &AppState,
    request: &AuthorizationRequest,
    session: &Session,
    csrf: &str,
) -> Response {
    let username = match state.store.find_user(&session.user_id).await {
        Ok(Some(user)) => user.username.as_str().to_owned(),
        Ok(None) => String::new(),
        Err(e) => {
            tracing::error!(error = %ostiary_core::error_chain(&e), "user lookup failed");
            return authorize_error(
                state,
                &AuthorizeError::Redirect {
                    redirect_uri: request.redirect_uri.clone(),
                    state: request.state.clone(),
                    error: OAuthError::new(ErrorCode::TemporarilyUnavailable, "try again later"),
                },
            );
        }
    };
    let redirect_host = url::Url::parse(&request.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| request.redirect_uri.clone());
    pages::page(
        StatusCode::OK,
        &ConsentPage {
            client_name: &request.client.name,
            username: &username,
            scopes: request
                .scopes
                .iter()
                .map(|s| ScopeLine::new(s.as_str()))
                .collect(),
            redirect_host: &redirect_host,
            csrf,
            request: &encode_request(request),
        },
    )
}
