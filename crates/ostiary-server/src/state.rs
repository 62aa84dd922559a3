//! `AppState`: everything a handler may use, built explicitly at startup (no globals). Tests
//! build it through the same function as `serve`.

use std::sync::Arc;

use anyhow::Context;
use ostiary_core::client::MAX_ACCESS_TOKEN_LIFETIME;
use ostiary_core::keys::{KeyManager, KeyRing};
use ostiary_core::token::{TokenService, TokenSettings};
use ostiary_core::{Clock, KeyStore, Store};
use ostiary_jwt::{Algorithm, SigningKey, derive_subkey};
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::audit::AuditLog;
use crate::config::{Config, Secrets};
use crate::handlers::discovery;
use crate::metrics::Metrics;

/// A retired key stays published while any token it signed may still be presented.
const PUBLISH_WINDOW: time::Duration =
    MAX_ACCESS_TOKEN_LIFETIME.saturating_add(time::Duration::minutes(5));

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub secrets: Arc<Secrets>,
    pub tokens: Arc<TokenService>,
    /// The authorization server metadata, built once from the configuration.
    pub metadata: Arc<Value>,
    pub metrics: Arc<Metrics>,
    pub audit: AuditLog,
}

impl AppState {
    /// Loads (creating where missing) the signing keys and wires the services together.
    pub async fn build(
        config: Config,
        secrets: Secrets,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let keys = Arc::new(load_key_ring(&config, &secrets, store.clone(), clock.clone()).await?);
        let tokens = Arc::new(TokenService::new(
            store.clone(),
            keys,
            clock.clone(),
            TokenSettings {
                issuer: config.issuer.clone(),
                access_token_alg: config.access_token_alg,
                access_token_lifetime: time::Duration::try_from(config.access_token_lifetime)
                    .context("access token lifetime")?,
                client_cache_ttl: config.client_cache,
            },
        ));
        Ok(Self {
            metadata: Arc::new(discovery::metadata(&config)),
            metrics: Arc::new(Metrics::new()?),
            audit: AuditLog::start(store.clone()),
            store,
            clock,
            config: Arc::new(config),
            secrets: Arc::new(secrets),
            tokens,
        })
    }
}

pub fn key_manager(
    secrets: &Secrets,
    store: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<KeyManager> {
    Ok(KeyManager::new(
        store,
        secrets.jwt_secret.expose_secret().as_bytes(),
        clock,
        PUBLISH_WINDOW,
    )?)
}

async fn load_key_ring(
    config: &Config,
    secrets: &Secrets,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<KeyRing> {
    let manager = key_manager(secrets, store, clock)?;
    let alg = config.access_token_alg;
    let (required, hs256) = if alg == Algorithm::Hs256 {
        let key = derive_subkey(
            secrets.jwt_secret.expose_secret().as_bytes(),
            b"ostiary hs256 access tokens",
        )?;
        let kid = format!("hs256-{}", &hex::encode(derive_subkey(&key, b"kid")?)[..16]);
        (Vec::new(), Some(SigningKey::hs256(kid, &key)))
    } else {
        (vec![alg], None)
    };
    Ok(KeyRing::load(manager, config.issuer.clone(), required, hs256).await?)
}
