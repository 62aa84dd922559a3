//! RFC 9068 access tokens: what one says (`AccessTokenSpec`, decided by a grant), its claims
//! (header `typ: at+jwt` and `kid`; claims `iss`, `sub`, `aud`, `exp`, `iat`, `nbf`, `jti`,
//! `client_id`, `scope`, and `cnf`/`act` when a grant sets them) and the one place that
//! signs it.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::service::TokenService;
use crate::client::{Client, ClientId};
use crate::error::OAuthError;

/// Everything an access token says, decided by the grant that issues it. Every grant issues
/// through `TokenService::issue_access_token` with one of these, so a new claim (DPoP's
/// `cnf`, token exchange's `act`) is a field here, not a parameter of every grant.
#[derive(Debug, Clone, Copy)]
pub struct AccessTokenSpec<'a> {
    /// `sub`: the user, or the client itself (RFC 9068 2.2, client credentials).
    pub subject: &'a str,
    /// `client_id`: the client the token is issued to (RFC 9068 2.2).
    pub client_id: &'a ClientId,
    /// `aud`: one as a string, several as an array (RFC 7519 4.1.3). Never empty.
    pub audiences: &'a [String],
    /// `scope`, space-separated (RFC 6749 3.3); omitted when `None`.
    pub scope: Option<&'a str>,
    /// `exp - iat`: the client's own lifetime or the server's default.
    pub lifetime: Duration,
    /// `cnf` (RFC 7800 3.1): the DPoP key the token is bound to (RFC 9449 6.1); omitted
    /// when `None`, for a bearer token.
    pub cnf: Option<&'a Confirmation>,
    /// `act` (RFC 8693 4.1): who acts for the subject; omitted when `None`. Set by token
    /// exchange only.
    pub act: Option<&'a Actor>,
}

/// The `cnf` claim of a sender-constrained token (RFC 7800 3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confirmation {
    /// RFC 9449 6.1: the base64url SHA-256 JWK thumbprint (RFC 7638) of the DPoP key.
    pub jkt: String,
}

/// The `act` claim (RFC 8693 4.1): the acting party, and whoever acted for it in turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The acting party's subject identifier.
    pub sub: String,
    /// Whoever acted for the acting party, for delegation chains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

/// The claims as signed. Field order is the serialization order.
#[derive(Debug, Serialize)]
pub struct AccessTokenClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: Audiences<'a>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<&'a Confirmation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<&'a Actor>,
}

/// One audience as a string, several as an array (RFC 7519 4.1.3).
#[derive(Debug)]
pub struct Audiences<'a>(pub &'a [String]);

impl Serialize for Audiences<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

/// 128 random bits: unique per token, the handle revocation uses. An identifier, not a
/// credential, so it comes from the thread-local CSPRNG (ChaCha, seeded and reseeded from the
/// OS) rather than a system call per token.
pub fn new_jti() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A signed access token and what revoking it later needs.
#[derive(Debug)]
pub(super) struct IssuedAccessToken {
    pub token: String,
    pub jti: String,
    pub expires_at: OffsetDateTime,
    pub lifetime: Duration,
    /// `token_type` of the response: `DPoP` for a bound token (RFC 9449 5), else `Bearer`.
    pub token_type: &'static str,
}

impl IssuedAccessToken {
    /// The answer of a grant that issues an access token alone (RFC 6749 5.1): no refresh
    /// token, no ID token.
    pub(super) fn into_response(self, scope: Option<String>) -> super::service::TokenResponse {
        super::service::TokenResponse {
            access_token: self.token,
            token_type: self.token_type.to_owned(),
            expires_in: self.lifetime.whole_seconds(),
            scope,
            refresh_token: None,
            id_token: None,
            issued_token_type: None,
        }
    }
}

impl TokenService {
    /// The spec of a token for `client`: its own lifetime or the server's default, bound to
    /// the DPoP key `cnf` when the request proved one, no `act`.
    pub(super) fn access_token_spec<'a>(
        &self,
        client: &'a Client,
        subject: &'a str,
        audiences: &'a [String],
        scope: Option<&'a str>,
        cnf: Option<&'a Confirmation>,
    ) -> AccessTokenSpec<'a> {
        AccessTokenSpec {
            subject,
            client_id: &client.id,
            audiences,
            scope,
            lifetime: client
                .access_token_lifetime
                .unwrap_or(self.settings.access_token_lifetime),
            cnf,
            act: None,
        }
    }

    /// Signs the access token `spec` describes, with the configured access token algorithm.
    /// Every access token this server issues comes from here.
    pub(super) fn issue_access_token(
        &self,
        spec: &AccessTokenSpec<'_>,
    ) -> Result<IssuedAccessToken, OAuthError> {
        let now = self.clock.now().unix_timestamp();
        let claims = AccessTokenClaims {
            iss: &self.settings.issuer,
            sub: spec.subject,
            aud: Audiences(spec.audiences),
            exp: now + spec.lifetime.whole_seconds(),
            iat: now,
            nbf: now,
            jti: new_jti(),
            client_id: spec.client_id.as_str(),
            scope: spec.scope,
            cnf: spec.cnf,
            act: spec.act,
        };
        let snapshot = self.keys.current();
        let key = snapshot
            .signing_key(self.settings.access_token_alg)
            .ok_or_else(|| {
                tracing::error!(alg = %self.settings.access_token_alg, "no active signing key");
                OAuthError::server_error()
            })?;
        let token = ostiary_jwt::encode(key, "at+jwt", &claims).map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            OAuthError::server_error()
        })?;
        Ok(IssuedAccessToken {
            token,
            expires_at: OffsetDateTime::from_unix_timestamp(claims.exp)
                .map_err(|_| OAuthError::server_error())?,
            jti: claims.jti,
            lifetime: spec.lifetime,
            token_type: if spec.cnf.is_some() { "DPoP" } else { "Bearer" },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims<'a>(
        aud: &'a [String],
        cnf: Option<&'a Confirmation>,
        act: Option<&'a Actor>,
    ) -> AccessTokenClaims<'a> {
        AccessTokenClaims {
            iss: "https://id.example",
            sub: "s",
            aud: Audiences(aud),
            exp: 2,
            iat: 1,
            nbf: 1,
            jti: "j".to_owned(),
            client_id: "c",
            scope: None,
            cnf,
            act,
        }
    }

    #[test]
    fn claims_serialize_in_rfc_9068_order_without_empty_room() {
        let aud = ["https://api.example".to_owned()];
        let json = serde_json::to_string(&claims(&aud, None, None)).unwrap();
        assert_eq!(
            json,
            r#"{"iss":"https://id.example","sub":"s","aud":"https://api.example","exp":2,"iat":1,"nbf":1,"jti":"j","client_id":"c"}"#
        );
    }

    #[test]
    fn cnf_and_act_appear_only_when_set() {
        let aud = ["a".to_owned(), "b".to_owned()];
        let cnf = Confirmation {
            jkt: "t".to_owned(),
        };
        let act = Actor {
            sub: "svc".to_owned(),
            act: None,
        };
        let json = serde_json::to_value(claims(&aud, Some(&cnf), Some(&act))).unwrap();
        assert_eq!(json["aud"], serde_json::json!(["a", "b"]));
        assert_eq!(json["cnf"], serde_json::json!({"jkt": "t"}));
        assert_eq!(json["act"], serde_json::json!({"sub": "svc"}));
    }
}
