//! `AppState`: everything a handler may use, built explicitly at startup (no globals). Tests
//! build it through the same function as `serve`.

use std::sync::Arc;

use anyhow::Context;
use axum::extract::FromRef;
use axum_extra::extract::cookie::Key;
use ostiary_core::admin::Admin;
use ostiary_core::audit::AuditSink;
use ostiary_core::authorize::Authorizer;
use ostiary_core::client::{MAX_ACCESS_TOKEN_LIFETIME, UriPolicy};
use ostiary_core::client_cache::UNANNOUNCED_MAX_AGE;
use ostiary_core::device::DeviceAuthorizations;
use ostiary_core::dpop::DpopVerifier;
use ostiary_core::interaction::{Credentials, Interactions};
use ostiary_core::keys::{KeyManager, KeyRing};
use ostiary_core::login::UserAuthenticator;
use ostiary_core::logout::Logout;
use ostiary_core::metadata_document::{DocumentPolicy, MetadataDocuments};
use ostiary_core::mfa::SecondFactors;
use ostiary_core::password::PasswordHasher;
use ostiary_core::registration::{RegistrationPolicy, Registrations};
use ostiary_core::session::{SessionSettings, Sessions};
use ostiary_core::token::{TokenService, TokenSettings};
use ostiary_core::{Clock, KeyStore, Store};
use ostiary_jwt::{Algorithm, SigningKey, derive_subkey};
use secrecy::{ExposeSecret, SecretBox};
use serde_json::Value;

use crate::audit::AuditLog;
use crate::config::{Config, Secrets};
use crate::cookies::CookiePolicy;
use crate::cors::CorsOrigins;
use crate::handlers::discovery;
use crate::metrics::Metrics;
use crate::quota::ClientQuota;
use crate::rate_limit::FailureLimiter;

/// How long client records are kept in memory by default (`client_cache_secs`) where the
/// database announces client changes to every instance; where it does not, at most
/// `UNANNOUNCED_MAX_AGE`.
const ANNOUNCED_CLIENT_CACHE: std::time::Duration = std::time::Duration::from_secs(30);

/// The algorithms a client may choose for its ID tokens.
pub const ID_TOKEN_ALGS: [Algorithm; 3] = [Algorithm::Rs256, Algorithm::Es256, Algorithm::EdDsa];

/// A retired key stays published while any token it signed may still be presented.
const PUBLISH_WINDOW: time::Duration =
    MAX_ACCESS_TOKEN_LIFETIME.saturating_add(time::Duration::minutes(5));

/// Cloned for every request (axum's `State`), so it is one shared pointer: one reference
/// count, not one per service.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services and settings of [`AppState`].
#[derive(Debug)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub secrets: Arc<Secrets>,
    pub tokens: Arc<TokenService>,
    /// Checks the DPoP proofs of token, userinfo and PAR requests (RFC 9449).
    pub dpop: Arc<DpopVerifier>,
    /// Where those endpoints are, as advertised.
    pub urls: Arc<discovery::EndpointUrls>,
    /// The authorization server metadata, built once from the configuration.
    pub metadata: Arc<Value>,
    pub metrics: Arc<Metrics>,
    pub audit: AuditLog,
    /// The browser's walks through sign-in and consent.
    pub interactions: Arc<Interactions>,
    /// Users' second factors (TOTP keys sealed under the root secret).
    pub factors: Arc<SecondFactors>,
    /// The device authorization endpoint's service (RFC 8628).
    pub devices: Arc<DeviceAuthorizations>,
    pub sessions: Arc<Sessions>,
    pub logout: Arc<Logout>,
    /// Encrypts and authenticates the browser's cookies (from `OAUTH2_SESSION_KEY`).
    pub cookie_key: Key,
    /// `OAUTH2_SESSION_KEY_PREVIOUS`: cookies sealed under it are re-sealed under `cookie_key`.
    pub previous_cookie_key: Option<Key>,
    pub cookies: CookiePolicy,
    pub limiter: Arc<FailureLimiter>,
    pub password_checks: PasswordChecks,
    pub cors: Arc<CorsOrigins>,
    pub quota: Option<Arc<ClientQuota>>,
    /// Dynamic client registration and its management (RFC 7591, RFC 7592).
    pub registrations: Arc<Registrations>,
}

impl FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Self {
        state.cookie_key.clone()
    }
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
        reseal_keys(&keys).await;
        let audit = if config.audit {
            AuditLog::start(store.clone(), &config.audit_journal_dir()).await?
        } else {
            AuditLog::disabled()
        };
        let sink: Arc<dyn AuditSink> = Arc::new(audit.clone());
        let urls = discovery::EndpointUrls::new(&config);
        let registration_policy = RegistrationPolicy {
            mode: config.registration,
            scopes: config.registration_scopes.clone(),
            audiences: config.registration_audiences.clone(),
            uri_policy: UriPolicy {
                allow_insecure_http: !config.is_production(),
            },
            endpoint: urls.registration.clone(),
        };
        let token_settings = TokenSettings {
            issuer: config.issuer.clone(),
            access_token_alg: config.access_token_alg,
            access_token_lifetime: duration(config.access_token_lifetime)?,
            // Where changes are announced, a cached client is dropped when it changes.
            client_cache_ttl: config.client_cache.unwrap_or(if store.announces_changes() {
                ANNOUNCED_CLIENT_CACHE
            } else {
                UNANNOUNCED_MAX_AGE
            }),
            refresh_token_lifetime: duration(config.refresh_token_lifetime)?,
            refresh_grace: duration(config.refresh_grace)?,
            client_assertion_audiences: discovery::client_assertion_audiences(&config),
            require_mfa: config.require_mfa,
        };
        let document_policy = DocumentPolicy {
            hosts: config.client_metadata_hosts.clone(),
            loopback_http: !config.is_production(),
        };
        let tokens = Arc::new(if document_policy.is_enabled() {
            // Metadata document clients are checked as registrations are, under the same
            // operator policy (scopes, audiences, redirect URI rules).
            let documents = MetadataDocuments::new(
                document_policy,
                registration_policy.clone(),
                Admin::new(store.clone(), sink.clone(), clock.clone()),
                store.clone(),
                clock.clone(),
            )
            .context("the HTTP client for client metadata documents")?;
            TokenService::with_metadata_documents(
                store.clone(),
                keys.clone(),
                clock.clone(),
                token_settings,
                Arc::new(documents),
            )
        } else {
            TokenService::new(store.clone(), keys.clone(), clock.clone(), token_settings)
        });
        let dpop_nonce_key = if config.dpop_nonce {
            let key = derive_subkey(
                secrets.jwt_secret.expose_secret().as_bytes(),
                b"ostiary dpop nonce",
            )?;
            Some(SecretBox::new(Box::new(key)))
        } else {
            None
        };
        let dpop = Arc::new(DpopVerifier::new(
            store.clone(),
            clock.clone(),
            dpop_nonce_key,
        ));
        let authorizer = Arc::new(
            Authorizer::new(
                store.clone(),
                tokens.clients(),
                tokens.client_keys(),
                clock.clone(),
                keys.clone(),
                config.issuer.clone(),
            )
            .requiring_pushed_requests(config.require_par)
            .requiring_second_factors(config.require_mfa),
        );
        let sessions = Arc::new(Sessions::new(
            store.clone(),
            clock.clone(),
            SessionSettings {
                idle: duration(config.session_idle)?,
                absolute: duration(config.session_lifetime)?,
            },
        ));
        let authenticator = Arc::new(
            UserAuthenticator::new(PasswordHasher::new(config.argon2)?)
                .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?,
        );
        let devices = Arc::new(DeviceAuthorizations::new(
            store.clone(),
            tokens.clients(),
            clock.clone(),
            &config.issuer,
        ));
        let factors = Arc::new(second_factors(
            &secrets,
            store.clone(),
            clock.clone(),
            &config.issuer,
        )?);
        let interactions = Arc::new(Interactions::new(
            store.clone(),
            authorizer,
            devices.clone(),
            sessions.clone(),
            Credentials {
                passwords: authenticator,
                second_factors: factors.clone(),
            },
            sink.clone(),
            clock.clone(),
        ));
        let logout = Arc::new(Logout::new(
            sessions.clone(),
            tokens.clients(),
            keys,
            config.issuer.clone(),
            sink.clone(),
            clock.clone(),
        ));
        let registrations = Arc::new(Registrations::new(
            Admin::new(store.clone(), sink, clock.clone()),
            store.clone(),
            clock.clone(),
            registration_policy,
        ));
        Ok(Self(Arc::new(Services {
            limiter: Arc::new(FailureLimiter::shared_through(
                config.rate_limits,
                store.clone(),
            )),
            password_checks: PasswordChecks::new(),
            cors: {
                let cors = CorsOrigins::new(config.cors_origins.clone());
                cors.refresh(&*store).await?;
                Arc::new(cors)
            },
            quota: config
                .client_quota_per_sec
                .map(|n| Arc::new(ClientQuota::new(n))),
            interactions,
            factors,
            devices,
            sessions,
            logout,
            cookie_key: Key::from(secrets.session_key.expose_secret()),
            previous_cookie_key: secrets
                .session_key_previous
                .as_ref()
                .map(|key| Key::from(key.expose_secret())),
            cookies: CookiePolicy {
                secure: config.secure_cookies(),
            },
            metadata: Arc::new(discovery::metadata(&config)),
            urls: Arc::new(urls),
            registrations,
            metrics: Arc::new(Metrics::new()?),
            audit,
            store,
            clock,
            config: Arc::new(config),
            secrets: Arc::new(secrets),
            tokens,
            dpop,
        })))
    }
}

/// Bounds the Argon2 verifications in flight: each holds its memory cost (19 MiB by default)
/// and a core, so an unbounded queue of logins would exhaust the machine.
#[derive(Debug, Clone)]
pub struct PasswordChecks(Arc<tokio::sync::Semaphore>);

impl PasswordChecks {
    /// How long a login waits for a slot before it is told to come back.
    const WAIT: std::time::Duration = std::time::Duration::from_secs(2);

    fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self(Arc::new(tokio::sync::Semaphore::new(cores * 2)))
    }

    /// A slot, or `None` when none frees up in time.
    pub async fn acquire(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        tokio::time::timeout(Self::WAIT, self.0.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }
}

fn duration(d: std::time::Duration) -> anyhow::Result<time::Duration> {
    time::Duration::try_from(d).context("a configured duration is out of range")
}

pub fn key_manager(
    secrets: &Secrets,
    store: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<KeyManager> {
    let previous = secrets
        .jwt_secret_previous
        .iter()
        .map(|secret| secret.expose_secret().as_bytes());
    Ok(KeyManager::new(
        store,
        secrets.jwt_secret.expose_secret().as_bytes(),
        clock,
        PUBLISH_WINDOW,
    )?
    .with_previous_secrets(previous)?)
}

/// The second-factor service: TOTP keys sealed under `OAUTH2_JWT_SECRET`, opened under it or
/// a previous one, labelled in apps with the issuer's host.
pub fn second_factors(
    secrets: &Secrets,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    issuer: &str,
) -> anyhow::Result<SecondFactors> {
    let previous = secrets
        .jwt_secret_previous
        .iter()
        .map(|secret| secret.expose_secret().as_bytes());
    Ok(SecondFactors::new(
        store,
        clock,
        secrets.jwt_secret.expose_secret().as_bytes(),
        previous,
        issuer,
    )?)
}

/// Seals under the current `OAUTH2_JWT_SECRET` every key still sealed under a previous one,
/// and erases the private parts of retired keys past publication; at start and once a minute,
/// so keys another instance made under the old secret during a rolling change move too.
pub async fn reseal_keys(keys: &KeyRing) {
    let manager = keys.manager();
    let changing = manager.has_previous_secrets()
        || manager.list().await.is_ok_and(|keys| {
            keys.iter()
                .any(|k| !k.previous_sealed_private_key.is_empty())
        });
    if !changing {
        // No change of secret in progress: no private key is opened for nothing.
        match manager.erase_unpublished().await {
            Ok(0) => {}
            Ok(erased) => tracing::info!(erased, "private parts of retired keys erased"),
            Err(e) => {
                tracing::warn!(error = %crate::telemetry::error_chain(&e), "erasing retired private keys failed")
            }
        }
        return;
    }
    match manager.reseal().await {
        Ok(done) => {
            if !done.resealed.is_empty() {
                tracing::info!(kids = ?done.resealed, "signing keys re-sealed under the current OAUTH2_JWT_SECRET");
            }
            if !done.finished.is_empty() {
                tracing::info!(kids = ?done.finished, "signing keys no longer kept under a previous OAUTH2_JWT_SECRET");
            }
            if !done.unopenable.is_empty() {
                tracing::warn!(kids = ?done.unopenable, "signing keys that no configured OAUTH2_JWT_SECRET opens");
            }
            if done.erased > 0 {
                tracing::info!(erased = done.erased, "private parts of retired keys erased");
            }
        }
        Err(e) => {
            tracing::warn!(error = %crate::telemetry::error_chain(&e), "re-sealing signing keys failed")
        }
    }
}

async fn load_key_ring(
    config: &Config,
    secrets: &Secrets,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<KeyRing> {
    let manager = key_manager(secrets, store, clock)?;
    let alg = config.access_token_alg;
    let hs256 = if alg == Algorithm::Hs256 {
        let key = derive_subkey(
            secrets.jwt_secret.expose_secret().as_bytes(),
            b"ostiary hs256 access tokens",
        )?;
        let kid = format!("hs256-{}", &hex::encode(derive_subkey(&key, b"kid")?)[..16]);
        Some(SigningKey::hs256(kid, &key))
    } else {
        None
    };
    // Every asymmetric algorithm has a key: each client picks its ID token algorithm among
    // them. The access token's algorithm comes first.
    let mut required: Vec<Algorithm> = Vec::new();
    for a in std::iter::once(alg).chain(ID_TOKEN_ALGS) {
        if a != Algorithm::Hs256 && !required.contains(&a) {
            required.push(a);
        }
    }
    Ok(KeyRing::load(manager, config.issuer.clone(), required, hs256).await?)
}
