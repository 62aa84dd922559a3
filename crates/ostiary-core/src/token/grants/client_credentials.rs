//! The client credentials grant (RFC 6749 4.4): a token for the client itself. Nothing is
//! written: the token is revocable by its `jti` like any other.

use super::Subject;
use crate::client::{Client, GrantType};
use crate::error::OAuthError;
use crate::token::Confirmation;
use crate::token::resolve::{resolve_audience, resolve_scope};
use crate::token::service::{TokenResponse, TokenService, scope_string};

impl TokenService {
    /// RFC 6749 4.4.2: the requested scopes (all registered ones without `scope`) and the
    /// requested resources (RFC 8707; the registered audiences without `resource`), each
    /// registered for the client, else `invalid_scope` or `invalid_target`. With a DPoP
    /// proof, the token is bound to its key.
    pub(super) fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&str>,
        resources: &[String],
        dpop: Option<&Confirmation>,
    ) -> Result<(TokenResponse, Subject), OAuthError> {
        client.require_grant(GrantType::ClientCredentials)?;
        let scopes = resolve_scope(scope, &client.scopes)?;
        let audiences = resolve_audience(resources, client)?;
        let scope = scope_string(&scopes);
        let spec = self.access_token_spec(
            client,
            client.id.as_str(),
            &audiences,
            scope.as_deref(),
            dpop,
        );
        let issued = self.issue_access_token(&spec)?;
        Ok((
            issued.into_response(scope),
            Subject::Client(client.id.clone()),
        ))
    }
}
