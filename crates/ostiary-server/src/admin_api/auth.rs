//! Every admin call passes here: its bearer token is verified and its scope checked against
//! the method (reads need `ostiary:admin:read` or `ostiary:admin`, changes `ostiary:admin`),
//! and the call is recorded in the audit trail with its answer, refused or not.

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ostiary_core::admin::Actor;
use ostiary_core::audit::{AuditEvent, AuditEventType};
use ostiary_core::token::{ADMIN_READ_SCOPE, ADMIN_SCOPE, AdminAccess, AdminCaller};
use ostiary_core::{ErrorCode, OAuthError};

use crate::error::ApiError;
use crate::extract::authorization::bearer_token;
use crate::extract::source_ip::SourceIp;
use crate::state::AppState;

/// The acting client, for handlers: `Extension<Caller>`.
#[derive(Debug, Clone)]
pub struct Caller(pub AdminCaller);

/// Authenticates, authorizes and audits one admin call.
pub async fn authorize(
    State(state): State<AppState>,
    source: SourceIp,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(no such route)", MatchedPath::as_str);
    let call = format!("{} {route}", request.method());
    let needs = if matches!(*request.method(), Method::GET | Method::HEAD) {
        AdminAccess::Read
    } else {
        AdminAccess::Full
    };
    // The refused call's client, when its token was valid but short of the scope.
    let caller = match bearer_token(request.headers()) {
        None => Err((
            None,
            ApiError::no_token("the admin API needs a Bearer access token"),
        )),
        Some(token) => match state.tokens.admin_caller(token).await {
            Ok(caller) if caller.access >= needs => Ok(caller),
            Ok(caller) => Err((
                Some(caller.client_id),
                ApiError::from(OAuthError::new(
                    ErrorCode::InsufficientScope,
                    if needs == AdminAccess::Full {
                        format!("{call} needs the {ADMIN_SCOPE} scope")
                    } else {
                        format!("{call} needs the {ADMIN_READ_SCOPE} or {ADMIN_SCOPE} scope")
                    },
                )),
            )),
            Err(e) => Err((None, ApiError::from(e))),
        },
    };
    let (client, response) = match caller {
        Ok(caller) => {
            let client = Some(caller.client_id.clone());
            request.extensions_mut().insert(Caller(caller));
            (client, next.run(request).await)
        }
        Err((client, refused)) => (client, refused.into_response()),
    };
    let status = response.status();
    let actor = client.clone().map_or_else(
        || "anonymous".to_owned(),
        |id| Actor::Client(id).audit_name(),
    );
    let mut event = AuditEvent::new(
        state.clock.now_seconds(),
        AuditEventType::AdminRequest,
        actor,
    )
    .subject(call)
    .source_ip(source.to_text());
    if let Some(id) = &client {
        event = event.client(id.as_str());
    }
    if !status.is_success() {
        event = event.failed(status.as_u16().to_string());
    }
    state.audit.record(event).await;
    response
}
