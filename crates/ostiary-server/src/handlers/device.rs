//! `GET/POST /device`: the verification page of the device authorization grant (RFC 8628
//! 3.3). The user types the code the device shows; a code naming a pending authorization
//! continues as an interaction (sign-in if needed, then the consent page). Wrong codes are
//! counted per source and locked out like wrong passwords (RFC 8628 5.1).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::PrivateCookieJar;
use ostiary_core::device::UserCode;
use ostiary_core::interaction::Browser;

use crate::extract::form::FormPairs;
use crate::extract::source_ip::SourceIp;
use crate::metrics::{AuthFailure, RateLimited};
use crate::pages::{self, DevicePage, PageError, flow};
use crate::rate_limit::Credential;
use crate::state::AppState;

/// The form, pre-filled with the `user_code` of `verification_uri_complete` when it is shaped
/// like one. Nothing is looked up before the user confirms with a post.
pub async fn device_get(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    RawQuery(query): RawQuery,
) -> Response {
    let query = FormPairs::decode(&query.unwrap_or_default());
    let user_code = shown(query.get("user_code").unwrap_or_default());
    let (jar, csrf) = state.cookies.csrf_token(jar);
    let page = pages::page(
        StatusCode::OK,
        &DevicePage {
            user_code: &user_code,
            error: None,
            csrf: &csrf,
        },
    );
    (jar, page).into_response()
}

pub async fn device_post(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    source: SourceIp,
    form: FormPairs,
) -> Result<Response, PageError> {
    let csrf = super::posted_csrf(&state, &jar, &form)?;
    if let Some(wait) = state
        .limiter
        .retry_after(Credential::UserCode, source.0)
        .await
    {
        state.metrics.rate_limited(RateLimited::UserCode);
        return Err(PageError::TooManyCodes(wait));
    }
    let typed = form.get("user_code").unwrap_or_default();
    let session = state.cookies.session_token(&jar);
    let source_ip = source.to_text();
    let browser = Browser {
        binding: csrf,
        session_token: session.as_deref(),
        source_ip: source_ip.as_deref(),
    };
    match state.interactions.begin_device(typed, &browser).await? {
        Some(answer) => {
            state
                .limiter
                .succeeded(Credential::UserCode, source.0)
                .await;
            Ok(flow::render(&state, jar, csrf, answer))
        }
        None => {
            state.metrics.authentication_failed(AuthFailure::UserCode);
            state.limiter.failed(Credential::UserCode, source.0).await;
            let page = pages::page(
                StatusCode::BAD_REQUEST,
                &DevicePage {
                    user_code: &shown(typed),
                    error: Some(
                        "That code is not valid, or it has expired. Check the code on your \
                         device and try again.",
                    ),
                    csrf,
                },
            );
            Ok((jar, page).into_response())
        }
    }
}

/// A code as the form shows it again: `XXXX-XXXX` when it is shaped like one, else nothing
/// (arbitrary text is never reflected).
fn shown(typed: &str) -> String {
    UserCode::parse(typed)
        .map(|code| code.display())
        .unwrap_or_default()
}
