//! Dynamic client registration (RFC 7591) and the registered client's management of itself
//! by its registration access token (RFC 7592): who may register, what a registration may
//! ask for, the operator's initial access tokens, and the service the endpoints call.

mod metadata;
mod service;
mod token;

use std::str::FromStr;

pub use metadata::{ClientMetadata, MAX_REGISTERED_URIS, RegisteredMetadata};
pub use service::{Registered, Registrations};
pub use token::{
    DEFAULT_REGISTRATION_TOKEN_LIFETIME, MAX_REGISTRATION_TOKEN_LIFETIME,
    MAX_REGISTRATION_TOKEN_USES, RegistrationToken,
};

use crate::client::{Audience, Scope, UriPolicy};
use crate::error::{ErrorCode, OAuthError};
use crate::validation::InvalidInput;

/// Who may register clients at the registration endpoint (`OAUTH2_REGISTRATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegistrationMode {
    /// No registration endpoint.
    Off,
    /// Only with an initial access token from `ostiary registration-token create` (RFC 7591
    /// 3): the default.
    #[default]
    Token,
    /// Anyone; an initial access token is still checked when one is sent, and only such a
    /// registration may ask for `client_credentials`.
    Open,
}

impl RegistrationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Token => "token",
            Self::Open => "open",
        }
    }
}

impl FromStr for RegistrationMode {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Off, Self::Token, Self::Open]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| InvalidInput::new("registration", "must be off, token or open"))
    }
}

/// What a dynamically registered client may be registered for: set by the operator, since
/// whoever registers is not.
#[derive(Debug, Clone)]
pub struct RegistrationPolicy {
    pub mode: RegistrationMode,
    /// The scopes a registration may ask for (`OAUTH2_REGISTRATION_SCOPES`); all of them
    /// when it asks for none.
    pub scopes: Vec<Scope>,
    /// The RFC 8707 resources every registered client may ask tokens for
    /// (`OAUTH2_REGISTRATION_AUDIENCES`); none by default, so tokens name only the client.
    pub audiences: Vec<Audience>,
    /// Plain `http` redirect URIs beyond loopback: development only.
    pub uri_policy: UriPolicy,
    /// The registration endpoint's URL, under which each client's configuration endpoint
    /// (RFC 7592 `registration_client_uri`) is `<endpoint>/<client_id>`.
    pub endpoint: String,
}

impl RegistrationPolicy {
    /// The scopes of a registration's `scope` value (space-separated, RFC 7591 2): each one
    /// the policy offers; every offered scope when absent.
    ///
    /// Errors: `invalid_client_metadata` naming the first scope not offered.
    pub fn scopes_for(&self, requested: Option<&str>) -> Result<Vec<Scope>, OAuthError> {
        let Some(requested) = requested else {
            return Ok(self.scopes.clone());
        };
        let mut scopes: Vec<Scope> = Vec::new();
        for name in requested.split(' ').filter(|s| !s.is_empty()) {
            let Some(scope) = self.scopes.iter().find(|s| s.as_str() == name) else {
                let offered: Vec<&str> = self.scopes.iter().map(Scope::as_str).collect();
                return Err(OAuthError::new(
                    ErrorCode::InvalidClientMetadata,
                    format!(
                        "scope '{name}' is not offered to registered clients; offered: {}",
                        offered.join(" ")
                    ),
                ));
            };
            if !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
        Ok(scopes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RegistrationPolicy {
        RegistrationPolicy {
            mode: RegistrationMode::Token,
            scopes: ["openid", "profile"]
                .map(|s| Scope::parse(s).unwrap())
                .to_vec(),
            audiences: Vec::new(),
            uri_policy: UriPolicy {
                allow_insecure_http: false,
            },
            endpoint: "https://id.example.com/register".into(),
        }
    }

    #[test]
    fn scopes_default_to_the_offer_and_never_exceed_it() {
        let p = policy();
        assert_eq!(p.scopes_for(None).unwrap(), p.scopes);
        let one = p.scopes_for(Some("profile  profile")).unwrap();
        assert_eq!(
            one.iter().map(Scope::as_str).collect::<Vec<_>>(),
            ["profile"]
        );
        let err = p.scopes_for(Some("openid admin")).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidClientMetadata);
        assert!(
            err.description().contains("'admin'"),
            "{}",
            err.description()
        );
    }

    #[test]
    fn modes_parse_by_name_only() {
        for mode in [
            RegistrationMode::Off,
            RegistrationMode::Token,
            RegistrationMode::Open,
        ] {
            assert_eq!(mode.as_str().parse(), Ok(mode));
        }
        assert!("Open".parse::<RegistrationMode>().is_err());
        assert_eq!(RegistrationMode::default(), RegistrationMode::Token);
    }
}
