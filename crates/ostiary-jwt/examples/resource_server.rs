//! A resource server accepting Ostiary's access tokens with `ostiary-jwt` (features `remote`
//! and `axum`).
//!
//! Start Ostiary, register a client for this API, and call it:
//!
//! ```sh
//! cargo run --release -- serve &
//! cargo run --release -- client create --name demo --grant-type client_credentials \
//!     --scope orders:read --audience https://api.example.com
//! cargo run -p ostiary-jwt --features axum --example resource_server &
//! TOKEN=$(curl -s -u ID:SECRET -d grant_type=client_credentials http://127.0.0.1:8080/token | jq -r .access_token)
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/orders
//! curl http://127.0.0.1:3000/.well-known/oauth-protected-resource
//! ```
//!
//! Settings: `OSTIARY_ISSUER` (default `http://127.0.0.1:8080`), `API_AUDIENCE` (default
//! `https://api.example.com`; also the API's RFC 9728 resource identifier, so an `https` or
//! `http` URL in normal form without query or fragment), `API_BIND` (default
//! `127.0.0.1:3000`), and `API_PUBLIC_ORIGIN` (e.g. `http://127.0.0.1:3000`, or
//! `https://api.example.com` behind a proxy): when set, the API also accepts DPoP-bound tokens
//! (RFC 9449) as `Authorization: DPoP <token>` with a `DPoP: <proof>` header whose `htu` is
//! that origin plus the path; when unset, Bearer only.
//!
//! Discovery (RFC 9728): `GET /.well-known/oauth-protected-resource` (followed by the
//! audience's own path, if it has one) serves the API's protected resource metadata as JSON:
//! `resource` is the audience, `authorization_servers` the issuer it trusts,
//! `scopes_supported` `["orders:read"]`, `bearer_methods_supported` `["header"]`, plus the
//! DPoP members when `API_PUBLIC_ORIGIN` is set. Every 401 names its URL, e.g.
//! `WWW-Authenticate: Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"`,
//! so a client that knows only the API's URL finds the authorization server to ask.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use ostiary_jwt::bearer::{BearerClaims, BearerError};
use ostiary_jwt::protected_resource::ProtectedResourceMetadata;
use ostiary_jwt::remote::{DpopConfig, RemoteValidator};
use ostiary_jwt::{KeySet, Profile, Validator};
use serde_json::{Value, json};

async fn orders(token: BearerClaims) -> Result<Json<Value>, BearerError> {
    token.require_scope("orders:read")?;
    Ok(Json(json!({
        "orders": [],
        "for_client": token.0.str("client_id"),
        "subject": token.0.sub,
        // The thumbprint of the key the client proved it holds; null for a Bearer token.
        "dpop_jkt": token.dpop_jkt(),
    })))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = std::env::var("OSTIARY_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let audience =
        std::env::var("API_AUDIENCE").unwrap_or_else(|_| "https://api.example.com".into());
    let bind = std::env::var("API_BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());

    // The three decisions RFC 8725 leaves to the caller: which kind of token, whose, for whom.
    let rules = Validator::new(
        Profile::AccessToken,
        issuer.clone(),
        audience.clone(),
        KeySet::default(),
    );
    // RFC 9728: the resource identifier is the audience clients ask tokens for (RFC 8707).
    let mut metadata = ProtectedResourceMetadata::new(&audience)?
        .with_authorization_server(&issuer)?
        .with_scopes_supported(["orders:read"])?;
    let jwks_url = format!("{}/jwks.json", issuer.trim_end_matches('/'));
    let mut validator = RemoteValidator::new(&jwks_url, rules).await?;
    // The origin clients use, never the Host header: each proof's `htu` is checked against it.
    if let Ok(origin) = std::env::var("API_PUBLIC_ORIGIN") {
        let dpop = DpopConfig::new(&origin)?;
        metadata = metadata.with_dpop(&dpop);
        validator = validator.with_dpop(dpop);
    }
    let validator = Arc::new(validator.with_resource_metadata(&metadata));

    let app = Router::new()
        .route("/orders", get(orders))
        .merge(metadata.router())
        .with_state(validator);
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    eprintln!(
        "resource server on http://{bind}, trusting {issuer}; metadata at {}",
        metadata.location().url()
    );
    axum::serve(listener, app).await?;
    Ok(())
}
