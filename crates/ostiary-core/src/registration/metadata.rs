//! RFC 7591 2 client metadata: the JSON a client registers (or, RFC 7592 2.2, re-registers)
//! with, turned into a [`ClientRegistration`] under the [`RegistrationPolicy`], and a
//! registered client rendered back in the same shape.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::RegistrationPolicy;
use crate::client::{
    Client, ClientId, ClientJwks, ClientRegistration, GrantType, RedirectUri, Scope,
    TokenEndpointAuthMethod,
};
use crate::error::{ErrorCode, OAuthError};
use crate::validation::InvalidInput;
use ostiary_jwt::Algorithm;

/// The grants anyone may register for under open registration.
pub const USER_GRANTS: [GrantType; 2] = [GrantType::AuthorizationCode, GrantType::RefreshToken];

/// The most redirect URIs (and, apart, post-logout redirect URIs) a registration may list.
pub const MAX_REGISTERED_URIS: usize = 32;

/// The metadata a client sends (RFC 7591 2; RFC 9449 5.2 and RFC 9126 6 add the last two
/// flags). Unknown fields are ignored (RFC 7591 2); `null` counts as absent. Fields Ostiary
/// does not keep (`client_uri`, `logo_uri`, `contacts`, `software_statement`...) are ignored
/// too and so are not in the answer, which RFC 7591 3.2.1 allows.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ClientMetadata {
    pub redirect_uris: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub client_name: Option<String>,
    /// Space-separated (RFC 7591 2).
    pub scope: Option<String>,
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    pub id_token_signed_response_alg: Option<String>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub dpop_bound_access_tokens: Option<bool>,
    pub require_pushed_authorization_requests: Option<bool>,
    /// RFC 7592 2.2: an update names the client it replaces.
    pub client_id: Option<String>,
    /// RFC 7592 2.2: an update may carry the client's secret, which must then be its own.
    pub client_secret: Option<SecretString>,
}

impl ClientMetadata {
    /// The registration these metadata ask for, as client `id`, under `policy`. Unless
    /// `vouched` (registered with an operator's initial access token), only the code and
    /// refresh grants: `client_credentials` would act with no user, the device grant suits
    /// phishing by a name anyone can choose, and token exchange acts for users elsewhere.
    ///
    /// What is not given takes RFC 7591's defaults: `client_secret_basic`, and the code grant
    /// (with refresh tokens); the scopes default to every scope the
    /// policy offers, the audiences are the policy's. The client is never first-party
    /// (consent is always asked).
    ///
    /// Errors: `invalid_redirect_uri` for a bad redirect or post-logout redirect URI,
    /// `invalid_client_metadata` for anything else that breaks a rule.
    pub fn into_registration(
        self,
        id: ClientId,
        policy: &RegistrationPolicy,
        vouched: bool,
    ) -> Result<ClientRegistration, OAuthError> {
        let auth_method = match &self.token_endpoint_auth_method {
            Some(method) => method.parse().map_err(refused)?,
            None => TokenEndpointAuthMethod::ClientSecretBasic,
        };
        // RFC 7591 2: without grant_types the client uses the code grant (and, as every client
        // of the code grant here, refresh tokens).
        let grant_types = match parse_all(self.grant_types.unwrap_or_default())? {
            given if given.is_empty() => {
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
            }
            given => given,
        };
        if !vouched && grant_types.iter().any(|g| !USER_GRANTS.contains(g)) {
            return Err(invalid_metadata(
                "grant_types: a client registered without an initial access token from the \
                 operator may use authorization_code and refresh_token only",
            ));
        }
        check_response_types(self.response_types.as_deref(), &grant_types)?;
        let jwks = match (self.jwks, self.jwks_uri) {
            (Some(_), Some(_)) => {
                return Err(invalid_metadata(
                    "jwks and jwks_uri must not both be given (RFC 7591 2)",
                ));
            }
            (Some(set), None) => Some(ClientJwks::from_json(&set.to_string()).map_err(refused)?),
            // The server would fetch it: an address chosen by whoever registers is a request
            // forgery surface, so keys come by value here.
            (None, Some(_)) => {
                return Err(invalid_metadata(
                    "jwks_uri is not accepted at registration: send the public keys as jwks",
                ));
            }
            (None, None) => None,
        };
        let id_token_alg = match &self.id_token_signed_response_alg {
            Some(alg) => Some(alg.parse::<Algorithm>().map_err(|_| {
                invalid_metadata("id_token_signed_response_alg must be RS256, ES256 or EdDSA")
            })?),
            None => None,
        };
        Ok(ClientRegistration {
            name: self.client_name.unwrap_or_else(|| id.to_string()),
            public: auth_method == TokenEndpointAuthMethod::None,
            client_id: Some(id),
            grant_types,
            redirect_uris: parse_uris(self.redirect_uris, policy, "redirect_uris")?,
            scopes: policy.scopes_for(self.scope.as_deref())?,
            audiences: policy.audiences.clone(),
            introspect_audiences: Vec::new(),
            post_logout_redirect_uris: parse_uris(
                self.post_logout_redirect_uris,
                policy,
                "post_logout_redirect_uris",
            )?,
            auth_method: Some(auth_method),
            skip_consent: false,
            access_token_lifetime: None,
            id_token_alg,
            jwks,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens.unwrap_or(false),
            require_pushed_authorization_requests: self
                .require_pushed_authorization_requests
                .unwrap_or(false),
            // Only an operator may let a client act as the user itself, or require what
            // users must give at login.
            impersonation: false,
            require_mfa: false,
        })
    }
}

/// RFC 7591 2.1: `code` is the only response type offered, and goes with the
/// `authorization_code` grant.
fn check_response_types(given: Option<&[String]>, grants: &[GrantType]) -> Result<(), OAuthError> {
    let Some(given) = given else {
        return Ok(());
    };
    if given.iter().any(|t| t != "code") {
        return Err(invalid_metadata(
            "response_types: only \"code\" is offered (OAuth 2.1)",
        ));
    }
    if !given.is_empty() && !grants.contains(&GrantType::AuthorizationCode) {
        return Err(invalid_metadata(
            "response_types \"code\" needs the authorization_code grant (RFC 7591 2.1)",
        ));
    }
    Ok(())
}

fn parse_all(grants: Vec<String>) -> Result<Vec<GrantType>, OAuthError> {
    grants
        .iter()
        .map(|g| g.parse::<GrantType>().map_err(refused))
        .collect()
}

fn parse_uris(
    uris: Option<Vec<String>>,
    policy: &RegistrationPolicy,
    field: &str,
) -> Result<Vec<RedirectUri>, OAuthError> {
    let uris = uris.unwrap_or_default();
    if uris.len() > MAX_REGISTERED_URIS {
        return Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            format!("{field}: at most {MAX_REGISTERED_URIS}"),
        ));
    }
    uris.iter()
        .map(|u| RedirectUri::parse(u, policy.uri_policy).map_err(refused))
        .collect()
}

/// A refused value as RFC 7591 3.2.2 names it: `invalid_redirect_uri` for redirect URIs,
/// `invalid_client_metadata` for the rest.
pub(crate) fn refused(e: InvalidInput) -> OAuthError {
    let code = match e.field {
        "redirect_uri" | "post_logout_redirect_uri" => ErrorCode::InvalidRedirectUri,
        _ => ErrorCode::InvalidClientMetadata,
    };
    OAuthError::new(code, e.to_string())
}

pub(crate) fn invalid_metadata(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description)
}

/// A registered client in the RFC 7591 3.2.1 (and RFC 7592 3) shape, with its registration
/// access token, and the client secret only in the answer that issued it. Its `Debug` shows
/// neither credential.
#[derive(Serialize)]
pub struct RegisteredMetadata<'a> {
    pub client_id: &'a str,
    /// Unix seconds.
    pub client_id_issued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<&'a str>,
    /// 0: the secret does not expire (RFC 7591 3.2.1); present with a secret only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    /// RFC 7592 3: in every answer; the one presented, when it is not new.
    pub registration_access_token: &'a str,
    pub registration_client_uri: String,
    pub client_name: &'a str,
    pub token_endpoint_auth_method: &'static str,
    pub grant_types: Vec<&'static str>,
    pub response_types: Vec<&'static str>,
    pub redirect_uris: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<&'a str>,
    pub scope: String,
    pub id_token_signed_response_alg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<&'a ostiary_jwt::JwkSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<&'a str>,
    pub dpop_bound_access_tokens: bool,
    pub require_pushed_authorization_requests: bool,
}

impl std::fmt::Debug for RegisteredMetadata<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredMetadata")
            .field("client_id", &self.client_id)
            .field("registration_client_uri", &self.registration_client_uri)
            .finish_non_exhaustive()
    }
}

impl<'a> RegisteredMetadata<'a> {
    /// `client` as registered, its configuration endpoint under `registration_endpoint`, and
    /// its registration access token.
    pub fn of(client: &'a Client, registration_endpoint: &str, access_token: &'a str) -> Self {
        let code = client.allows_grant(GrantType::AuthorizationCode);
        Self {
            client_id: client.id.as_str(),
            client_id_issued_at: client.created_at.unix_timestamp(),
            client_secret: None,
            client_secret_expires_at: None,
            registration_access_token: access_token,
            registration_client_uri: format!("{registration_endpoint}/{}", client.id),
            client_name: &client.name,
            token_endpoint_auth_method: client.auth_method.as_str(),
            grant_types: client.grant_types.iter().map(|g| g.as_str()).collect(),
            response_types: if code { vec!["code"] } else { Vec::new() },
            redirect_uris: client.redirect_uris.iter().map(|u| u.as_str()).collect(),
            post_logout_redirect_uris: client
                .post_logout_redirect_uris
                .iter()
                .map(|u| u.as_str())
                .collect(),
            scope: client
                .scopes
                .iter()
                .map(Scope::as_str)
                .collect::<Vec<_>>()
                .join(" "),
            id_token_signed_response_alg: client.id_token_alg.as_str(),
            jwks: client.jwks.as_ref().and_then(ClientJwks::value),
            jwks_uri: client.jwks.as_ref().and_then(ClientJwks::uri),
            dpop_bound_access_tokens: client.dpop_bound_access_tokens,
            require_pushed_authorization_requests: client.require_pushed_authorization_requests,
        }
    }

    /// With the client secret issued in this answer, which does not expire.
    pub fn with_secret(mut self, client_secret: Option<&'a str>) -> Self {
        self.client_secret_expires_at = client_secret.map(|_| 0);
        self.client_secret = client_secret;
        self
    }
}
