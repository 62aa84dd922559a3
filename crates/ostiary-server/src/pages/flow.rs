//! Renders an interaction's next step: the login, second-factor or consent page (with the browser's CSRF
//! token and the interaction id), the 303 back to the client, or the signed-in or device
//! message; and sets the session cookie when the step started a session.

use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::PrivateCookieJar;
use ostiary_core::interaction::{AfterConsent, Answer, Decision, Step};

use super::{ConsentPage, LoginPage, ScopeLine, SecondFactorPage, message_page, page, qr_svg};
use crate::state::AppState;

/// The response for an interaction's answer. `csrf` is the browser's CSRF token (already in
/// `jar`).
pub fn render(state: &AppState, jar: PrivateCookieJar, csrf: &str, answer: Answer) -> Response {
    let jar = match &answer.started {
        Some(token) => {
            state
                .cookies
                .with_session(jar, token.expose(), state.sessions.settings().absolute)
        }
        None => jar,
    };
    let response = match answer.step {
        Step::Redirect(url) => redirect(&url),
        Step::Login {
            interaction,
            client_name,
            username,
            failed,
        } => page(
            form_status(failed),
            &LoginPage {
                client_name: client_name.as_deref(),
                error: failed.then_some("Incorrect username or password."),
                username: &username,
                csrf,
                interaction: interaction.as_ref().map(|i| i.expose()),
            },
        ),
        Step::SecondFactor {
            interaction,
            client_name,
            enrollment,
            failed,
        } => page(
            form_status(failed),
            &SecondFactorPage {
                client_name: client_name.as_deref(),
                enrollment: enrollment.as_ref(),
                qr_svg: enrollment
                    .as_ref()
                    .and_then(|e| qr_svg(&e.key_uri))
                    .as_deref(),
                failed,
                csrf,
                interaction: interaction.expose(),
            },
        ),
        Step::Consent {
            interaction,
            client_name,
            client_host,
            username,
            scopes,
            after,
        } => page(
            StatusCode::OK,
            &ConsentPage {
                client_name: &client_name,
                client_host: client_host.as_deref(),
                username: &username,
                scopes: scopes.iter().map(|s| ScopeLine::new(s.as_str())).collect(),
                redirect_host: match &after {
                    AfterConsent::Redirect { host } => Some(host),
                    AfterConsent::Device { .. } => None,
                },
                user_code: match &after {
                    AfterConsent::Device { user_code } => Some(user_code),
                    AfterConsent::Redirect { .. } => None,
                },
                csrf,
                interaction: interaction.expose(),
            },
        ),
        Step::SignedIn => message_page("Signed in", "You are signed in. You can close this page."),
        Step::DeviceAnswered(Decision::Approve) => message_page(
            "Device connected",
            "Your device is connected. Go back to it to continue; you can close this page.",
        ),
        Step::DeviceAnswered(Decision::Deny) => message_page(
            "Request denied",
            "The device was not given access. You can close this page.",
        ),
    };
    (jar, response).into_response()
}

/// A form shown again after a wrong password or code is a 401; shown the first time, a 200.
fn form_status(failed: bool) -> StatusCode {
    if failed {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    }
}

/// 303: the browser follows with a GET whatever method brought it here.
pub fn redirect(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(location) => (
            StatusCode::SEE_OTHER,
            [
                (LOCATION, location),
                (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => super::error_page(StatusCode::BAD_REQUEST, "The redirect URI is not usable."),
    }
}
