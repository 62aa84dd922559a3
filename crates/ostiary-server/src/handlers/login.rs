//! `GET/POST /login`: the login form. Posted within an interaction, a successful login
//! continues it (consent or the redirect) in the same response; posted alone, it signs in.
//!
//! The guards against guessing stay here, in front of the core call: the brute-force lock
//! (checked before the password is even looked at) and the bounded Argon2 slots.

use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::PrivateCookieJar;
use ostiary_core::interaction::{Browser, Input, LoginAttempts};
use tokio::sync::OwnedSemaphorePermit;

use crate::extract::form::FormPairs;
use crate::extract::source_ip::SourceIp;
use crate::metrics::{AuthFailure, RateLimited};
use crate::pages::{self, LoginPage, PageError, flow};
use crate::rate_limit::Credential;
use crate::state::AppState;

/// A sign-in with no application waiting.
pub async fn login_get(State(state): State<AppState>, jar: PrivateCookieJar) -> Response {
    let (jar, csrf) = state.cookies.csrf_token(jar);
    let page = pages::page(
        StatusCode::OK,
        &LoginPage {
            client_name: None,
            error: None,
            username: "",
            csrf: &csrf,
            interaction: None,
        },
    );
    (jar, page).into_response()
}

pub async fn login_post(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    source: SourceIp,
    form: FormPairs,
) -> Result<Response, PageError> {
    let csrf = super::posted_csrf(&state, &jar, &form)?;
    let username = form.get("username").unwrap_or_default();
    let account = username.to_ascii_lowercase();
    let limited_as = if state.cookies.known_account(&jar).as_deref() == Some(account.as_str()) {
        Credential::KnownAccount(&account)
    } else {
        Credential::Account(&account)
    };
    if let Some(wait) = state.limiter.retry_after(limited_as, source.0).await {
        state.metrics.rate_limited(RateLimited::Login);
        return Err(PageError::TooManyAttempts(wait));
    }
    let Some(permit) = state.password_checks.acquire().await else {
        return Err(PageError::Busy);
    };
    let session = state.cookies.session_token(&jar);
    let source_ip = source.to_text();
    let browser = Browser {
        binding: csrf,
        session_token: session.as_deref(),
        source_ip: source_ip.as_deref(),
    };
    let attempts = Attempts {
        state: &state,
        limited_as,
        ip: source.0,
        permit: Mutex::new(Some(permit)),
    };
    let input = Input::Password {
        username,
        password: form.get("password").unwrap_or_default(),
        attempts: &attempts,
    };
    let answer = state
        .interactions
        .advance(
            form.get("interaction").filter(|i| !i.is_empty()),
            &browser,
            input,
        )
        .await?;
    let jar = if answer.started.is_some() {
        state.cookies.with_known_account(jar, &account)
    } else {
        jar
    };
    Ok(flow::render(&state, jar, csrf, answer))
}

/// The brute-force counters of this attempt: per account (or account known to this browser)
/// and source address; and its Argon2 slot, given back as soon as the hash is verified.
struct Attempts<'a> {
    state: &'a AppState,
    limited_as: Credential<'a>,
    ip: Option<IpAddr>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
}

#[async_trait::async_trait]
impl LoginAttempts for Attempts<'_> {
    fn verified(&self) {
        drop(
            self.permit
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }

    async fn failed(&self) -> bool {
        self.state.metrics.authentication_failed(AuthFailure::User);
        self.state
            .limiter
            .failed(self.limited_as, self.ip)
            .await
            .is_some()
    }

    async fn succeeded(&self) {
        self.state.limiter.succeeded(self.limited_as, self.ip).await;
    }
}
