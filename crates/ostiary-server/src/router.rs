//! Every route of the public listener, and the layers every request passes through.

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::header::{HeaderName, STRICT_TRANSPORT_SECURITY};
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ostiary_core::registration::RegistrationMode;
use ostiary_core::{ErrorCode, OAuthError};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::cookies;
use crate::error::ApiError;
use crate::handlers::{
    authorize, consent, device, device_authorization, discovery, fallback, health, introspect,
    jwks, login, logout, par, register, revoke, second_factor, token, userinfo,
};
use crate::metrics;
use crate::pages;
use crate::state::AppState;

/// Where the login and consent forms post; not advertised (they are pages, not endpoints).
pub const LOGIN_PATH: &str = "/login";
/// Where the second-factor page posts its code (`otp`).
pub const SECOND_FACTOR_PATH: &str = "/login/otp";
pub const CONSENT_PATH: &str = "/consent";
/// The device verification page (RFC 8628 3.3), advertised only as `verification_uri`.
pub const DEVICE_PATH: &str = ostiary_core::device::VERIFICATION_PATH;
pub const STYLESHEET_PATH: &str = "/assets/ostiary.css";
pub const FAVICON_PATH: &str = "/assets/favicon.svg";
/// The request id header, set on every request and response (`SetRequestIdLayer`).
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn build(state: AppState) -> Router {
    // What a browser app calls directly: CORS applies here and nowhere else.
    let mut browser_api = Router::new()
        .route(discovery::TOKEN_PATH, post(token::token))
        .route(discovery::PAR_PATH, post(par::par))
        .route(
            discovery::DEVICE_AUTHORIZATION_PATH,
            post(device_authorization::device_authorization),
        )
        .route(discovery::REVOCATION_PATH, post(revoke::revoke))
        .route(
            discovery::USERINFO_PATH,
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route(discovery::JWKS_PATH, get(jwks::jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::metadata_document),
        )
        .route(
            "/.well-known/openid-configuration",
            get(discovery::metadata_document),
        );
    if state.config.registration != RegistrationMode::Off {
        browser_api = browser_api
            .route(discovery::REGISTRATION_PATH, post(register::register))
            .route(
                discovery::CLIENT_CONFIGURATION_PATH,
                get(register::read)
                    .put(register::update)
                    .delete(register::delete),
            );
    }
    // The 405 fallback goes in before the CORS layer, which must also wrap it: a preflight
    // (OPTIONS, which no route takes) reaches the fallback and is answered by the layer.
    let browser_api = browser_api
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(state.cors.clone().layer());
    let hsts = state.config.is_production().then(|| {
        SetResponseHeaderLayer::if_not_present(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        )
    });
    let config = state.config.clone();
    let routes = Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route(discovery::INTROSPECTION_PATH, post(introspect::introspect))
        .route(
            discovery::AUTHORIZATION_PATH,
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(LOGIN_PATH, get(login::login_get).post(login::login_post))
        .route(
            SECOND_FACTOR_PATH,
            get(second_factor::second_factor_get).post(second_factor::second_factor),
        )
        .route(CONSENT_PATH, post(consent::consent))
        .route(
            DEVICE_PATH,
            get(device::device_get).post(device::device_post),
        )
        .route(
            discovery::END_SESSION_PATH,
            get(logout::logout_get).post(logout::logout_post),
        )
        .route(STYLESHEET_PATH, get(pages::stylesheet))
        .route(FAVICON_PATH, get(pages::favicon))
        // Before the merge: it sets the routes registered so far, not the browser API's.
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .merge(browser_api)
        .fallback(fallback::not_found);
    // Per route: it labels requests with the route they matched.
    let routes = if state.config.metrics_bind.is_some() {
        routes.layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
    } else {
        routes
    }
    .with_state(state.clone());
    let pages = ServiceBuilder::new()
        .layer(axum::middleware::from_fn(pages::html_security_headers))
        .layer(axum::middleware::from_fn_with_state(state, cookies::rekey))
        .service(routes);
    common_layers(
        Router::new().fallback_service(pages),
        config.http_request_timeout,
        config.http_body_limit_bytes,
    )
    .layer(tower::util::option_layer(hsts))
}

/// The layers every listener's requests pass through (the public one, the admin one, the
/// BFF's): a request id (the client's only when `plain_request_id` keeps it), a log span
/// (the path only), a panic answered as 500, a deadline for the whole request
/// (`request_timeout`; 503 past it), and `body_limit` bytes for bodies read by extractors.
///
/// They wrap the router once, not each of its routes as `Router::layer` does: a route clones
/// the whole stack it holds for every request it serves, and with each layer a route of its
/// own, a request paid for a clone of every layer below each one it passed.
pub fn common_layers(
    router: Router,
    request_timeout: std::time::Duration,
    body_limit: usize,
) -> Router {
    let layered = ServiceBuilder::new()
        .map_request(plain_request_id)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(CatchPanicLayer::custom(panicked))
        .layer(HandleErrorLayer::new(timed_out))
        .timeout(request_timeout)
        .layer(DefaultBodyLimit::max(body_limit))
        .service(router);
    Router::new().fallback_service(layered)
}

/// The longest request id kept from a client, in bytes.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Keeps the `X-Request-Id` a client (or a proxy in front) sent only when it is one plain
/// token: at most [`MAX_REQUEST_ID_LEN`] bytes of letters, digits and `-_.:+/=` (UUIDs,
/// base64 and the ids of the common proxies). Any other (or more than one) is dropped and a
/// fresh id made in its place: the id is written into every log line of the request and
/// echoed in the response, where crafted text could pass for a line of its own, an audit
/// event's included (CWE-117).
fn plain_request_id<B>(mut request: Request<B>) -> Request<B> {
    let mut ids = request.headers().get_all(&X_REQUEST_ID).iter();
    let plain = match (ids.next(), ids.next()) {
        (None, _) => true,
        (Some(id), None) => {
            let id = id.as_bytes();
            !id.is_empty()
                && id.len() <= MAX_REQUEST_ID_LEN
                && id
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(b))
        }
        (Some(_), Some(_)) => false,
    };
    if !plain {
        request.headers_mut().remove(&X_REQUEST_ID);
    }
    request
}

/// Logs the path only: query strings can carry codes and tokens, which never reach logs.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    )
}

/// A handler that outlives `OAUTH2_HTTP_REQUEST_TIMEOUT_SECS` (the only error the stack
/// produces) answers 503 with an RFC-shaped body. A client's slow body never gets here: it
/// gets its 408 first (`OAUTH2_HTTP_BODY_TIMEOUT_SECS` is shorter, see config).
async fn timed_out(_: tower::BoxError) -> ApiError {
    tracing::warn!("request timed out");
    ApiError::with_status(
        OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "the request took too long",
        ),
        StatusCode::SERVICE_UNAVAILABLE,
    )
}

/// A bug must never take the connection down or leak its message: 500 `server_error`.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::from(OAuthError::server_error()).into_response()
}
