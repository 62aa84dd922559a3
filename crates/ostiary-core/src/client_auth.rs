//! Client authentication at the token, introspection and revocation endpoints.
//!
//! Unknown client, wrong secret and wrong method all give the same `invalid_client` after the
//! same digest comparison, so the answer never tells which and the secret check leaks no
//! timing. Whether a client id exists may still show in timing (a cached record answers
//! faster than a database miss); client ids are not secrets (RFC 6749 2.2).

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::client::{Client, ClientId, TokenEndpointAuthMethod};
use crate::client_cache::ClientCache;
use crate::error::{ErrorCode, OAuthError};
use crate::secret::SecretHash;

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
    /// A public client naming itself.
    None { client_id: String },
}

impl ClientCredentials {
    /// The client id presented (not yet authenticated).
    pub fn client_id(&self) -> &str {
        self.parts().0
    }

    fn parts(&self) -> (&str, Option<&SecretString>, TokenEndpointAuthMethod) {
        match self {
            Self::SecretBasic { client_id, secret } => (
                client_id,
                Some(secret),
                TokenEndpointAuthMethod::ClientSecretBasic,
            ),
            Self::SecretPost { client_id, secret } => (
                client_id,
                Some(secret),
                TokenEndpointAuthMethod::ClientSecretPost,
            ),
            Self::None { client_id } => (client_id, None, TokenEndpointAuthMethod::None),
        }
    }
}

pub fn invalid_client() -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, "client authentication failed")
}

pub async fn authenticate(
    clients: &ClientCache,
    credentials: &ClientCredentials,
) -> Result<Arc<Client>, OAuthError> {
    let (id, presented, method) = credentials.parts();
    let client = match ClientId::parse(id) {
        Ok(id) => clients.find(&id).await?,
        Err(_) => None,
    };
    let presented = presented.map(|s| s.expose_secret());
    let Some(client) = client else {
        // Same digest work as for a known client.
        let _ = SecretHash::of("").verify(presented.unwrap_or_default());
        return Err(invalid_client());
    };
    let authenticated = match (&client.secret_hash, presented) {
        (Some(hash), Some(secret)) => hash.verify(secret) & (client.auth_method == method),
        (None, None) => client.is_public() && method == TokenEndpointAuthMethod::None,
        _ => false,
    };
    if authenticated {
        Ok(client)
    } else {
        Err(invalid_client())
    }
}
