//! `/.well-known/oauth-authorization-server` (RFC 8414) and `/.well-known/openid-configuration`:
//! the same metadata, listing only what this server implements.

use axum::Json;
use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use ostiary_core::authorize::Prompt;
use ostiary_core::client::{GrantType, TokenEndpointAuthMethod};
use ostiary_core::dpop::DPOP_SIGNING_ALGS;
use ostiary_core::registration::RegistrationMode;
use ostiary_core::token::INTROSPECTION_SIGNING_ALG;
use ostiary_jwt::Algorithm;
use serde_json::{Value, json};

use crate::config::Config;
use crate::state::{AppState, ID_TOKEN_ALGS};

/// Endpoint paths, relative to the issuer.
pub const TOKEN_PATH: &str = "/token";
pub const INTROSPECTION_PATH: &str = "/introspect";
pub const REVOCATION_PATH: &str = "/revoke";
pub const JWKS_PATH: &str = "/jwks.json";
pub const AUTHORIZATION_PATH: &str = "/authorize";
pub const USERINFO_PATH: &str = ostiary_core::token::USERINFO_PATH;
pub const END_SESSION_PATH: &str = "/logout";
pub const PAR_PATH: &str = "/par";
pub const DEVICE_AUTHORIZATION_PATH: &str = "/device_authorization";
/// RFC 7591 3; each client's configuration endpoint (RFC 7592) is `/register/<client_id>`.
pub const REGISTRATION_PATH: &str = "/register";
/// RFC 7592 2: a self-registered client's configuration endpoint (route syntax).
pub const CLIENT_CONFIGURATION_PATH: &str = "/register/{client_id}";

/// Endpoint URLs as advertised that handlers need: those checking DPoP proofs (what a
/// proof's `htu` must name, RFC 9449 4.3) and the registration endpoint (under which each
/// client's configuration endpoint is, RFC 7592).
#[derive(Debug, Clone)]
pub struct EndpointUrls {
    pub token: String,
    pub registration: String,
    pub userinfo: String,
    pub par: String,
}

impl EndpointUrls {
    pub fn new(config: &Config) -> Self {
        Self {
            token: endpoint_url(config, TOKEN_PATH),
            registration: endpoint_url(config, REGISTRATION_PATH),
            userinfo: endpoint_url(config, USERINFO_PATH),
            par: endpoint_url(config, PAR_PATH),
        }
    }
}

/// The URL of the endpoint at `path` under the issuer, as discovery advertises it.
fn endpoint_url(config: &Config, path: &str) -> String {
    format!("{}{path}", config.issuer.trim_end_matches('/'))
}

/// What a client assertion's `aud` may name (RFC 7523 3, RFC 9126 2): the issuer, the token
/// endpoint, and the other endpoints that authenticate clients (RFC 8628 3.1 included).
pub fn client_assertion_audiences(config: &Config) -> Vec<String> {
    let mut audiences = vec![config.issuer.clone()];
    for path in [
        TOKEN_PATH,
        INTROSPECTION_PATH,
        REVOCATION_PATH,
        PAR_PATH,
        DEVICE_AUTHORIZATION_PATH,
    ] {
        audiences.push(endpoint_url(config, path));
    }
    audiences
}

/// The scopes OpenID Connect defines and Ostiary serves (clients are registered for them).
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

pub fn metadata(config: &Config) -> Value {
    let endpoint = |path: &str| endpoint_url(config, path);
    let id_token_algs: Vec<&str> = ID_TOKEN_ALGS.iter().map(|a| a.as_str()).collect();
    // From the lists the token and authorization endpoints parse with, so nothing is
    // advertised that is not served.
    let grant_types = GrantType::ALL.map(GrantType::as_str);
    let auth_methods = TokenEndpointAuthMethod::ALL.map(TokenEndpointAuthMethod::as_str);
    // Introspection refuses public clients (RFC 7662 2.1): a client without a secret proves
    // nothing about itself, so `none` is not offered there.
    let introspection_auth_methods: Vec<&str> = TokenEndpointAuthMethod::ALL
        .into_iter()
        .filter(|m| *m != TokenEndpointAuthMethod::None)
        .map(TokenEndpointAuthMethod::as_str)
        .collect();
    // private_key_jwt assertions, request objects and DPoP proofs: the asymmetric algorithms
    // ostiary-jwt checks, by every name a header may give them.
    let assertion_algs = Algorithm::accepted_names(&DPOP_SIGNING_ALGS);
    // What registered clients may ask for is supported too (RFC 8414 2).
    let mut scopes: Vec<&str> = OIDC_SCOPES.to_vec();
    for scope in &config.registration_scopes {
        if !scopes.contains(&scope.as_str()) {
            scopes.push(scope.as_str());
        }
    }
    let mut metadata = json!({
        "issuer": config.issuer,
        "authorization_endpoint": endpoint(AUTHORIZATION_PATH),
        "token_endpoint": endpoint(TOKEN_PATH),
        "userinfo_endpoint": endpoint(USERINFO_PATH),
        "end_session_endpoint": endpoint(END_SESSION_PATH),
        "jwks_uri": endpoint(JWKS_PATH),
        "introspection_endpoint": endpoint(INTROSPECTION_PATH),
        "revocation_endpoint": endpoint(REVOCATION_PATH),
        "pushed_authorization_request_endpoint": endpoint(PAR_PATH),
        "require_pushed_authorization_requests": config.require_par,
        "device_authorization_endpoint": endpoint(DEVICE_AUTHORIZATION_PATH),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grant_types,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": Prompt::VALUES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": id_token_algs,
        "claims_supported": [
            "iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
            "amr", "preferred_username", "email", "email_verified"
        ],
        "token_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": introspection_auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "dpop_signing_alg_values_supported": assertion_algs,
        "introspection_signing_alg_values_supported": [INTROSPECTION_SIGNING_ALG.as_str()],
        "access_token_signing_alg_values_supported": [config.access_token_alg.as_str()],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": true,
        "request_object_signing_alg_values_supported": assertion_algs,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
    });
    if config.registration != RegistrationMode::Off {
        metadata["registration_endpoint"] = json!(endpoint(REGISTRATION_PATH));
    }
    // draft-ietf-oauth-client-id-metadata-document: URL client ids are fetched, from the
    // hosts the operator allows.
    if !config.client_metadata_hosts.is_empty() {
        metadata["client_id_metadata_document_supported"] = json!(true);
    }
    metadata
}

pub async fn metadata_document(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CACHE_CONTROL, "public, max-age=3600")],
        Json(state.metadata.as_ref().clone()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_types_and_auth_methods_come_from_the_enums_in_order() {
        let config = Config::from_sources(None, |_| None).unwrap();
        let doc = metadata(&config);
        assert_eq!(
            doc["grant_types_supported"],
            json!([
                "authorization_code",
                "client_credentials",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code",
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ])
        );
        let all = json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none"
        ]);
        assert_eq!(doc["token_endpoint_auth_methods_supported"], all);
        assert_eq!(doc["revocation_endpoint_auth_methods_supported"], all);
        assert_eq!(
            doc["introspection_endpoint_auth_methods_supported"],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ])
        );
        let asymmetric = json!(["ES256", "RS256", "EdDSA", "Ed25519"]);
        assert_eq!(doc["dpop_signing_alg_values_supported"], asymmetric);
        assert_eq!(
            doc["token_endpoint_auth_signing_alg_values_supported"],
            asymmetric
        );
    }
}
