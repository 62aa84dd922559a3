//! The admin HTTP API (`OAUTH2_ADMIN_BIND`, off by default): the Admin service's operations
//! as JSON on a listener of its own, for machine clients holding admin access tokens, with
//! its OpenAPI 3.1 document at `/openapi.json`.
//!
//! Callers authenticate with `client_credentials` access tokens issued by this server for
//! the audience `{issuer}/admin` with the scope `ostiary:admin` (everything) or
//! `ostiary:admin:read` (reads), checked in `auth.rs`. Every call is audited (`admin.request`), and
//! each change also records its own event with the client as actor.

mod audit;
mod auth;
mod clients;
mod error;
mod extract;
mod keys;
mod mfa;
mod tokens;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;
use ostiary_core::admin::Admin;
use ostiary_core::audit::{AuditEventType, AuditSink};
use ostiary_core::client::{ClientId, UriPolicy};
use ostiary_core::password::PasswordHasher;
use serde::Serialize;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{AdminApiError, Problem};
use extract::Json;

use crate::state::{AppState, key_manager};

/// Where the OpenAPI document is served (without authentication: it describes, it grants
/// nothing).
pub const OPENAPI_PATH: &str = "/openapi.json";

/// What the admin handlers work with: the server's state and an Admin able to hash
/// passwords and rotate keys.
#[derive(Debug, Clone)]
pub struct AdminApi {
    state: AppState,
    admin: Arc<Admin>,
}

impl AdminApi {
    /// Redirect URIs are checked against the environment's policy, as the CLI checks them.
    fn uri_policy(&self) -> UriPolicy {
        UriPolicy {
            allow_insecure_http: !self.state.config.is_production(),
        }
    }

    /// This instance signs with the keys now in the database at once (the others re-read
    /// them within `OAUTH2_KEY_REFRESH_SECS`).
    async fn reload_keys(&self) {
        if let Err(e) = self.state.tokens.keys().refresh().await {
            tracing::warn!(error = %ostiary_core::error_chain(&e), "re-reading the signing keys failed");
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ostiary admin API",
        description = "Clients, users, signing keys, the audit trail and incident response. \
            Authenticate with a client_credentials access token for the audience \
            {issuer}/admin with the scope ostiary:admin (or ostiary:admin:read for reads)."
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "clients", description = "OAuth clients"),
        (name = "users", description = "User accounts, their sessions and consents"),
        (name = "keys", description = "Signing keys"),
        (name = "audit", description = "The audit trail"),
        (name = "tokens", description = "Incident response"),
    )
)]
struct ApiDoc;

/// Declares the `bearer` scheme the operations name.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Lists the audit event types `GET /v1/audit?event=` accepts, from the core's own list
/// (applied once the routes are in the document).
struct AuditEventTypes;

impl utoipa::Modify for AuditEventTypes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let Some(operation) = openapi
            .paths
            .paths
            .get_mut("/v1/audit")
            .and_then(|item| item.get.as_mut())
        else {
            return;
        };
        for parameter in operation.parameters.iter_mut().flatten() {
            if parameter.name == "event" {
                let names = AuditEventType::ALL.map(AuditEventType::as_str);
                parameter.schema = Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(names))
                        .into(),
                );
            }
        }
    }
}

/// The routes and the OpenAPI document describing them, from one list.
fn api() -> (Router<AdminApi>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(clients::list, clients::create))
        .routes(routes!(clients::show, clients::update, clients::delete))
        .routes(routes!(clients::rotate_secret))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::show))
        .routes(routes!(users::disable))
        .routes(routes!(users::enable))
        .routes(routes!(users::set_password))
        .routes(routes!(users::sessions))
        .routes(routes!(users::consents))
        .routes(routes!(users::revoke_consent))
        .routes(routes!(mfa::show, mfa::reset))
        .routes(routes!(mfa::enroll_totp))
        .routes(routes!(keys::list, keys::rotate))
        .routes(routes!(keys::revoke))
        .routes(routes!(audit::list))
        .routes(routes!(tokens::revoke_all))
        .split_for_parts();
    utoipa::Modify::modify(&AuditEventTypes, &mut openapi);
    (router, openapi)
}

/// The OpenAPI 3.1 document of the admin API, as JSON.
pub fn openapi_json() -> anyhow::Result<String> {
    Ok(api().1.to_pretty_json()?)
}

/// The admin listener's router over the server's `state`.
///
/// Errors: the root secret cannot open the key manager, or the OpenAPI document does not
/// render (a bug).
pub fn router(state: AppState) -> anyhow::Result<Router> {
    let sink: Arc<dyn AuditSink> = Arc::new(state.audit.clone());
    let admin = Admin::new(state.store.clone(), sink, state.clock.clone())
        .with_hasher(PasswordHasher::new(state.config.argon2)?)
        .with_factors(state.factors.clone())
        .with_keys(key_manager(
            &state.secrets,
            state.store.clone(),
            state.clock.clone(),
        )?);
    let (routes, openapi) = api();
    let document = openapi.to_pretty_json()?;
    let api = AdminApi {
        state: state.clone(),
        admin: Arc::new(admin),
    };
    let authenticated = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .with_state(api);
    let router = Router::new()
        .route(
            OPENAPI_PATH,
            get(move || async move { ([(CONTENT_TYPE, "application/json")], document) }),
        )
        .merge(authenticated);
    // Answers carry client secrets and user records: no cache keeps any of them.
    let router = router.layer(SetResponseHeaderLayer::if_not_present(
        CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ));
    Ok(crate::router::common_layers(
        router,
        state.config.http_request_timeout,
        state.config.http_body_limit_bytes,
    ))
}

/// Renders a view borrowed from the records it shows.
fn render(view: &impl Serialize) -> Result<Json<serde_json::Value>, AdminApiError> {
    serde_json::to_value(view).map(Json).map_err(|e| {
        tracing::error!(error = %e, "rendering an admin answer failed");
        AdminApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the answer could not be rendered",
        )
    })
}

/// A page's size: 100 unless asked, 1 to 1000.
fn page_limit(asked: Option<u32>) -> Result<u32, AdminApiError> {
    const DEFAULT: u32 = 100;
    const MAX: u32 = 1000;
    let limit = asked.unwrap_or(DEFAULT);
    if !(1..=MAX).contains(&limit) {
        return Err(AdminApiError::invalid(format!("limit must be 1 to {MAX}")));
    }
    Ok(limit)
}

/// The client a path names; an id that cannot exist is not found (404), like one that does
/// not.
fn client_id_of(text: &str) -> Result<ClientId, AdminApiError> {
    ClientId::parse_any(text).map_err(|e| AdminApiError::not_found(e.to_string()))
}

async fn not_found() -> impl IntoResponse {
    AdminApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> impl IntoResponse {
    AdminApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "the endpoint does not take this method",
    )
}
