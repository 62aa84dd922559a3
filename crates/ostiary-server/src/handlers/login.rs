//! `GET/POST /login`: the login form. Posted with an authorization request, a successful
//! login continues that request (consent or the redirect) in the same response.

use axum::extract::State;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::PrivateCookieJar;
use ostiary_core::audit::{AuditEvent, AuditEventType};
use ostiary_core::user::{User, Username};

use super::authorize::{authorize_error, login_page, show};
use crate::extract::form::FormPairs;
use crate::extract::source_ip::SourceIp;
use crate::metrics::{AuthFailure, RateLimited};
use crate::pages;
use crate::rate_limit::Credential;
use crate::state::AppState;

/// 429 with `Retry-After`: the password is not even checked while the lock lasts.
fn too_many_attempts(wait: std::time::Duration) -> Response {
    let mut page = pages::error_page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many failed sign-in attempts. Wait a little and try again.",
    );
    page.headers_mut().insert(
        RETRY_AFTER,
        HeaderValue::from(crate::error::retry_after_secs(wait)),
    );
    page
}

/// Every Argon2 slot is taken: 503 rather than an unbounded queue of memory-hungry hashes.
fn busy() -> Response {
    let mut page = pages::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Signing in is busy right now. Try again in a moment.",
    );
    page.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    page
}

/// A standalone sign-in (no application waiting).
pub async fn login_get(State(state): State<AppState>, jar: PrivateCookieJar) -> Response {
    let (jar, csrf) = state.cookies.csrf_token(jar);
    (jar, login_page(StatusCode::OK, None, None, "", &csrf, "")).into_response()
}

/// The form is stale or forged: nothing is done.
pub(super) fn csrf_failure() -> Response {
    pages::error_page(
        StatusCode::FORBIDDEN,
        "This form has expired or did not come from this site. Go back to the application and \
         start again.",
    )
}

pub async fn login_post(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    source: SourceIp,
    form: FormPairs,
) -> Response {
    if !state.cookies.csrf_matches(&jar, form.get("csrf")) {
        return csrf_failure();
    }
    let encoded_request = form.get("request").unwrap_or_default();
    let request = if encoded_request.is_empty() {
        None
    } else {
        let FormPairs(params) = FormPairs::decode(encoded_request);
        match state.authorizer.parse(params).await {
            Ok(request) => Some(request),
            Err(error) => return authorize_error(&state, &error),
        }
    };
    let username = form.get("username").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let account = username.to_ascii_lowercase();
    let limited_as = if state.cookies.known_account(&jar).as_deref() == Some(account.as_str()) {
        Credential::KnownAccount(&account)
    } else {
        Credential::Account(&account)
    };
    if let Some(wait) = state.limiter.retry_after(limited_as, source.0) {
        state.metrics.rate_limited(RateLimited::Login);
        return too_many_attempts(wait);
    }
    let Some(permit) = state.password_checks.acquire().await else {
        return busy();
    };
    let user = check_password(&state, username, password, limited_as, source).await;
    drop(permit);
    let Some(user) = user else {
        let (jar, csrf) = state.cookies.csrf_token(jar);
        let page = login_page(
            StatusCode::UNAUTHORIZED,
            request.as_ref().map(|r| r.client.name.as_str()),
            Some("Incorrect username or password."),
            username,
            &csrf,
            encoded_request,
        );
        return (jar, page).into_response();
    };

    state.limiter.succeeded(limited_as, source.0);
    let previous = state.cookies.session_token(&jar);
    let (token, session) = match state.sessions.start(&user, previous.as_deref()).await {
        Ok(started) => started,
        Err(e) => {
            tracing::error!(error = %ostiary_core::error_chain(&e), "starting a session failed");
            return pages::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Signing in is not possible right now. Try again later.",
            );
        }
    };
    state
        .audit
        .record(
            AuditEvent::new(
                state.clock.now_seconds(),
                AuditEventType::LoginSucceeded,
                format!("user:{}", user.id),
            )
            .subject(user.id.to_string())
            .source_ip(source.to_text()),
        )
        .await;
    let jar = state
        .cookies
        .with_session(jar, token.expose(), state.sessions.settings().absolute);
    let jar = state.cookies.with_known_account(jar, &account);
    match request {
        Some(request) => {
            let next = state
                .authorizer
                .decide(&request, Some(&session), true)
                .await;
            show(&state, jar, &request, Some(&session), next).await
        }
        None => (
            jar,
            pages::message_page("Signed in", "You are signed in. You can close this page."),
        )
            .into_response(),
    }
}

/// The user, if the password is theirs and the account enabled. Argon2 runs on the blocking
/// pool; unknown users cost the same verification. Failures are counted and audited.
async fn check_password(
    state: &AppState,
    username: &str,
    password: &str,
    limited_as: Credential<'_>,
    source: SourceIp,
) -> Option<User> {
    let user = match Username::parse(username) {
        Ok(name) => match state.store.find_user_by_username(&name).await {
            Ok(user) => user,
            Err(e) => {
                tracing::error!(error = %ostiary_core::error_chain(&e), "user lookup failed");
                return None;
            }
        },
        Err(_) => None,
    };
    let authenticator = state.authenticator.clone();
    let candidate = user.clone();
    let password = password.to_owned();
    let ok =
        tokio::task::spawn_blocking(move || authenticator.check(candidate.as_ref(), &password))
            .await
            .unwrap_or(false);
    if ok {
        return user;
    }
    state.metrics.authentication_failed(AuthFailure::User);
    let locked = state.limiter.failed(limited_as, source.0);
    let mut event = AuditEvent::new(
        state.clock.now_seconds(),
        AuditEventType::LoginFailed,
        "anonymous",
    )
    .source_ip(source.to_text())
    .failed(match (user.is_some(), locked.is_some()) {
        (true, false) => "wrong_password_or_disabled",
        (true, true) => "wrong_password_or_disabled_locked_out",
        (false, false) => "unknown_user",
        (false, true) => "unknown_user_locked_out",
    });
    event.subject = user.map(|u| u.id.to_string());
    state.audit.record(event).await;
    None
}
