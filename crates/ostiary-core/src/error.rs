//! The one protocol error type: an RFC 6749 error code with a human-readable description.
//!
//! The server renders it (status, `WWW-Authenticate`, `Cache-Control: no-store`) in one place.
//! Descriptions are written for the client developer and never carry internal causes: those
//! are logged where they happen and reach the client only as `server_error`.

use std::borrow::Cow;

/// Error codes of RFC 6749 sections 4.1.2.1 and 5.2, plus those later RFCs added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    /// RFC 8707: the requested resource is not one the client may get a token for.
    InvalidTarget,
    /// RFC 7009: the server does not support revoking this kind of token.
    UnsupportedTokenType,
    /// OpenID Connect Core 3.1.2.6.
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    /// RFC 6750 section 3.1.
    InvalidToken,
    InsufficientScope,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidTarget => "invalid_target",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    /// An internal failure, already logged by the caller; the client learns nothing more.
    pub fn server_error() -> Self {
        Self::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        )
    }
}

/// Failure of an administrative operation (CLI, later an admin API).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Invalid(#[from] crate::InvalidInput),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] crate::StoreError),
}

/// An error with all its causes, for logs only: never for a response body.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_render_as_rfc_names() {
        assert_eq!(ErrorCode::InvalidClient.as_str(), "invalid_client");
        assert_eq!(ErrorCode::InvalidTarget.to_string(), "invalid_target");
        let err = OAuthError::new(ErrorCode::InvalidScope, "scope x is not allowed");
        assert_eq!(err.to_string(), "invalid_scope: scope x is not allowed");
    }
}
