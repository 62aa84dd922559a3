//! Client authentication at the token, introspection and revocation endpoints: a secret
//! (RFC 6749 2.3.1), a signed assertion (`private_key_jwt`, RFC 7523 2.2) or, for a public
//! client, its id alone.
//!
//! Unknown client, wrong secret and wrong method all give the same `invalid_client`; a secret
//! is always compared in constant time, an unknown client's against a dummy hash, so the
//! answer never tells which and the secret check leaks no timing. Whether a client id exists may still show in timing (a cached record answers
//! faster than a database miss); client ids are not secrets (RFC 6749 2.2).

mod assertion;

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

pub use assertion::{CLIENT_ASSERTION_TYPE, MAX_ASSERTION_LIFETIME_SECS};

use crate::Clock;
use crate::client::{Client, ClientId, ClientKeys, TokenEndpointAuthMethod};
use crate::client_cache::ClientCache;
use crate::error::{ErrorCode, OAuthError};
use crate::secret::SecretHash;
use crate::store::ReplayStore;

/// What a request presented, as extracted at the HTTP edge (exactly one method).
#[derive(Debug)]
pub enum ClientCredentials {
    SecretBasic {
        client_id: String,
        secret: SecretString,
    },
    SecretPost {
        client_id: String,
        secret: SecretString,
    },
    /// RFC 7523 2.2: a JWT signed with one of the client's registered keys. `client_id` is
    /// the assertion's `sub`, read before the signature is checked, only to find the keys.
    PrivateKeyJwt {
        client_id: String,
        assertion: SecretString,
    },
    /// A public client naming itself.
    None { client_id: String },
}

impl ClientCredentials {
    /// RFC 7521 4.2 and RFC 7523 2.2: `client_assertion_type` must be
    /// [`CLIENT_ASSERTION_TYPE`]; the client is the assertion's `sub`, and a `client_id`
    /// parameter, when sent, must name the same client.
    ///
    /// Errors: `invalid_client` for another assertion type, an assertion that is not a JWT
    /// with a string `sub`, or a `client_id` naming another client.
    pub fn assertion(
        assertion_type: Option<&str>,
        assertion: &str,
        client_id: Option<&str>,
    ) -> Result<Self, OAuthError> {
        if assertion_type != Some(CLIENT_ASSERTION_TYPE) {
            return Err(invalid_client());
        }
        let subject = assertion::unverified_subject(assertion).ok_or_else(invalid_client)?;
        if client_id.is_some_and(|id| id != subject) {
            return Err(invalid_client());
        }
        Ok(Self::PrivateKeyJwt {
            client_id: subject,
            assertion: SecretString::from(assertion.to_owned()),
        })
    }

    /// The client id presented (not yet authenticated).
    pub fn client_id(&self) -> &str {
        match self {
            Self::SecretBasic { client_id, .. }
            | Self::SecretPost { client_id, .. }
            | Self::PrivateKeyJwt { client_id, .. }
            | Self::None { client_id } => client_id,
        }
    }

    fn method(&self) -> TokenEndpointAuthMethod {
        match self {
            Self::SecretBasic { .. } => TokenEndpointAuthMethod::ClientSecretBasic,
            Self::SecretPost { .. } => TokenEndpointAuthMethod::ClientSecretPost,
            Self::PrivateKeyJwt { .. } => TokenEndpointAuthMethod::PrivateKeyJwt,
            Self::None { .. } => TokenEndpointAuthMethod::None,
        }
    }

    fn secret(&self) -> Option<&str> {
        match self {
            Self::SecretBasic { secret, .. } | Self::SecretPost { secret, .. } => {
                Some(secret.expose_secret())
            }
            Self::PrivateKeyJwt { .. } | Self::None { .. } => None,
        }
    }
}

pub fn invalid_client() -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, "client authentication failed")
}

/// Authenticates clients: secrets against their hashes, assertions against the client's
/// registered keys (with their `jti` used once across every instance), public clients by
/// their registration alone.
#[derive(Debug)]
pub struct ClientAuthenticator {
    clients: Arc<ClientCache>,
    clock: Arc<dyn Clock>,
    assertions: assertion::AssertionChecker,
}

impl ClientAuthenticator {
    /// `audiences`: what an assertion's `aud` may name (RFC 7523 3: the issuer, the token
    /// endpoint URL, or the URL of the endpoint it is sent to); `keys`: the clients'
    /// registered keys.
    pub fn new(
        clients: Arc<ClientCache>,
        keys: Arc<ClientKeys>,
        replays: Arc<dyn ReplayStore>,
        clock: Arc<dyn Clock>,
        audiences: Vec<String>,
    ) -> Self {
        Self {
            clients,
            clock: clock.clone(),
            assertions: assertion::AssertionChecker::new(keys, replays, clock, audiences),
        }
    }

    /// Whether `presented` is the digest of the client's replaced secret, within its overlap.
    /// Compared in constant time whether or not there is one, like the current secret.
    fn previous_secret_matches(&self, client: &Client, presented: &SecretHash) -> bool {
        match &client.previous_secret {
            Some(previous) => {
                previous.hash.matches(presented) & (self.clock.now_seconds() < previous.expires_at)
            }
            None => {
                let _ = SecretHash::STAND_IN.matches(presented);
                false
            }
        }
    }

    /// The client the credentials prove, or `invalid_client`; a store failure is
    /// `server_error`.
    pub async fn authenticate(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<Arc<Client>, OAuthError> {
        let method = credentials.method();
        let presented = credentials.secret();
        let client = match ClientId::parse_any(credentials.client_id()) {
            Ok(id) => self.clients.find(&id).await?,
            Err(_) => None,
        };
        let Some(client) = client else {
            // Same digest work as for a known client.
            let _ = SecretHash::STAND_IN.matches(&SecretHash::of(presented.unwrap_or_default()));
            return Err(invalid_client());
        };
        let authenticated = match credentials {
            ClientCredentials::PrivateKeyJwt { assertion, .. } => {
                client.auth_method == method
                    && self
                        .assertions
                        .verify(&client, assertion.expose_secret())
                        .await?
            }
            _ => match (&client.secret_hash, presented) {
                (Some(hash), Some(secret)) => {
                    let presented = SecretHash::of(secret);
                    (hash.matches(&presented) | self.previous_secret_matches(&client, &presented))
                        & (client.auth_method == method)
                }
                (None, None) => client.is_public() && method == TokenEndpointAuthMethod::None,
                _ => false,
            },
        };
        if authenticated {
            Ok(client)
        } else {
            Err(invalid_client())
        }
    }
}
