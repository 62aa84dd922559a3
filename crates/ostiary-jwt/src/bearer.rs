//! An axum extractor for resource servers: RFC 6750 `Authorization: Bearer` (no query or form
//! tokens) and, when the `RemoteValidator` from the application state is configured for it,
//! RFC 9449 `Authorization: DPoP` with its proof, answered with `WWW-Authenticate` challenges.

mod challenge;

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OriginalUri};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::remote::{DpopConfig, DpopFailure, RemoteValidator};
use crate::validate::{Claims, ValidationError};
use challenge::Scheme;
pub use challenge::{BearerError, DpopChallenge, Refusal};

/// The request header carrying the DPoP proof (RFC 9449 section 4.1).
const DPOP: &str = "dpop";

/// The validated claims of the request's access token: an axum extractor for any state from
/// which an `Arc<RemoteValidator>` can be taken ([`FromRef`]). A missing or invalid token is
/// rejected with [`BearerError`] before the handler runs.
///
/// Without [`RemoteValidator::with_dpop`] only `Authorization: Bearer` is accepted and a token
/// bound to a key (`cnf`) is refused. With it, `Authorization: DPoP <token>` plus one `DPoP`
/// proof header is accepted too (RFC 9449 section 7.1), for bound tokens only; bound tokens
/// are still refused as Bearer (section 7.2). [`dpop_jkt`](Self::dpop_jkt) tells which.
///
/// With [`RemoteValidator::with_resource_metadata`], every challenge of a rejection also
/// names the resource's RFC 9728 metadata URL (`resource_metadata`, section 5.1).
#[derive(Debug, Clone)]
pub struct BearerClaims(
    /// The claims, validated by the state's [`RemoteValidator`] (which the application
    /// configures for [`Profile::AccessToken`](crate::Profile::AccessToken)).
    pub Claims,
);

impl BearerClaims {
    /// 403 `insufficient_scope` unless the token's `scope` contains `scope`, challenged under
    /// the scheme the token came with.
    pub fn require_scope(&self, scope: &str) -> Result<(), BearerError> {
        let granted = self.0.str("scope").unwrap_or_default();
        if granted.split(' ').any(|s| s == scope) {
            Ok(())
        } else if self.dpop_jkt().is_some() {
            Err(Refusal::Dpop(DpopChallenge::insufficient_scope(scope)).into())
        } else {
            Err(Refusal::InsufficientScope(scope.to_owned()).into())
        }
    }

    /// The RFC 7638 thumbprint (base64url, 43 characters) of the key whose possession the
    /// request proved, when it came under the DPoP scheme; `None` for a Bearer token.
    ///
    /// It is read from the token's `cnf.jkt`: the extractor lets a token carrying `cnf` through
    /// only under the DPoP scheme, after a valid proof made with the key of exactly that
    /// thumbprint (RFC 9449 section 6.1), so the token's binding and the proof's key agree.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.0.all.get("cnf")?.get("jkt")?.as_str()
    }
}

impl<S> FromRequestParts<S> for BearerClaims
where
    Arc<RemoteValidator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = BearerError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let validator = Arc::<RemoteValidator>::from_ref(state);
        let result = match validator.dpop() {
            Some(dpop) => bearer_or_dpop(parts, &validator, dpop).await,
            None => bearer_only(parts, &validator).await,
        };
        // RFC 9728 5.1: every challenge names the metadata URL when the resource has one.
        result.map_err(|refusal| {
            BearerError::for_resource(refusal, validator.resource_metadata.clone())
        })
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The one Authorization header split into scheme and credential, or why not.
enum Authorization<'a> {
    Absent,
    Malformed,
    Present {
        scheme: &'a str,
        credential: &'a str,
    },
}

fn authorization(parts: &Parts) -> Authorization<'_> {
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return if parts.headers.contains_key(AUTHORIZATION) {
            Authorization::Malformed
        } else {
            Authorization::Absent
        };
    };
    let Ok(value) = value.to_str() else {
        return Authorization::Malformed;
    };
    let (scheme, credential) = value.split_once(' ').unwrap_or((value, ""));
    Authorization::Present {
        scheme,
        credential: credential.trim(),
    }
}

/// RFC 6750 only: what every resource without a DPoP configuration answers.
async fn bearer_only(parts: &Parts, validator: &RemoteValidator) -> Result<BearerClaims, Refusal> {
    let token = match authorization(parts) {
        Authorization::Absent => return Err(Refusal::Missing),
        Authorization::Malformed => return Err(Refusal::InvalidRequest),
        // Another authentication scheme (DPoP included): answer with the one accepted.
        Authorization::Present { scheme, .. } if !scheme.eq_ignore_ascii_case("bearer") => {
            return Err(Refusal::Missing);
        }
        Authorization::Present { credential: "", .. } => {
            return Err(Refusal::InvalidRequest);
        }
        Authorization::Present { credential, .. } => credential,
    };
    let claims = validator
        .validate(token, unix_now())
        .await
        .map_err(|e| Refusal::InvalidToken(describe(&e)))?;
    // RFC 9449 7.2: a DPoP-bound token presented as a plain Bearer token is refused.
    if claims.all.contains_key("cnf") {
        return Err(Refusal::InvalidToken(
            "the token is bound to a proof-of-possession key",
        ));
    }
    Ok(BearerClaims(claims))
}

/// RFC 6750 and RFC 9449 side by side: Bearer for unbound tokens, DPoP for bound ones.
async fn bearer_or_dpop(
    parts: &Parts,
    validator: &RemoteValidator,
    dpop: &DpopConfig,
) -> Result<BearerClaims, Refusal> {
    let refuse = |challenge| Err(Refusal::Dpop(challenge));
    let (scheme, token) = match authorization(parts) {
        Authorization::Absent => return refuse(DpopChallenge::missing(dpop)),
        Authorization::Malformed => {
            return refuse(DpopChallenge::invalid_request(Scheme::Both, dpop));
        }
        Authorization::Present { scheme, credential } => {
            let scheme = if scheme.eq_ignore_ascii_case("bearer") {
                Scheme::Bearer
            } else if scheme.eq_ignore_ascii_case("dpop") {
                Scheme::Dpop
            } else {
                return refuse(DpopChallenge::missing(dpop));
            };
            if credential.is_empty() {
                return refuse(DpopChallenge::invalid_request(scheme, dpop));
            }
            (scheme, credential)
        }
    };
    let now = unix_now();
    if scheme == Scheme::Bearer {
        let claims = match validator.validate(token, now).await {
            Ok(claims) => claims,
            Err(e) => return refuse(DpopChallenge::invalid_token(scheme, describe(&e), dpop)),
        };
        // RFC 9449 7.2: a bound token as Bearer would let whoever stole it use it without the
        // key. The challenge says which scheme it needs. `dpop_jkt` relies on this refusal.
        if claims.all.contains_key("cnf") {
            return refuse(DpopChallenge::invalid_token(
                Scheme::Dpop,
                "the token is bound to a key: present it with the DPoP scheme and a proof",
                dpop,
            ));
        }
        return Ok(BearerClaims(claims));
    }
    // RFC 9449 4.3 step 1: exactly one DPoP header.
    let mut proofs = parts.headers.get_all(DPOP).iter();
    let (Some(proof), None) = (proofs.next(), proofs.next()) else {
        return refuse(DpopChallenge::invalid_proof(
            "exactly one DPoP proof header is required",
            dpop,
        ));
    };
    let Ok(proof) = proof.to_str() else {
        return refuse(DpopChallenge::invalid_proof(
            "the DPoP proof is malformed",
            dpop,
        ));
    };
    // The path as the client sent it: a router nested under a prefix sees a shortened URI,
    // while the client's `htu` names the full one.
    let path = parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.path(), |original| original.0.path());
    let method = parts.method.as_str();
    match validator
        .validate_dpop(token, proof.trim(), method, path, now)
        .await
    {
        Ok((claims, _)) => Ok(BearerClaims(claims)),
        Err(failure) => refuse(refusal(&failure, dpop)),
    }
}

/// The challenge for a DPoP request `validate_dpop` refused.
fn refusal(failure: &DpopFailure, dpop: &DpopConfig) -> DpopChallenge {
    match failure {
        DpopFailure::Token(e) => DpopChallenge::invalid_token(Scheme::Dpop, describe(e), dpop),
        DpopFailure::Unbound => DpopChallenge::invalid_token(
            Scheme::Dpop,
            "the token is not bound to a key: present it with the Bearer scheme",
            dpop,
        ),
        // RFC 9449 7.1 answers a failed key binding with invalid_token: the token is what
        // cannot be used by this key.
        DpopFailure::KeyMismatch => DpopChallenge::invalid_token(
            Scheme::Dpop,
            "the token is bound to another key than the proof's",
            dpop,
        ),
        DpopFailure::Proof(e) => DpopChallenge::invalid_proof(describe_proof(e), dpop),
        DpopFailure::Replayed => {
            DpopChallenge::invalid_proof("the DPoP proof was already used", dpop)
        }
        DpopFailure::Busy { retry_after_secs } => DpopChallenge::busy(*retry_after_secs, dpop),
        // Not reached: the extractor calls `validate_dpop` only with a configuration.
        DpopFailure::NotConfigured => DpopChallenge::missing(dpop),
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

/// The same for a DPoP proof (RFC 9449 section 4.3), by the check that failed.
fn describe_proof(error: &ValidationError) -> &'static str {
    match error {
        ValidationError::InvalidClaim("htm") | ValidationError::InvalidClaim("htu") => {
            "the DPoP proof is for another request"
        }
        ValidationError::InvalidClaim("ath") | ValidationError::MissingClaim("ath") => {
            "the DPoP proof is for another access token"
        }
        ValidationError::Expired | ValidationError::IssuedInFuture => "the DPoP proof is not fresh",
        ValidationError::MissingClaim(_)
        | ValidationError::InvalidClaim(_)
        | ValidationError::NotYetValid
        | ValidationError::WrongIssuer
        | ValidationError::WrongAudience => "a DPoP proof claim is missing or invalid",
        ValidationError::WrongType => "the DPoP proof is not typed dpop+jwt",
        ValidationError::BadSignature => "the DPoP proof signature does not verify",
        ValidationError::MissingAlgorithm
        | ValidationError::UnsupportedAlgorithm(_)
        | ValidationError::AlgorithmNotAllowed(_)
        | ValidationError::AlgorithmMismatch => "the DPoP proof algorithm is not accepted",
        ValidationError::ForbiddenHeader(_) => {
            "the DPoP proof header carries a parameter that is refused"
        }
        ValidationError::InvalidHeader(_)
        | ValidationError::UnknownKey
        | ValidationError::MissingKid => "the DPoP proof key is refused",
        ValidationError::TooLarge => "the DPoP proof is too large",
        ValidationError::Malformed(_) => "the DPoP proof is malformed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_proof_header_parameter_is_not_called_a_key() {
        assert_eq!(
            describe_proof(&ValidationError::ForbiddenHeader("jku")),
            "the DPoP proof header carries a parameter that is refused"
        );
        assert_eq!(
            describe_proof(&ValidationError::InvalidHeader("jwk")),
            "the DPoP proof key is refused"
        );
    }
}
