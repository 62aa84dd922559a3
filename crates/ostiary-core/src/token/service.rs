//! The token service: its settings and wiring, client authentication, introspection and
//! revocation. The grants it runs are in `grants/`, access tokens are signed in
//! `access_token.rs`.

use std::sync::Arc;

use ostiary_jwt::{Algorithm, Claims, MAX_LEEWAY_SECS, ValidationError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use super::introspection::Introspection;
use super::issued::IssuedToken;
use crate::Clock;
use crate::client::{Client, ClientId, ClientKeys};
use crate::client_auth::{self, ClientAuthenticator, ClientCredentials};
use crate::client_cache::ClientCache;
use crate::error::{ErrorCode, OAuthError};
use crate::grant::{RefreshFamily, RevocationReason};
use crate::keys::KeyRing;
use crate::metadata_document::MetadataDocuments;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// Byte-exact `iss` of every token.
    pub issuer: String,
    pub access_token_alg: Algorithm,
    /// For clients without a lifetime of their own.
    pub access_token_lifetime: Duration,
    /// How long a client record may be served from memory (zero: never).
    pub client_cache_ttl: std::time::Duration,
    /// Each refresh token's lifetime from its issue (rotation issues a fresh one).
    pub refresh_token_lifetime: Duration,
    /// How long after a rotation the same client retrying with the old refresh token gets
    /// the same answer instead of a family revocation.
    pub refresh_grace: Duration,
    /// What a client assertion's `aud` may name (RFC 7523 3): the issuer and the URLs of the
    /// endpoints that authenticate clients.
    pub client_assertion_audiences: Vec<String>,
    /// `OAUTH2_REQUIRE_MFA`: a grant whose login gave no second factor is not refreshed for
    /// any client (per client: `require_mfa`).
    pub require_mfa: bool,
}

impl TokenSettings {
    /// The audience of access tokens the userinfo endpoint accepts.
    pub fn userinfo_audience(&self) -> String {
        userinfo_audience(&self.issuer)
    }
}

/// Where the userinfo endpoint is served; its URL is the audience of tokens meant for it.
pub const USERINFO_PATH: &str = "/userinfo";

/// The userinfo endpoint's URL under `issuer`: the audience of access tokens meant for it.
pub fn userinfo_audience(issuer: &str) -> String {
    format!("{}{USERINFO_PATH}", issuer.trim_end_matches('/'))
}

/// RFC 6749 5.1, with OpenID Connect's `id_token`.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 2.2.1: what a token exchange issued (`access_token` is in the
    /// `access_token` member whatever its type); absent for the other grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
}

#[derive(Debug)]
pub struct TokenService {
    pub(super) store: Arc<dyn Store>,
    pub(super) clients: Arc<ClientCache>,
    client_keys: Arc<ClientKeys>,
    authenticator: ClientAuthenticator,
    pub(super) keys: Arc<KeyRing>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: TokenSettings,
}

impl TokenService {
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        settings: TokenSettings,
    ) -> Self {
        let clients = ClientCache::new(store.clone(), settings.client_cache_ttl);
        Self::with_clients(clients, store, keys, clock, settings)
    }

    /// A service whose clients include those of client ID metadata documents (URL ids).
    pub fn with_metadata_documents(
        store: Arc<dyn Store>,
        keys: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        settings: TokenSettings,
        documents: Arc<MetadataDocuments>,
    ) -> Self {
        let clients = ClientCache::new(store.clone(), settings.client_cache_ttl)
            .with_metadata_documents(documents);
        Self::with_clients(clients, store, keys, clock, settings)
    }

    fn with_clients(
        clients: ClientCache,
        store: Arc<dyn Store>,
        keys: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        settings: TokenSettings,
    ) -> Self {
        let clients = Arc::new(clients);
        let client_keys = Arc::new(ClientKeys::default());
        let authenticator = ClientAuthenticator::new(
            clients.clone(),
            client_keys.clone(),
            store.clone(),
            clock.clone(),
            settings.client_assertion_audiences.clone(),
        );
        Self {
            clients,
            client_keys,
            authenticator,
            store,
            keys,
            clock,
            settings,
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The client cache, shared with the authorization endpoint.
    pub fn clients(&self) -> Arc<ClientCache> {
        self.clients.clone()
    }

    /// The clients' registered keys as validators, shared with the authorization endpoint
    /// (request objects).
    pub fn client_keys(&self) -> Arc<ClientKeys> {
        self.client_keys.clone()
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// The client `credentials` prove (see [`ClientAuthenticator::authenticate`]).
    pub async fn authenticate(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<Arc<Client>, OAuthError> {
        self.authenticator.authenticate(credentials).await
    }

    pub(super) fn validate(&self, token: &str) -> Result<Claims, ValidationError> {
        let now = self.clock.now().unix_timestamp();
        self.keys.current().validate_access_token(token, now)
    }

    /// RFC 7662, for confidential clients. An access token is described to the client it
    /// was issued to, to a client it names (its client id) as audience, or to a client
    /// registered to introspect one of its audiences (a resource server); a refresh token
    /// only to the client it was issued to. Anything else, and a token whose client is gone,
    /// is inactive.
    pub async fn introspect(
        &self,
        caller: &Client,
        token: &str,
    ) -> Result<Introspection, OAuthError> {
        if caller.is_public() {
            // A public client proves nothing about itself.
            return Err(client_auth::invalid_client());
        }
        match self.find_issued(token).await? {
            None => Ok(Introspection::inactive()),
            Some(IssuedToken::Access(claims)) => self.introspect_access(caller, claims).await,
            Some(IssuedToken::Refresh(family)) => Ok(self.introspect_refresh(caller, &family)),
        }
    }

    async fn introspect_access(
        &self,
        caller: &Client,
        claims: Claims,
    ) -> Result<Introspection, OAuthError> {
        let Some(client_id) = claims
            .str("client_id")
            .and_then(|id| ClientId::parse_any(id).ok())
        else {
            return Ok(Introspection::inactive());
        };
        if client_id != caller.id && !meant_for(caller, &claims.aud) {
            return Ok(Introspection::inactive());
        }
        if self.clients.find(&client_id).await?.is_none() {
            return Ok(Introspection::inactive());
        }
        if self.is_revoked(&claims).await? {
            return Ok(Introspection::inactive());
        }
        Ok(Introspection {
            active: true,
            scope: claims.str("scope").map(str::to_owned),
            client_id: claims.str("client_id").map(str::to_owned),
            // RFC 9449 6.2: a bound token is a DPoP token, and says which key it is bound to.
            token_type: Some(if claims.all.contains_key("cnf") {
                "DPoP"
            } else {
                "Bearer"
            }),
            cnf: claims.all.get("cnf").cloned(),
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

    /// A refresh token is active for its own client while it is the family's newest (not
    /// rotated), unexpired, its grant unrevoked and its user enabled.
    fn introspect_refresh(&self, caller: &Client, family: &RefreshFamily) -> Introspection {
        let RefreshFamily {
            token: stored,
            grant,
            user_disabled,
        } = family;
        let now = self.clock.now_seconds();
        let live = grant.client_id == caller.id
            && stored.rotated_at.is_none()
            && grant.revoked_at.is_none()
            && !user_disabled
            && now < stored.token.expires_at;
        if !live {
            return Introspection::inactive();
        }
        Introspection {
            active: true,
            scope: scope_string(&grant.scopes),
            client_id: Some(grant.client_id.to_string()),
            token_type: Some(REFRESH_TOKEN_TYPE),
            sub: Some(grant.user_id.to_string()),
            iss: Some(self.settings.issuer.clone()),
            exp: Some(stored.token.expires_at.unix_timestamp()),
            iat: Some(stored.token.issued_at.unix_timestamp()),
            ..Introspection::inactive()
        }
    }

    /// Whether a verified access token was revoked: by its `jti`, or by the cut-off of
    /// `tokens revoke-all` (compared with its `iat`), in one database read.
    pub(super) async fn is_revoked(&self, claims: &Claims) -> Result<bool, OAuthError> {
        let jti = claims.jti.as_deref().unwrap_or_default();
        self.store
            .is_access_token_revoked(jti, claims.iat.unwrap_or(0))
            .await
            .map_err(OAuthError::from)
    }

    /// RFC 7009. Invalid, expired and unknown tokens need no revoking: success (`None`). A
    /// valid token issued to another client is refused and stays valid. A refresh token
    /// takes its whole grant with it, access tokens included. The revoked token's `jti`, or
    /// its grant's id, for the audit trail.
    pub async fn revoke(&self, caller: &Client, token: &str) -> Result<Option<String>, OAuthError> {
        let other_client = || {
            OAuthError::new(
                ErrorCode::InvalidGrant,
                "the token was issued to another client",
            )
        };
        let claims = match self.find_issued(token).await? {
            None => return Ok(None),
            Some(IssuedToken::Refresh(family)) => {
                let grant = &family.grant;
                if grant.client_id != caller.id {
                    return Err(other_client());
                }
                self.store
                    .revoke_grant(
                        &grant.grant_id,
                        self.clock.now_seconds(),
                        RevocationReason::ClientRequest,
                    )
                    .await?;
                return Ok(Some(grant.grant_id.clone()));
            }
            Some(IssuedToken::Access(claims)) => claims,
        };
        if claims.str("client_id") != Some(caller.id.as_str()) {
            return Err(other_client());
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
            .await?;
        Ok(Some(jti))
    }
}

/// Whether a token with these audiences is meant for `caller`: it names the client's id, or an
/// audience the client introspects (a resource server's).
pub(super) fn meant_for(caller: &Client, audiences: &[String]) -> bool {
    audiences.iter().any(|aud| {
        aud == caller.id.as_str()
            || caller
                .introspect_audiences
                .iter()
                .any(|a| a.as_str() == aud)
    })
}

/// The `token_type` introspection gives a refresh token: the name RFC 7009 2.1 uses for its
/// `token_type_hint`, never `Bearer` (it cannot be presented to a resource).
const REFRESH_TOKEN_TYPE: &str = "refresh_token";

/// Scopes as the space-separated `scope` value (RFC 6749 3.3); `None` when there are none.
pub(super) fn scope_string(scopes: &[crate::client::Scope]) -> Option<String> {
    (!scopes.is_empty()).then(|| {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    })
}
