//! The token endpoint's one entry point, `TokenService::exchange`: a parsed `TokenRequest` in,
//! the issued tokens (or why not) out. One file per grant; what the user grants share is in
//! `user_tokens`.

mod authorization_code;
mod client_credentials;
mod device_code;
mod refresh_token;
mod token_exchange;
mod user_tokens;

use super::access_token::Confirmation;
use super::request::TokenRequest;
use super::service::{TokenResponse, TokenService};
use crate::client::{Client, ClientId, GrantType};
use crate::error::{ErrorCode, OAuthError};
use crate::user::UserId;

/// Whose tokens were issued: the `sub` of the access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// `client_credentials`: the client itself (RFC 6749 4.4).
    Client(ClientId),
    /// A user's grant (`authorization_code`, `refresh_token`, `device_code`).
    User(UserId),
    /// A token exchange (RFC 8693): the subject of the token exchanged, as it named it.
    Delegated(String),
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Client(id) => std::fmt::Display::fmt(id, f),
            Self::User(id) => std::fmt::Display::fmt(id, f),
            Self::Delegated(sub) => f.write_str(sub),
        }
    }
}

/// A successful token request: the RFC 6749 5.1 response, and for metrics and the audit
/// trail, the grant that ran and whose tokens they are.
#[derive(Debug)]
pub struct Issued {
    /// The JSON body of the answer (RFC 6749 5.1), served with `Cache-Control: no-store`.
    pub response: TokenResponse,
    /// Whose tokens they are: the audit event's subject.
    pub subject: Subject,
    /// The grant that ran: the metrics label.
    pub grant_type: GrantType,
}

/// Why a token request failed. A replay is told apart so it can be audited.
#[derive(Debug)]
pub enum GrantError {
    /// An RFC 6749 5.2 error; nothing was changed.
    Refused(OAuthError),
    /// A used code or a rotated refresh token came back: its grant was revoked (RFC 9700
    /// 4.14, RFC 6749 4.1.2). `error` is the `invalid_grant` to answer with.
    Replayed { user_id: UserId, error: OAuthError },
}

impl GrantError {
    /// The error the client is answered with.
    pub fn error(&self) -> &OAuthError {
        match self {
            Self::Refused(error) | Self::Replayed { error, .. } => error,
        }
    }

    /// The error the client is answered with, owned.
    pub fn into_error(self) -> OAuthError {
        match self {
            Self::Refused(error) | Self::Replayed { error, .. } => error,
        }
    }
}

impl From<OAuthError> for GrantError {
    fn from(error: OAuthError) -> Self {
        Self::Refused(error)
    }
}

impl From<crate::StoreError> for GrantError {
    fn from(error: crate::StoreError) -> Self {
        Self::Refused(error.into())
    }
}

impl TokenService {
    /// RFC 6749 3.2: runs the grant `request` asks for, for the authenticated `client`. Each
    /// grant first checks that the client is registered for it (`unauthorized_client`).
    /// `dpop` is the key of the request's verified DPoP proof: the access token is bound to
    /// it (RFC 9449 5); a client registered with `dpop_bound_access_tokens` must send one
    /// (`invalid_dpop_proof`).
    pub async fn exchange(
        &self,
        client: &Client,
        request: TokenRequest<'_>,
        dpop: Option<&Confirmation>,
    ) -> Result<Issued, GrantError> {
        if client.dpop_bound_access_tokens && dpop.is_none() {
            return Err(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "this client must send a DPoP proof with every token request",
            )
            .into());
        }
        let grant_type = request.grant_type();
        let (response, subject) = match request {
            TokenRequest::ClientCredentials { scope, resources } => {
                self.client_credentials(client, scope, resources, dpop)?
            }
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
                resources,
            } => {
                self.authorization_code(client, code, redirect_uri, code_verifier, resources, dpop)
                    .await?
            }
            TokenRequest::RefreshToken {
                refresh_token,
                scope,
                resources,
            } => {
                self.refresh_token(client, refresh_token, scope, resources, dpop)
                    .await?
            }
            TokenRequest::DeviceCode {
                device_code,
                resources,
            } => {
                self.device_code(client, device_code, resources, dpop)
                    .await?
            }
            TokenRequest::TokenExchange {
                subject_token,
                subject_token_type,
                actor_token,
                requested_token_type,
                scope,
                resources,
                audiences,
            } => {
                let request = token_exchange::Exchange {
                    subject_token,
                    subject_token_type,
                    actor_token,
                    requested_token_type,
                    scope,
                    resources,
                    audiences,
                };
                self.token_exchange(client, request, dpop).await?
            }
        };
        Ok(Issued {
            response,
            subject,
            grant_type,
        })
    }
}

/// `invalid_grant` (RFC 6749 5.2) with a fixed description.
fn invalid_grant(why: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, why)
}
