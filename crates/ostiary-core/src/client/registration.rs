//! What an operator asks for when registering a client, and what a registration returns.

use ostiary_jwt::Algorithm;
use time::Duration;

use super::{
    Audience, Client, ClientId, ClientJwks, GrantType, RedirectUri, Scope, TokenEndpointAuthMethod,
};
use crate::secret::ClientSecret;

/// What an operator asks for; every field already parsed into its domain type. The rules a
/// registration must meet are checked by the Admin service (`admin::register_client`).
#[derive(Debug, Clone, Default)]
pub struct ClientRegistration {
    pub name: String,
    pub client_id: Option<ClientId>,
    pub public: bool,
    pub grant_types: Vec<GrantType>,
    pub redirect_uris: Vec<RedirectUri>,
    pub scopes: Vec<Scope>,
    pub audiences: Vec<Audience>,
    pub introspect_audiences: Vec<Audience>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub auth_method: Option<TokenEndpointAuthMethod>,
    pub skip_consent: bool,
    pub access_token_lifetime: Option<Duration>,
    /// RS256 when not given; HS256 is refused (ID tokens are verified by the public JWKS).
    pub id_token_alg: Option<Algorithm>,
    /// Required for `private_key_jwt`; clients of the other methods may register keys for the
    /// request objects they sign (RFC 9101).
    pub jwks: Option<ClientJwks>,
    /// `--require-dpop` (RFC 9449 5.2 `dpop_bound_access_tokens`).
    pub dpop_bound_access_tokens: bool,
    /// `--require-par` (RFC 9126 6 `require_pushed_authorization_requests`).
    pub require_pushed_authorization_requests: bool,
    /// `--require-mfa`: the client's users give a second factor.
    pub require_mfa: bool,
    /// `--allow-impersonation`: token exchanges without `act` (RFC 8693 1.1); needs the token
    /// exchange grant.
    pub impersonation: bool,
}

/// A stored client and, for confidential clients, its secret: shown once, never again.
#[derive(Debug)]
pub struct RegisteredClient {
    pub client: Client,
    pub secret: Option<ClientSecret>,
}

/// The longest access token lifetime a client may have: also how long a retired signing key
/// stays published.
pub const MAX_ACCESS_TOKEN_LIFETIME: Duration = Duration::days(1);
