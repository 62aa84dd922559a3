//! An axum extractor for resource servers: RFC 6750 `Authorization: Bearer` (no query or form
//! tokens) and, when the `RemoteValidator` from the application state is configured for it,
//! RFC 9449 `Authorization: DPoP` with its proof, answered with `WWW-Authenticate` challenges.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OriginalUri};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::remote::{DpopConfig, DpopFailure, RemoteValidator};
use crate::validate::{Claims, ValidationError};

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
            Err(BearerError::Dpop(DpopChallenge::insufficient_scope(scope)))
        } else {
            Err(BearerError::InsufficientScope(scope.to_owned()))
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

/// Why a request was refused, answered as RFC 6750 section 3 says: a status and a
/// `WWW-Authenticate: Bearer` challenge, and no body. A resource that also accepts DPoP
/// answers with [`BearerError::Dpop`] instead.
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
    /// A refusal by a resource configured for DPoP as well (RFC 9449 sections 7.1 and 7.2),
    /// whatever the scheme of the request: it challenges for both schemes.
    Dpop(DpopChallenge),
}

/// The scheme whose challenge carries the error; the other scheme's is advertised bare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Dpop,
    /// The scheme is unknown (two Authorization headers) or beside the point (no
    /// credentials): both challenges carry the same error, if any.
    Both,
}

/// How a resource that accepts both Bearer and DPoP refuses a request: a status, an error code
/// of RFC 6750 section 3.1 or RFC 9449 section 7.1 with a fixed description, and a
/// `WWW-Authenticate` value per scheme, the one carrying the error first; the DPoP one lists
/// the accepted proof algorithms (`algs`).
///
/// | refusal | status | challenges |
/// |---|---|---|
/// | no credentials, or another scheme | 401 | `Bearer`; `DPoP algs="ES256 RS256 EdDSA"` |
/// | two Authorization headers, an empty credential | 400 | `invalid_request` |
/// | invalid token, bound token as Bearer, unbound token as DPoP, proof of another key | 401 | `invalid_token` |
/// | no or several `DPoP` headers, invalid or replayed proof | 401 | `DPoP error="invalid_dpop_proof"` |
/// | scope not granted | 403 | `insufficient_scope` under the request's scheme only |
/// | replay cache full | 503 | none; `Retry-After` in seconds |
#[derive(Debug, Clone)]
pub struct DpopChallenge {
    status: StatusCode,
    scheme: Scheme,
    error: Option<&'static str>,
    description: Option<&'static str>,
    scope: Option<String>,
    /// The `algs` parameter; `None` where the configuration is not at hand (403 from
    /// [`BearerClaims::require_scope`], where the client's proof was accepted anyway).
    algs: Option<String>,
    retry_after: Option<u64>,
}

impl DpopChallenge {
    fn new(status: StatusCode, scheme: Scheme, dpop: &DpopConfig) -> Self {
        Self {
            status,
            scheme,
            error: None,
            description: None,
            scope: None,
            algs: Some(dpop.algs_param()),
            retry_after: None,
        }
    }

    fn missing(dpop: &DpopConfig) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, Scheme::Both, dpop)
    }

    fn invalid_request(scheme: Scheme, dpop: &DpopConfig) -> Self {
        Self {
            error: Some("invalid_request"),
            ..Self::new(StatusCode::BAD_REQUEST, scheme, dpop)
        }
    }

    fn invalid_token(scheme: Scheme, why: &'static str, dpop: &DpopConfig) -> Self {
        Self {
            error: Some("invalid_token"),
            description: Some(why),
            ..Self::new(StatusCode::UNAUTHORIZED, scheme, dpop)
        }
    }

    fn invalid_proof(why: &'static str, dpop: &DpopConfig) -> Self {
        Self {
            error: Some("invalid_dpop_proof"),
            description: Some(why),
            ..Self::new(StatusCode::UNAUTHORIZED, Scheme::Dpop, dpop)
        }
    }

    fn busy(retry_after: u64, dpop: &DpopConfig) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, Scheme::Dpop, dpop)
        }
    }

    fn insufficient_scope(scope: &str) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            scheme: Scheme::Dpop,
            error: Some("insufficient_scope"),
            description: None,
            scope: Some(scope.to_owned()),
            algs: None,
            retry_after: None,
        }
    }

    /// The response status: 400, 401, 403 or 503.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code (`invalid_request`, `invalid_token`, `invalid_dpop_proof`,
    /// `insufficient_scope`), or `None` when credentials are missing or the server is busy.
    pub fn error(&self) -> Option<&'static str> {
        self.error
    }

    /// The fixed `error_description`, if any: never text from the request.
    pub fn description(&self) -> Option<&'static str> {
        self.description
    }

    /// The `WWW-Authenticate` values, the one carrying the error first. A 403 challenges only
    /// under the request's scheme, and a 503 not at all: neither asks for other credentials.
    fn challenges(&self) -> Vec<String> {
        let mut params = Vec::new();
        if let Some(error) = self.error {
            params.push(format!(r#"error="{error}""#));
        }
        if let Some(description) = self.description {
            params.push(format!(r#"error_description="{description}""#));
        }
        if let Some(scope) = &self.scope {
            params.push(format!(r#"scope="{scope}""#));
        }
        let with_params = |scheme: &str, params: &[String]| {
            if params.is_empty() {
                scheme.to_owned()
            } else {
                format!("{scheme} {}", params.join(", "))
            }
        };
        let dpop = |params: &[String]| {
            let mut params = params.to_vec();
            if let Some(algs) = &self.algs {
                params.push(format!(r#"algs="{algs}""#));
            }
            with_params("DPoP", &params)
        };
        match (self.status, self.scheme) {
            (StatusCode::SERVICE_UNAVAILABLE, _) => Vec::new(),
            (StatusCode::FORBIDDEN, Scheme::Dpop) => vec![dpop(&params)],
            (StatusCode::FORBIDDEN, _) => vec![with_params("Bearer", &params)],
            (_, Scheme::Bearer) => vec![with_params("Bearer", &params), dpop(&[])],
            (_, Scheme::Dpop) => vec![dpop(&params), "Bearer".to_owned()],
            (_, Scheme::Both) => vec![with_params("Bearer", &params), dpop(&params)],
        }
    }
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        let (status, challenges, retry_after) = match &self {
            Self::Missing => (StatusCode::UNAUTHORIZED, vec!["Bearer".to_owned()], None),
            Self::InvalidRequest => (
                StatusCode::BAD_REQUEST,
                vec![r#"Bearer error="invalid_request""#.to_owned()],
                None,
            ),
            Self::InvalidToken(why) => (
                StatusCode::UNAUTHORIZED,
                vec![format!(
                    r#"Bearer error="invalid_token", error_description="{why}""#
                )],
                None,
            ),
            Self::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                vec![format!(
                    r#"Bearer error="insufficient_scope", scope="{scope}""#
                )],
                None,
            ),
            Self::Dpop(challenge) => (
                challenge.status,
                challenge.challenges(),
                challenge.retry_after,
            ),
        };
        let mut response = status.into_response();
        for challenge in challenges {
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.headers_mut().append(WWW_AUTHENTICATE, value);
            }
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
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
        let validator = Arc::<RemoteValidator>::from_ref(state);
        match validator.dpop() {
            Some(dpop) => bearer_or_dpop(parts, &validator, dpop).await,
            None => bearer_only(parts, &validator).await,
        }
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
async fn bearer_only(
    parts: &Parts,
    validator: &RemoteValidator,
) -> Result<BearerClaims, BearerError> {
    let token = match authorization(parts) {
        Authorization::Absent => return Err(BearerError::Missing),
        Authorization::Malformed => return Err(BearerError::InvalidRequest),
        // Another authentication scheme (DPoP included): answer with the one accepted.
        Authorization::Present { scheme, .. } if !scheme.eq_ignore_ascii_case("bearer") => {
            return Err(BearerError::Missing);
        }
        Authorization::Present { credential: "", .. } => {
            return Err(BearerError::InvalidRequest);
        }
        Authorization::Present { credential, .. } => credential,
    };
    let claims = validator
        .validate(token, unix_now())
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

/// RFC 6750 and RFC 9449 side by side: Bearer for unbound tokens, DPoP for bound ones.
async fn bearer_or_dpop(
    parts: &Parts,
    validator: &RemoteValidator,
    dpop: &DpopConfig,
) -> Result<BearerClaims, BearerError> {
    let refuse = |challenge| Err(BearerError::Dpop(challenge));
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
        ValidationError::ForbiddenHeader(_)
        | ValidationError::InvalidHeader(_)
        | ValidationError::UnknownKey
        | ValidationError::MissingKid => "the DPoP proof key is refused",
        ValidationError::TooLarge => "the DPoP proof is too large",
        ValidationError::Malformed(_) => "the DPoP proof is malformed",
    }
}
