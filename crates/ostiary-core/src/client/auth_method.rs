//! How a client authenticates at the token endpoint (RFC 7591 names).

use std::str::FromStr;

use crate::validation::InvalidInput;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenEndpointAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// RFC 7523 2.2 (OpenID Connect Core 9): a JWT signed with a key from the client's
    /// registered `jwks` or `jwks_uri`; the client holds no secret of ours.
    PrivateKeyJwt,
    /// A public client: no secret; PKCE and exact redirect URIs are its protection.
    None,
}

impl TokenEndpointAuthMethod {
    pub const ALL: [Self; 4] = [
        Self::ClientSecretBasic,
        Self::ClientSecretPost,
        Self::PrivateKeyJwt,
        Self::None,
    ];

    /// Whether the client authenticates with a secret Ostiary issued (and keeps a hash of).
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }
}

impl FromStr for TokenEndpointAuthMethod {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(method) = Self::ALL.into_iter().find(|m| m.as_str() == s) {
            return Ok(method);
        }
        let reason = match s {
            // It needs the plaintext secret on the server, which is never kept.
            "client_secret_jwt" => {
                "client_secret_jwt is not offered: client secrets are stored only as hashes".into()
            }
            _ => format!(
                "unknown method {s:?}; expected one of: {}",
                Self::ALL.map(Self::as_str).join(", ")
            ),
        };
        Err(InvalidInput::new("token_endpoint_auth_method", reason))
    }
}

impl std::fmt::Display for TokenEndpointAuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_unknown() {
        for method in TokenEndpointAuthMethod::ALL {
            assert_eq!(method.as_str().parse(), Ok(method));
        }
        assert!(
            "client_secret_jwt"
                .parse::<TokenEndpointAuthMethod>()
                .is_err()
        );
        assert!("basic".parse::<TokenEndpointAuthMethod>().is_err());
    }
}
