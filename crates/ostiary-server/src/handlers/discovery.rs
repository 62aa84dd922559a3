//! `/.well-known/oauth-authorization-server` (RFC 8414) and `/.well-known/openid-configuration`:
//! the same metadata, listing only what this server implements.

use axum::Json;
use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::config::Config;
use crate::state::AppState;

/// Endpoint paths, relative to the issuer.
pub const TOKEN_PATH: &str = "/token";
pub const INTROSPECTION_PATH: &str = "/introspect";
pub const REVOCATION_PATH: &str = "/revoke";
pub const JWKS_PATH: &str = "/jwks.json";

pub fn metadata(config: &Config) -> Value {
    let base = config.issuer.trim_end_matches('/');
    let endpoint = |path: &str| format!("{base}{path}");
    let secret_methods = ["client_secret_basic", "client_secret_post"];
    json!({
        "issuer": config.issuer,
        "token_endpoint": endpoint(TOKEN_PATH),
        "jwks_uri": endpoint(JWKS_PATH),
        "introspection_endpoint": endpoint(INTROSPECTION_PATH),
        "revocation_endpoint": endpoint(REVOCATION_PATH),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": secret_methods,
        "introspection_endpoint_auth_methods_supported": secret_methods,
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "access_token_signing_alg_values_supported": [config.access_token_alg.as_str()],
    })
}

pub async fn metadata_document(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CACHE_CONTROL, "public, max-age=3600")],
        Json(state.metadata.as_ref().clone()),
    )
}
