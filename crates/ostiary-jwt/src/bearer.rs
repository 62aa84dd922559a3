//! An axum extractor for resource servers: RFC 6750 `Authorization: Bearer` only (no query or
//! form tokens), validated by a `RemoteValidator` from the application state, with RFC 6750
//! `WWW-Authenticate` answers.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::remote::RemoteValidator;
use crate::validate::{Claims, ValidationError};

/// The validated claims of the request's access token: an axum extractor for any state from
/// which an `Arc<RemoteValidator>` can be taken ([`FromRef`]). A missing or invalid token is
/// rejected with [`BearerError`] before the handler runs.
#[derive(Debug, Clone)]
pub struct BearerClaims(
    /// The claims, validated by the state's [`RemoteValidator`] (which the application
    /// configures for [`Profile::AccessToken`](crate::Profile::AccessToken)).
    pub Claims,
);

impl BearerClaims {
    /// 403 `insufficient_scope` unless the token's `scope` contains `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), BearerError> {
        let granted = self.0.str("scope").unwrap_or_default();
        if granted.split(' ').any(|s| s == scope) {
            Ok(())
        } else {
            Err(BearerError::InsufficientScope(scope.to_owned()))
        }
    }
}

/// Why a request was refused, answered as RFC 6750 section 3 says: a status and a
/// `WWW-Authenticate: Bearer` challenge, and no body.
#[derive(Debug)]
pub enum BearerError {
    /// No credentials: 401 with a bare challenge (RFC 6750 3.1).
    Missing,
    /// Malformed request (two Authorization headers, an empty Bearer credential): 400.
    InvalidRequest,
    /// 401 `invalid_token`, with a fixed description of the failed check.
    InvalidToken(&'static str),
    /// 403 `insufficient_scope`.
    InsufficientScope(String),
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        let (status, challenge) = match &self {
            Self::Missing => (StatusCode::UNAUTHORIZED, "Bearer".to_owned()),
            Self::InvalidRequest => (
                StatusCode::BAD_REQUEST,
                r#"Bearer error="invalid_request""#.to_owned(),
            ),
            Self::InvalidToken(why) => (
                StatusCode::UNAUTHORIZED,
                format!(r#"Bearer error="invalid_token", error_description="{why}""#),
            ),
            Self::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                format!(r#"Bearer error="insufficient_scope", scope="{scope}""#),
            ),
        };
        let mut response = status.into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }
}

impl<S> FromRequestParts<S> for BearerClaims
where
    Arc<RemoteValidator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = BearerError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(if parts.headers.contains_key(AUTHORIZATION) {
                BearerError::InvalidRequest
            } else {
                BearerError::Missing
            });
        };
        let value = value.to_str().map_err(|_| BearerError::InvalidRequest)?;
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            // Another authentication scheme: answer with the one this resource accepts.
            return Err(BearerError::Missing);
        }
        if token.trim().is_empty() {
            return Err(BearerError::InvalidRequest);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let validator = Arc::<RemoteValidator>::from_ref(state);
        let claims = validator
            .validate(token.trim(), now)
            .await
            .map_err(|e| BearerError::InvalidToken(describe(&e)))?;
        // RFC 9449 7.2: a DPoP-bound token presented as a plain Bearer token is refused.
        if claims.all.contains_key("cnf") {
            return Err(BearerError::InvalidToken(
                "the token is bound to a proof-of-possession key",
            ));
        }
        Ok(BearerClaims(claims))
    }
}

/// A fixed description per failed check: nothing from the token reaches the response header
/// (RFC 6750 3 limits `error_description` to printable ASCII without quotes or backslashes).
fn describe(error: &ValidationError) -> &'static str {
    match error {
        ValidationError::TooLarge => "the token is too large",
        ValidationError::Expired => "the token has expired",
        ValidationError::NotYetValid | ValidationError::IssuedInFuture => {
            "the token is not valid yet"
        }
        ValidationError::WrongIssuer => "the token is from another issuer",
        ValidationError::WrongAudience => "the token is not meant for this resource",
        ValidationError::WrongType => "the token is not an access token",
        ValidationError::UnknownKey | ValidationError::MissingKid => "the signing key is unknown",
        ValidationError::BadSignature => "the signature does not verify",
        ValidationError::MissingClaim(_) | ValidationError::InvalidClaim(_) => {
            "a claim is missing or invalid"
        }
        ValidationError::MissingAlgorithm
        | ValidationError::UnsupportedAlgorithm(_)
        | ValidationError::AlgorithmNotAllowed(_)
        | ValidationError::AlgorithmMismatch => "the signing algorithm is not accepted",
        ValidationError::ForbiddenHeader(_) | ValidationError::InvalidHeader(_) => {
            "a header parameter is refused"
        }
        ValidationError::Malformed(_) => "the token is malformed",
    }
}
