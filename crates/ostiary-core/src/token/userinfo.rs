//! OpenID Connect userinfo (Core 5.3): claims about the user an access token was issued for.
//! Only access tokens issued for it (its URL in `aud`, `openid` in `scope`) are accepted.

use serde::Serialize;

use super::access_token::Confirmation;
use super::service::TokenService;
use crate::error::{ErrorCode, OAuthError};
use crate::user::UserId;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct UserInfo {
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Ostiary does not verify addresses, and says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

fn invalid_token() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidToken,
        "the access token is invalid, expired or not meant for userinfo",
    )
}

impl TokenService {
    /// The claims of the user `token` was issued for. `dpop` is the key of the request's
    /// verified DPoP proof (its `ath` already matched the token): a bound token is accepted
    /// only with a proof of its key, an unbound one only without (RFC 9449 7.1, 7.2).
    ///
    /// Errors: `invalid_token` for a token that is invalid, expired, revoked, not meant for
    /// userinfo, or presented without its key; `insufficient_scope` without `openid`.
    pub async fn userinfo(
        &self,
        token: &str,
        dpop: Option<&Confirmation>,
    ) -> Result<UserInfo, OAuthError> {
        let claims = self.validate(token).map_err(|_| invalid_token())?;
        let bound_to = claims
            .all
            .get("cnf")
            .and_then(|cnf| cnf.get("jkt"))
            .and_then(|jkt| jkt.as_str());
        if bound_to != dpop.map(|proof| proof.jkt.as_str()) {
            return Err(invalid_token());
        }
        let audience = self.settings.userinfo_audience();
        if !claims.aud.contains(&audience) {
            return Err(invalid_token());
        }
        let scopes: Vec<&str> = claims.str("scope").unwrap_or_default().split(' ').collect();
        if !scopes.contains(&"openid") {
            return Err(OAuthError::new(
                ErrorCode::InsufficientScope,
                "the access token lacks the openid scope",
            ));
        }
        if self.is_revoked(&claims).await? {
            return Err(invalid_token());
        }
        let user_id = claims
            .sub
            .as_deref()
            .and_then(|s| UserId::parse(s).ok())
            .ok_or_else(invalid_token)?;
        let user = self
            .store
            .find_user(&user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(invalid_token)?;
        let email = scopes.contains(&"email").then_some(user.email).flatten();
        Ok(UserInfo {
            sub: user.id.to_string(),
            preferred_username: scopes
                .contains(&"profile")
                .then(|| user.username.as_str().to_owned()),
            email_verified: email.as_ref().map(|_| false),
            email: email.map(|e| e.as_str().to_owned()),
        })
    }
}
