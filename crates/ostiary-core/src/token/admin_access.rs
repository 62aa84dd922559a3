//! Who may call the admin HTTP API: a machine client presenting an access token of its own
//! (`client_credentials`), issued for the admin API's audience with an admin scope.

use super::service::TokenService;
use crate::client::{ClientId, GrantType};
use crate::error::{ErrorCode, OAuthError};

/// Every admin operation, reads and changes alike.
pub const ADMIN_SCOPE: &str = "ostiary:admin";
/// The admin API's reads only (listing and showing clients, users, keys, the audit trail).
pub const ADMIN_READ_SCOPE: &str = "ostiary:admin:read";
/// Appended to the issuer, the audience (RFC 8707 resource) of tokens for the admin API.
pub const ADMIN_AUDIENCE_PATH: &str = "/admin";

/// The audience of access tokens the admin API accepts: `{issuer}/admin` (a client gets
/// such tokens once registered with `--audience {issuer}/admin`).
pub fn admin_audience(issuer: &str) -> String {
    format!("{}{ADMIN_AUDIENCE_PATH}", issuer.trim_end_matches('/'))
}

/// What a verified admin token lets its client do, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AdminAccess {
    /// Neither admin scope (still granted): nothing, but the caller is known.
    None,
    /// `ostiary:admin:read`: reads only.
    Read,
    /// `ostiary:admin`: everything.
    Full,
}

/// The client behind a verified admin token, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCaller {
    /// The client the token was issued to: the actor of what the call changes.
    pub client_id: ClientId,
    /// What its token's scope still allows.
    pub access: AdminAccess,
}

fn invalid_token() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidToken,
        "the access token is invalid, expired, revoked or not meant for the admin API",
    )
}

impl TokenService {
    /// The client an admin API request acts for. The token must verify as this server's
    /// RFC 9068 access token (strict RFC 8725 validation by `ostiary-jwt`), name
    /// `{issuer}/admin` as its only audience, be the client's own (`sub` is its `client_id`,
    /// no `act`: a `client_credentials` token, not one a user or another party holds), be
    /// unrevoked, and be a bearer token (a DPoP-bound token would need a proof of its key,
    /// which the admin API does not take). Its client must still exist, be no newer than the
    /// token, and still be registered for the admin audience, `client_credentials` and the
    /// admin scope the token carries: a client narrowed or deleted loses
    /// the API whatever tokens it holds, once its cached record expires
    /// (`OAUTH2_CLIENT_CACHE_SECS`, 1 s by default).
    ///
    /// A valid token without `ostiary:admin` or `ostiary:admin:read` (or whose client no
    /// longer has the one it carries) is [`AdminAccess::None`]: refused, but its client is
    /// named in the audit trail.
    ///
    /// Errors: `invalid_token` for any of the above.
    pub async fn admin_caller(&self, token: &str) -> Result<AdminCaller, OAuthError> {
        let claims = self.validate(token).map_err(|_| invalid_token())?;
        let audience = admin_audience(&self.settings.issuer);
        // The admin audience alone: a token that also names another API is in that API's
        // hands too, and must not be replayable here.
        if claims.aud != [audience.as_str()]
            || claims.all.contains_key("cnf")
            || claims.all.contains_key("act")
        {
            return Err(invalid_token());
        }
        let client_id = claims
            .str("client_id")
            .filter(|id| claims.sub.as_deref() == Some(*id))
            .and_then(|id| ClientId::parse(id).ok())
            .ok_or_else(invalid_token)?;
        if self.is_revoked(&claims).await? {
            return Err(invalid_token());
        }
        // The client as it is now: still registered for the admin API and for
        // client_credentials, and no newer than the token (a client deleted and created again
        // under the same id does not inherit the old one's tokens).
        let client = self
            .clients
            .find(&client_id)
            .await?
            .filter(|c| {
                c.audiences.iter().any(|a| a.as_str() == audience)
                    && c.grant_types.contains(&GrantType::ClientCredentials)
                    && claims
                        .iat
                        .is_some_and(|iat| iat >= c.created_at.unix_timestamp())
            })
            .ok_or_else(invalid_token)?;
        let still_registered = |scope: &str| client.scopes.iter().any(|s| s.as_str() == scope);
        let granted = |scope: &str| {
            claims
                .str("scope")
                .is_some_and(|s| s.split(' ').any(|s| s == scope))
                && still_registered(scope)
        };
        let access = if granted(ADMIN_SCOPE) {
            AdminAccess::Full
        } else if granted(ADMIN_READ_SCOPE) {
            AdminAccess::Read
        } else {
            AdminAccess::None
        };
        Ok(AdminCaller { client_id, access })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audience_is_the_issuer_with_admin_appended() {
        assert_eq!(
            admin_audience("https://id.example.com/"),
            "https://id.example.com/admin"
        );
        assert_eq!(
            admin_audience("https://id.example.com/tenant"),
            "https://id.example.com/tenant/admin"
        );
        assert!(AdminAccess::Full > AdminAccess::Read && AdminAccess::Read > AdminAccess::None);
    }
}
