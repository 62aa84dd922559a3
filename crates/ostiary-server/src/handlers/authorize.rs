//! `GET/POST /authorize` (RFC 6749 4.1.1, OpenID Connect Core 3.1.2): the request is checked
//! once by core, which answers the first step: the login page, the consent page, or the
//! redirect back with a code or an error.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::PrivateCookieJar;
use ostiary_core::interaction::Browser;

use crate::extract::form::FormPairs;
use crate::extract::source_ip::SourceIp;
use crate::pages::{PageError, flow};
use crate::state::AppState;

pub async fn authorize_get(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    source: SourceIp,
    RawQuery(query): RawQuery,
) -> Response {
    let FormPairs(params) = FormPairs::decode(&query.unwrap_or_default());
    authorize(state, jar, source, params).await
}

pub async fn authorize_post(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    source: SourceIp,
    FormPairs(params): FormPairs,
) -> Response {
    authorize(state, jar, source, params).await
}

async fn authorize(
    state: AppState,
    jar: PrivateCookieJar,
    source: SourceIp,
    params: Vec<(String, String)>,
) -> Response {
    let (jar, csrf) = state.cookies.csrf_token(jar);
    let session = state.cookies.session_token(&jar);
    let source_ip = source.to_text();
    let browser = Browser {
        binding: &csrf,
        session_token: session.as_deref(),
        source_ip: source_ip.as_deref(),
    };
    match state.interactions.begin(params, &browser).await {
        Ok(answer) => flow::render(&state, jar, &csrf, answer),
        Err(e) => (jar, PageError::from(e)).into_response(),
    }
}
