//! OpenID Connect userinfo (Core 5.3): claims about the user an access token was issued for.
//! Only access tokens issued for it (its URL in `aud`, `openid` in `scope`) are accepted.

use serde::Serialize;

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
    pub async fn userinfo(&self, token: &str) -> Result<UserInfo, OAuthError> {
        let claims = self.validate(token).map_err(|_| invalid_token())?;
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
