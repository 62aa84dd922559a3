//! RFC 7662 introspection answers: `{"active": false}` for anything not valid, the token's
//! claims otherwise; as JSON, or signed by the server as a JWT (RFC 9701).

use ostiary_jwt::Algorithm;
use serde::Serialize;
use serde_json::Value;

use super::service::TokenService;
use crate::client::Client;
use crate::error::OAuthError;

/// RFC 9701 4: the media type a resource server asks for (in `Accept`) and is answered with.
pub const INTROSPECTION_JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";
/// RFC 9701 6: the algorithm of signed answers, the default of
/// `introspection_signed_response_alg`.
pub const INTROSPECTION_SIGNING_ALG: Algorithm = Algorithm::Rs256;

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// RFC 9449 6.2: the key a DPoP-bound token is bound to (`{"jkt": ...}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Value>,
}

impl Introspection {
    pub fn inactive() -> Self {
        Self::default()
    }
}

/// RFC 9701 5: the claims of a signed answer. The answer itself is the `token_introspection`
/// claim, so nothing of the token (its `sub`, `exp`) can be mistaken for the answer's own.
#[derive(Debug, Serialize)]
struct SignedIntrospection<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    token_introspection: &'a Introspection,
}

impl TokenService {
    /// `answer` signed for `caller` (RFC 9701 5): header `typ` `token-introspection+jwt`,
    /// claims `iss`, `aud` (the caller's client id), `iat` and `token_introspection`, signed
    /// with the server's RS256 key, which the JWKS publishes.
    ///
    /// Errors: `server_error` when no RS256 key is active or signing fails (logged).
    pub fn sign_introspection(
        &self,
        caller: &Client,
        answer: &Introspection,
    ) -> Result<String, OAuthError> {
        let claims = SignedIntrospection {
            iss: &self.settings.issuer,
            aud: caller.id.as_str(),
            iat: self.clock.now().unix_timestamp(),
            token_introspection: answer,
        };
        let snapshot = self.keys.current();
        let key = snapshot
            .signing_key(INTROSPECTION_SIGNING_ALG)
            .ok_or_else(|| {
                tracing::error!("no active RS256 key for signed introspection answers");
                OAuthError::server_error()
            })?;
        ostiary_jwt::encode(key, "token-introspection+jwt", &claims).map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            OAuthError::server_error()
        })
    }
}
