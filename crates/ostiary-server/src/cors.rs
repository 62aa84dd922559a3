//! CORS for the endpoints a browser app calls (token, revocation, userinfo, discovery, JWKS),
//! never for authorize or the login pages. Off until there is an origin to allow: those in
//! `OAUTH2_CORS_ORIGINS` and the web origins of public clients' redirect URIs. No cookies
//! cross origins (credentials are not allowed).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use ostiary_core::Store;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::extract::dpop::{DPOP, DPOP_NONCE};

#[derive(Debug, Default)]
pub struct CorsOrigins {
    configured: Vec<String>,
    public_clients: RwLock<HashSet<String>>,
}

impl CorsOrigins {
    pub fn new(configured: Vec<String>) -> Self {
        Self {
            configured,
            public_clients: RwLock::default(),
        }
    }

    pub fn allows(&self, origin: &str) -> bool {
        self.configured.iter().any(|o| o == origin)
            || self
                .public_clients
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(origin)
    }

    /// Re-reads the public clients' web origins (http and https redirect URIs).
    pub async fn refresh(&self, store: &dyn Store) -> Result<(), ostiary_core::StoreError> {
        let clients = store.list_clients().await?;
        let origins: HashSet<String> = clients
            .iter()
            .filter(|c| c.is_public())
            .flat_map(|c| c.redirect_uris.iter())
            .filter_map(|uri| url::Url::parse(uri.as_str()).ok())
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .map(|url| url.origin().ascii_serialization())
            .collect();
        *self
            .public_clients
            .write()
            .unwrap_or_else(|e| e.into_inner()) = origins;
        Ok(())
    }

    pub fn layer(self: Arc<Self>) -> CorsLayer {
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
                origin.to_str().is_ok_and(|o| self.allows(o))
            }))
            // PUT and DELETE: a client managing its registration (RFC 7592).
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static(DPOP),
            ])
            // A browser client must read the server nonce to retry with it (RFC 9449 8).
            .expose_headers([
                header::WWW_AUTHENTICATE,
                HeaderName::from_static(DPOP_NONCE),
            ])
            .max_age(Duration::from_secs(600))
    }
}
