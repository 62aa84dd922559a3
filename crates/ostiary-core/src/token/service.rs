//! The token service: issues access tokens, introspects and revokes them.

use std::sync::Arc;

use ostiary_jwt::{Algorithm, Claims, MAX_LEEWAY_SECS, ValidationError};
use serde::Serialize;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use super::access_token::{AccessTokenClaims, Audiences, new_jti};
use super::introspection::Introspection;
use super::request::{resolve_audience, resolve_scope};
use crate::Clock;
use crate::client::{Client, ClientId, GrantType};
use crate::client_auth::{self, ClientCredentials};
use crate::client_cache::ClientCache;
use crate::error::{ErrorCode, OAuthError};
use crate::keys::KeyRing;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// Byte-exact `iss` of every token.
    pub issuer: String,
    pub access_token_alg: Algorithm,
    /// For clients without a lifetime of their own.
    pub access_token_lifetime: Duration,
    /// How long a client record may be served from memory (zero: never).
    pub client_cache_ttl: std::time::Duration,
}

/// RFC 6749 5.1.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

#[derive(Debug)]
pub struct TokenService {
    store: Arc<dyn Store>,
    clients: ClientCache,
    keys: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    settings: TokenSettings,
}

fn unavailable(e: StoreError) -> OAuthError {
    tracing::error!(error = %crate::error_chain(&e), "store failed");
    OAuthError::new(ErrorCode::TemporarilyUnavailable, "try again later")
}

impl TokenService {
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        settings: TokenSettings,
    ) -> Self {
        Self {
            clients: ClientCache::new(store.clone(), settings.client_cache_ttl),
            store,
            keys,
            clock,
            settings,
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    pub async fn authenticate(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<Arc<Client>, OAuthError> {
        client_auth::authenticate(&self.clients, credentials).await
    }

    /// RFC 6749 4.4: a token for the client itself.
    pub fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&str>,
        resources: &[String],
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows_grant(GrantType::ClientCredentials) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this client may not use the client_credentials grant",
            ));
        }
        let scopes = resolve_scope(scope, &client.scopes)?;
        let audiences = resolve_audience(resources, client)?;
        let scope = (!scopes.is_empty()).then(|| {
            scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        });
        self.issue_access_token(client, client.id.as_str(), &audiences, scope)
    }

    fn issue_access_token(
        &self,
        client: &Client,
        subject: &str,
        audiences: &[String],
        scope: Option<String>,
    ) -> Result<TokenResponse, OAuthError> {
        let lifetime = client
            .access_token_lifetime
            .unwrap_or(self.settings.access_token_lifetime);
        let now = self.clock.now().unix_timestamp();
        let claims = AccessTokenClaims {
            iss: &self.settings.issuer,
            sub: subject,
            aud: Audiences(audiences),
            exp: now + lifetime.whole_seconds(),
            iat: now,
            nbf: now,
            jti: new_jti(),
            client_id: client.id.as_str(),
            scope,
        };
        let snapshot = self.keys.current();
        let key = snapshot
            .signing_key(self.settings.access_token_alg)
            .ok_or_else(|| {
                tracing::error!(alg = %self.settings.access_token_alg, "no active signing key");
                OAuthError::server_error()
            })?;
        let access_token = ostiary_jwt::encode(key, "at+jwt", &claims).map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            OAuthError::server_error()
        })?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: lifetime.whole_seconds(),
            scope: claims.scope,
        })
    }

    fn validate(&self, token: &str) -> Result<Claims, ValidationError> {
        let now = self.clock.now().unix_timestamp();
        self.keys
            .current()
            .introspection_validator()
            .validate(token, now)
    }

    /// RFC 7662, for confidential clients. The caller learns about a token only if it was
    /// issued to it, names it (its client id) as audience, or is for an audience the caller is
    /// registered to introspect (a resource server). A token whose client is gone is inactive.
    pub async fn introspect(
        &self,
        caller: &Client,
        token: &str,
    ) -> Result<Introspection, OAuthError> {
        if caller.is_public() {
            // A public client proves nothing about itself.
            return Err(client_auth::invalid_client());
        }
        let Ok(claims) = self.validate(token) else {
            return Ok(Introspection::inactive());
        };
        let Some(client_id) = claims
            .str("client_id")
            .and_then(|id| ClientId::parse(id).ok())
        else {
            return Ok(Introspection::inactive());
        };
        let issued_to_caller = client_id == caller.id;
        let meant_for_caller = claims.aud.iter().any(|aud| {
            aud == caller.id.as_str()
                || caller
                    .introspect_audiences
                    .iter()
                    .any(|a| a.as_str() == aud)
        });
        if !(issued_to_caller || meant_for_caller) {
            return Ok(Introspection::inactive());
        }
        if self
            .clients
            .find(&client_id)
            .await
            .map_err(unavailable)?
            .is_none()
        {
            return Ok(Introspection::inactive());
        }
        if let Some(jti) = &claims.jti
            && self
                .store
                .is_access_token_revoked(jti)
                .await
                .map_err(unavailable)?
        {
            return Ok(Introspection::inactive());
        }
        Ok(Introspection {
            active: true,
            scope: claims.str("scope").map(str::to_owned),
            client_id: claims.str("client_id").map(str::to_owned),
            token_type: Some("Bearer"),
            aud: claims.all.get("aud").cloned().map(|a| match a {
                Value::Array(ref items) if items.len() == 1 => items[0].clone(),
                other => other,
            }),
            sub: claims.sub,
            iss: Some(claims.iss),
            exp: claims.exp,
            iat: claims.iat,
            nbf: claims.nbf,
            jti: claims.jti,
        })
    }

    /// RFC 7009. Invalid, expired and unknown tokens need no revoking: success (`None`). A
    /// valid token issued to another client is refused and stays valid. The `jti` of a
    /// revoked token.
    pub async fn revoke(&self, caller: &Client, token: &str) -> Result<Option<String>, OAuthError> {
        let Ok(claims) = self.validate(token) else {
            return Ok(None);
        };
        if claims.str("client_id") != Some(caller.id.as_str()) {
            return Err(OAuthError::new(
                ErrorCode::InvalidGrant,
                "the token was issued to another client",
            ));
        }
        let (Some(jti), Some(exp)) = (claims.jti, claims.exp) else {
            return Ok(None);
        };
        // Kept past `exp` by the largest leeway any validator may apply, so the record never
        // disappears while the token could still be accepted.
        let keep_until = exp.saturating_add(MAX_LEEWAY_SECS);
        let expires_at = OffsetDateTime::from_unix_timestamp(keep_until)
            .map_err(|_| OAuthError::server_error())?;
        self.store
            .revoke_access_token(&jti, &caller.id, expires_at)
            .await
            .map_err(unavailable)?;
        Ok(Some(jti))
    }
}
