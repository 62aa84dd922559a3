//! `PageError`: every way a browser page can fail, each with its status and its text, in one
//! place. Protocol errors meant for a client are redirects, never these.

use std::time::Duration;

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ostiary_core::OAuthError;
use ostiary_core::interaction::InteractionError;

use super::error_page;

#[derive(Debug)]
pub enum PageError {
    /// The form is stale or forged (its CSRF field does not match the cookie): 403.
    Csrf,
    /// The account and source are locked out for this long: 429 with `Retry-After`.
    TooManyAttempts(Duration),
    /// The source typed too many wrong user codes: 429 with `Retry-After`.
    TooManyCodes(Duration),
    /// Every Argon2 slot is taken: 503 rather than an unbounded queue of memory-hungry hashes.
    Busy,
    /// The user's own request is unusable: 400 with this text.
    BadRequest(&'static str),
    /// An authorization request that cannot be sent back to a client (RFC 6749 4.1.2.1): 400.
    Invalid(OAuthError),
    /// The interaction is unknown, expired, finished or from another browser: 400.
    Expired,
    /// The store failed while signing in: 503.
    Unavailable,
    /// The store failed while signing out: 503.
    SignOutUnavailable,
}

impl From<InteractionError> for PageError {
    fn from(e: InteractionError) -> Self {
        match e {
            InteractionError::Invalid(error) => Self::Invalid(error),
            InteractionError::Expired => Self::Expired,
            InteractionError::Unavailable => Self::Unavailable,
            InteractionError::TooManyAttempts(wait) => Self::TooManyAttempts(wait),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        // A request that could not be checked because the store failed is not the request's
        // fault: the page says to try again in a moment.
        let this = match self {
            Self::Invalid(e) if e.code() == ostiary_core::ErrorCode::TemporarilyUnavailable => {
                Self::Unavailable
            }
            other => other,
        };
        let (status, text, retry_after) = match &this {
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this site. Go back to the \
                 application and start again."
                    .to_owned(),
                None,
            ),
            Self::TooManyAttempts(wait) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed sign-in attempts. Wait a little and try again.".to_owned(),
                Some(crate::error::retry_after_secs(*wait)),
            ),
            Self::TooManyCodes(wait) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many codes were wrong. Wait a little and try again.".to_owned(),
                Some(crate::error::retry_after_secs(*wait)),
            ),
            Self::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Signing in is busy right now. Try again in a moment.".to_owned(),
                Some(1),
            ),
            Self::BadRequest(text) => (StatusCode::BAD_REQUEST, (*text).to_owned(), None),
            Self::Invalid(error) => (
                StatusCode::BAD_REQUEST,
                format!(
                    "This sign-in request cannot be processed: {}.",
                    error.description()
                ),
                None,
            ),
            Self::Expired => (
                StatusCode::BAD_REQUEST,
                "This sign-in has expired or was already completed. Go back to the application \
                 and start again."
                    .to_owned(),
                None,
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Signing in is not possible right now. Try again later.".to_owned(),
                Some(1),
            ),
            Self::SignOutUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Signing out is not possible right now. Try again later.".to_owned(),
                Some(1),
            ),
        };
        let mut page = error_page(status, &text);
        if let Some(seconds) = retry_after {
            page.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        page
    }
}
