//! `POST /login/otp`: the second-factor page's code (`otp`), within the interaction whose
//! password (or session) it follows. The brute-force lock of the login form counts wrong
//! codes too, per account and source: core names the account, which the form does not carry.
//! A browser that signed in to the account before is counted apart, as at the login form.

use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use axum_extra::extract::PrivateCookieJar;
use ostiary_core::interaction::{Browser, CodeAttempts, Input};

use crate::extract::form::FormPairs;
use crate::extract::source_ip::SourceIp;
use crate::metrics::{AuthFailure, RateLimited};
use crate::pages::{PageError, flow};
use crate::rate_limit::Credential;
use crate::state::AppState;

/// The page is only ever the answer to a post: opened from a bookmark or a reload, it says
/// the sign-in must start again.
pub async fn second_factor_get() -> PageError {
    PageError::Expired
}

pub async fn second_factor(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    source: SourceIp,
    form: FormPairs,
) -> Result<Response, PageError> {
    let csrf = super::posted_csrf(&state, &jar, &form)?;
    // One code, for one walk: a form carrying two of either was not made by this page.
    if form.repeats("otp") || form.repeats("interaction") {
        return Err(PageError::BadRequest("Enter one code."));
    }
    let session = state.cookies.session_token(&jar);
    let source_ip = source.to_text();
    let browser = Browser {
        binding: csrf,
        session_token: session.as_deref(),
        source_ip: source_ip.as_deref(),
    };
    let attempts = Attempts {
        state: &state,
        ip: source.0,
        known_account: state.cookies.known_account(&jar),
        signed_in: Mutex::new(None),
    };
    let input = Input::Code {
        otp: form.get("otp").unwrap_or_default(),
        attempts: &attempts,
    };
    let answer = state
        .interactions
        .advance(form.get("interaction"), &browser, input)
        .await?;
    // As after a password: this browser is known to the account it signed in to.
    let signed_in = attempts
        .signed_in
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    let jar = match (&answer.started, signed_in) {
        (Some(_), Some(account)) => state.cookies.with_known_account(jar, &account),
        _ => jar,
    };
    Ok(flow::render(&state, jar, csrf, answer))
}

/// The login form's counters, for codes: per account (or account known to this browser, whose
/// owner an attacker elsewhere cannot lock out) and source address.
struct Attempts<'a> {
    state: &'a AppState,
    ip: Option<IpAddr>,
    /// The account this browser signed in to before (its cookie).
    known_account: Option<String>,
    /// The account whose code was right.
    signed_in: Mutex<Option<String>>,
}

impl Attempts<'_> {
    fn credential<'a>(&'a self, account: &'a str) -> Credential<'a> {
        if self.known_account.as_deref() == Some(account) {
            Credential::KnownAccount(account)
        } else {
            Credential::Account(account)
        }
    }
}

#[async_trait::async_trait]
impl CodeAttempts for Attempts<'_> {
    async fn retry_after(&self, account: &str) -> Option<Duration> {
        let wait = self
            .state
            .limiter
            .retry_after(self.credential(account), self.ip)
            .await;
        if wait.is_some() {
            self.state.metrics.rate_limited(RateLimited::Login);
        }
        wait
    }

    async fn failed(&self, account: &str) {
        self.state.metrics.authentication_failed(AuthFailure::User);
        self.state
            .limiter
            .failed(self.credential(account), self.ip)
            .await;
    }

    async fn succeeded(&self, account: &str) {
        self.state
            .limiter
            .succeeded(self.credential(account), self.ip)
            .await;
        *self
            .signed_in
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(account.to_owned());
    }
}
