//! OAuth clients: their identifiers and registered metadata (types only; registering and
//! deleting clients is the Admin service's, in `admin`).

mod audience;
mod auth_method;
mod grant_type;
mod id;
mod jwks;
mod keys;
mod redirect_uri;
mod registration;
mod scope;

pub use audience::Audience;
pub use auth_method::TokenEndpointAuthMethod;
pub use grant_type::GrantType;
pub use id::ClientId;
pub use jwks::ClientJwks;
pub use keys::{ClientKeys, SignedByClient};
pub use redirect_uri::{RedirectUri, UriPolicy};
pub use registration::{ClientRegistration, MAX_ACCESS_TOKEN_LIFETIME, RegisteredClient};
pub use scope::Scope;

use ostiary_jwt::Algorithm;
use time::{Duration, OffsetDateTime};

use crate::secret::SecretHash;

/// A registered client as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    /// Set exactly when the client authenticates with a secret (`client_secret_basic` or
    /// `client_secret_post`).
    pub secret_hash: Option<SecretHash>,
    /// The secret a rotation replaced, still accepted until it expires
    /// (`client rotate-secret --keep-old`).
    pub previous_secret: Option<PreviousSecret>,
    pub auth_method: TokenEndpointAuthMethod,
    pub grant_types: Vec<GrantType>,
    pub redirect_uris: Vec<RedirectUri>,
    pub scopes: Vec<Scope>,
    pub audiences: Vec<Audience>,
    /// Audiences whose tokens this client may introspect: set on resource servers.
    pub introspect_audiences: Vec<Audience>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub skip_consent: bool,
    /// Overrides the server's default access token lifetime.
    pub access_token_lifetime: Option<Duration>,
    /// `id_token_signed_response_alg` (OpenID Connect Dynamic Registration 2); RS256 unless
    /// registered otherwise, as OpenID Connect requires.
    pub id_token_alg: Algorithm,
    /// The client's public keys (`jwks` or `jwks_uri`, RFC 7591 2): set for
    /// `private_key_jwt`, the keys its assertions are signed with.
    pub jwks: Option<ClientJwks>,
    /// RFC 9449 5.2 `dpop_bound_access_tokens` (`--require-dpop`): every token request of the
    /// client must carry a DPoP proof, so its access tokens are always sender-constrained.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 6 `require_pushed_authorization_requests` (`--require-par`): the client's
    /// authorization requests are accepted only through the PAR endpoint.
    pub require_pushed_authorization_requests: bool,
    /// `--require-mfa`: the client's users give a second factor (a TOTP code) before it gets
    /// a code or a device approval for them.
    pub require_mfa: bool,
    /// RFC 8693 1.1: a token exchange by this client is impersonation (`--allow-impersonation`):
    /// its tokens name the subject alone, with no `act` claim. Off, every exchange is
    /// delegation and names the client in `act`.
    pub impersonation: bool,
    pub created_at: OffsetDateTime,
}

/// A replaced secret kept for a rotation's overlap, so the client's running instances keep
/// working while they are redeployed with the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    pub hash: SecretHash,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

/// The longest overlap a rotation may give the old secret.
pub const MAX_SECRET_OVERLAP: Duration = Duration::days(7);

impl Client {
    pub fn is_public(&self) -> bool {
        self.auth_method == TokenEndpointAuthMethod::None
    }

    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// `unauthorized_client` (RFC 6749 5.2) unless the client is registered for `grant`.
    pub fn require_grant(&self, grant: GrantType) -> Result<(), crate::OAuthError> {
        if self.allows_grant(grant) {
            return Ok(());
        }
        Err(crate::OAuthError::new(
            crate::ErrorCode::UnauthorizedClient,
            format!("this client may not use the {} grant", grant.as_str()),
        ))
    }
}
