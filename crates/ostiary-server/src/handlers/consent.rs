//! `POST /consent`: the user's decision on the consent page (`decision=approve|deny`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::PrivateCookieJar;
use ostiary_core::audit::{AuditEvent, AuditEventType};

use super::authorize::{authorize_error, current_session, show};
use super::login::csrf_failure;
use crate::extract::form::FormPairs;
use crate::extract::source_ip::SourceIp;
use crate::pages;
use crate::state::AppState;

pub async fn consent(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    source: SourceIp,
    form: FormPairs,
) -> Response {
    let field = |name: &str| form.get(name);
    if !state.cookies.csrf_matches(&jar, field("csrf")) {
        return csrf_failure();
    }
    let FormPairs(params) = FormPairs::decode(field("request").unwrap_or_default());
    let request = match state.authorizer.parse(params).await {
        Ok(request) => request,
        Err(error) => return authorize_error(&state, &error),
    };
    let session = current_session(&state, &jar).await;
    let Some(session) = session else {
        // The session ended while the page was open: log in again.
        let next = state.authorizer.decide(&request, None, false).await;
        return show(&state, jar, &request, None, next).await;
    };
    let next = match field("decision") {
        Some("approve") => {
            let next = state.authorizer.approve(&request, &session).await;
            if next.is_ok() {
                let event = AuditEvent::new(
                    state.clock.now_seconds(),
                    AuditEventType::ConsentGranted,
                    format!("user:{}", session.user_id),
                )
                .client(request.client.id.as_str())
                .subject(session.user_id.to_string())
                .source_ip(source.to_text());
                state.audit.record(event).await;
            }
            next
        }
        Some("deny") => Ok(state.authorizer.deny(&request)),
        _ => {
            return (
                jar,
                pages::error_page(StatusCode::BAD_REQUEST, "Choose Allow or Deny."),
            )
                .into_response();
        }
    };
    show(&state, jar, &request, Some(&session), next).await
}
