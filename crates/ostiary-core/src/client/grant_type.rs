//! Grant types a client may be registered for: exactly those the token endpoint serves.

use std::str::FromStr;

use crate::validation::InvalidInput;

/// A grant the token endpoint serves. Registration (CLI), discovery's
/// `grant_types_supported` and the token endpoint all take their list from here, so what is
/// advertised, what a client may be registered for and what works cannot drift apart: a
/// grant is added here together with its implementation, never before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    AuthorizationCode,
    ClientCredentials,
    RefreshToken,
    /// RFC 8628 3.4: `urn:ietf:params:oauth:grant-type:device_code`.
    DeviceCode,
    /// RFC 8693 2.1: `urn:ietf:params:oauth:grant-type:token-exchange`. A confidential client
    /// exchanges a token of a user's for one naming itself as the acting party (`act`).
    TokenExchange,
}

impl GrantType {
    /// Every grant served, in the order discovery lists them.
    pub const ALL: [GrantType; 5] = [
        Self::AuthorizationCode,
        Self::ClientCredentials,
        Self::RefreshToken,
        Self::DeviceCode,
        Self::TokenExchange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            Self::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }
}

impl FromStr for GrantType {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(grant) = Self::ALL.into_iter().find(|g| g.as_str() == s) {
            return Ok(grant);
        }
        let reason = match s {
            // RFC 9700 section 2.4 and OAuth 2.1 drop both: they expose credentials or tokens.
            "password" => "the resource owner password grant is not offered (RFC 9700 2.4)".into(),
            "implicit" => "the implicit grant is not offered (RFC 9700 2.1.2)".into(),
            _ => format!(
                "unknown grant type {s:?}; expected one of: {}",
                Self::ALL.map(Self::as_str).join(", ")
            ),
        };
        Err(InvalidInput::new("grant_type", reason))
    }
}

impl std::fmt::Display for GrantType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_grant() {
        for grant in GrantType::ALL {
            assert_eq!(grant.as_str().parse::<GrantType>(), Ok(grant));
        }
    }

    #[test]
    fn refuses_password_implicit_and_unknown() {
        let err = "password".parse::<GrantType>().unwrap_err();
        assert!(err.reason.contains("not offered"));
        assert!("implicit".parse::<GrantType>().is_err());
        let err = "magic".parse::<GrantType>().unwrap_err();
        assert!(err.reason.contains("client_credentials"));
        assert!("Client_Credentials".parse::<GrantType>().is_err());
        assert!(
            "device_code".parse::<GrantType>().is_err(),
            "only the RFC 8628 URN"
        );
    }
}
