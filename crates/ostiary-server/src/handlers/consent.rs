//! `POST /consent`: the user's decision on the consent page (`decision=approve|deny`).

use axum::extract::State;
use axum::response::Response;
use axum_extra::extract::PrivateCookieJar;
use ostiary_core::interaction::{Browser, Decision, Input};

use crate::extract::form::FormPairs;
use crate::extract::source_ip::SourceIp;
use crate::pages::{PageError, flow};
use crate::state::AppState;

pub async fn consent(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    source: SourceIp,
    form: FormPairs,
) -> Result<Response, PageError> {
    let csrf = super::posted_csrf(&state, &jar, &form)?;
    let decision = match form.get("decision") {
        Some("approve") => Decision::Approve,
        Some("deny") => Decision::Deny,
        _ => return Err(PageError::BadRequest("Choose Allow or Deny.")),
    };
    let session = state.cookies.session_token(&jar);
    let source_ip = source.to_text();
    let browser = Browser {
        binding: csrf,
        session_token: session.as_deref(),
        source_ip: source_ip.as_deref(),
    };
    let answer = state
        .interactions
        .advance(form.get("interaction"), &browser, Input::Decision(decision))
        .await?;
    Ok(flow::render(&state, jar, csrf, answer))
}
