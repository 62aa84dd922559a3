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
    /// RFC 9101 6.2: the `request_uri` is unknown, used, expired or another client's.
    InvalidRequestUri,
    /// RFC 9101 6.2: the request object is invalid (signature, claims, replay).
    InvalidRequestObject,
    /// RFC 6750 section 3.1.
    InvalidToken,
    InsufficientScope,
    /// RFC 9449 7.1 and 5: the DPoP proof is missing where required, malformed or invalid.
    InvalidDpopProof,
    /// RFC 9449 8: the proof must carry the nonce the server provides in `DPoP-Nonce`.
    UseDpopNonce,
    /// RFC 8628 3.5: the user has not yet approved or denied the device's request.
    AuthorizationPending,
    /// RFC 8628 3.5: still pending, and the device polls too often; its interval grows by
    /// 5 seconds.
    SlowDown,
    /// RFC 8628 3.5: the device code expired; the device must start again.
    ExpiredToken,
    /// RFC 7591 3.2.2: a client metadata field is invalid or breaks a registration rule.
    InvalidClientMetadata,
    /// RFC 7591 3.2.2: a redirect URI (or post-logout redirect URI) is invalid.
    InvalidRedirectUri,
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
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::InvalidRequestObject => "invalid_request_object",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RFC 6749 error: a code and a description for the client developer.
///
/// The fields are private so that every description passes through [`OAuthError::new`],
/// which makes a description outside the character set of RFC 6749 5.2 and 4.1.2.1
/// impossible, whether it ends in a JSON body or in a redirect's query string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    code: ErrorCode,
    description: Cow<'static, str>,
}

/// RFC 6749 5.2 and 4.1.2.1: `error_description` is `1*( %x20-21 / %x23-5B / %x5D-7E )`,
/// printable ASCII without `"` and `\`.
const fn is_description_char(b: u8) -> bool {
    matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

/// What stands in for a character outside that set: itself in the set, and visibly a stand-in.
const REPLACEMENT: char = '?';

impl OAuthError {
    /// An error whose description is always within RFC 6749's character set: a static text
    /// that already is (all of ours) is kept as it is; any other character is replaced, one
    /// `?` per character, so that no text can break the JSON body or the redirect, and no
    /// request text (quotes, backslashes, non-ASCII, line breaks) is ever reflected as sent.
    /// The grammar asks for at least one character: an empty description becomes the code.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        let description = description.into();
        let description = if description.is_empty() {
            Cow::Borrowed(code.as_str())
        } else if description.bytes().all(is_description_char) {
            description
        } else {
            Cow::Owned(
                description
                    .chars()
                    .map(|c| match u8::try_from(c) {
                        Ok(b) if is_description_char(b) => c,
                        _ => REPLACEMENT,
                    })
                    .collect(),
            )
        };
        Self { code, description }
    }

    /// An internal failure, already logged by the caller; the client learns nothing more.
    pub fn server_error() -> Self {
        Self::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        )
    }

    /// The RFC 6749 error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The `error_description`: only characters RFC 6749 allows in it.
    pub fn description(&self) -> &str {
        &self.description
    }
}

/// A store failure as the client sees it, so that `?` works on store calls in protocol code:
/// a value the database refuses is the request's fault (`invalid_request`, never a 5xx-class
/// answer); anything else is a passing fault (`temporarily_unavailable`). The cause is logged
/// here with its chain and never reaches the client.
impl From<crate::StoreError> for OAuthError {
    fn from(e: crate::StoreError) -> Self {
        if let crate::StoreError::Unstorable(_) = e {
            tracing::warn!(error = %error_chain(&e), "the database refused a value");
            return Self::new(
                ErrorCode::InvalidRequest,
                "a value in the request cannot be accepted",
            );
        }
        tracing::error!(error = %error_chain(&e), "store failed");
        Self::new(ErrorCode::TemporarilyUnavailable, "try again later")
    }
}

/// Failure of an administrative operation (the Admin service, whatever its front end).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request breaks a rule (a field and why).
    #[error(transparent)]
    Invalid(#[from] crate::InvalidInput),
    /// The record the operation is about does not exist; the text names it.
    #[error("{0}")]
    NotFound(String),
    /// The Admin was built without a part this operation needs (names the part).
    #[error("{0} is not available to this admin front end")]
    Unavailable(&'static str),
    #[error(transparent)]
    Store(#[from] crate::StoreError),
    /// Creating, sealing or revoking a signing key failed.
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyManagerError),
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
    fn a_value_the_database_refuses_is_the_requests_fault() {
        use crate::StoreError;
        let refused = OAuthError::from(StoreError::Unstorable("NUL in text".into()));
        assert_eq!(refused.code(), ErrorCode::InvalidRequest);
        let failed = OAuthError::from(StoreError::Backend("connection reset".into()));
        assert_eq!(failed.code(), ErrorCode::TemporarilyUnavailable);
        assert!(!failed.description().contains("connection"));
    }

    #[test]
    fn codes_render_as_rfc_names() {
        assert_eq!(ErrorCode::InvalidClient.as_str(), "invalid_client");
        assert_eq!(ErrorCode::InvalidTarget.to_string(), "invalid_target");
        let err = OAuthError::new(ErrorCode::InvalidScope, "scope x is not allowed");
        assert_eq!(err.to_string(), "invalid_scope: scope x is not allowed");
    }

    #[test]
    fn an_allowed_static_description_is_kept_without_copying() {
        let err = OAuthError::new(ErrorCode::InvalidRequest, "a parameter is repeated (x!~[])");
        assert!(matches!(err.description, Cow::Borrowed(_)));
        assert_eq!(err.description(), "a parameter is repeated (x!~[])");
        assert_eq!(err.code(), ErrorCode::InvalidRequest);
    }

    #[test]
    fn characters_outside_rfc_6749_are_replaced_one_for_one() {
        for (given, expected) in [
            ("parameter x\"y is repeated", "parameter x?y is repeated"),
            ("parameter x\\y is repeated", "parameter x?y is repeated"),
            (
                "parameter \u{e9}t\u{e9} is repeated",
                "parameter ?t? is repeated",
            ),
            ("line\nbreak\r\ttab\u{7f}\u{0}", "line?break??tab??"),
            ("\u{1F600}", "?"),
        ] {
            let err = OAuthError::new(ErrorCode::InvalidRequest, given.to_owned());
            assert_eq!(err.description(), expected, "{given:?}");
        }
    }

    #[test]
    fn every_description_is_within_the_rfc_set() {
        // All 256 byte values and a few multi-byte characters, in one owned description.
        let mut all: String = (0u8..=255).map(char::from).collect();
        all.push_str("\u{2028}\u{feff}\u{1F600}");
        let err = OAuthError::new(ErrorCode::InvalidRequest, all);
        assert!(err.description().bytes().all(is_description_char));
        assert_eq!(err.description().chars().count(), 259);
        let empty = OAuthError::new(ErrorCode::InvalidGrant, String::new());
        assert_eq!(empty.description(), "invalid_grant");
    }
}
