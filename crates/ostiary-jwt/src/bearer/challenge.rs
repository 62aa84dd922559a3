//! How the `bearer` extractor refuses a request: a status and RFC 6750 / RFC 9449
//! `WWW-Authenticate` challenges, naming the RFC 9728 metadata URL when the resource has one.

use std::sync::Arc;

use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::protected_resource::ProtectedResourceMetadata;
use crate::remote::DpopConfig;

/// A refused request, answered as RFC 6750 section 3 says: a status and `WWW-Authenticate`
/// challenges, and no body. What went wrong is its [`Refusal`].
///
/// When the resource publishes protected resource metadata
/// ([`RemoteValidator::with_resource_metadata`](crate::remote::RemoteValidator::with_resource_metadata)),
/// every challenge the extractor answers with ends with `resource_metadata="<metadata URL>"`
/// (RFC 9728 section 5.1), under both schemes when DPoP is configured:
///
/// ```text
/// WWW-Authenticate: Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"
/// WWW-Authenticate: Bearer error="invalid_token", error_description="the token has expired",
///     resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"
/// ```
///
/// A 403 from [`BearerClaims::require_scope`](super::BearerClaims::require_scope) does not
/// carry it (the claims do not know the validator); add it with
/// [`with_resource_metadata`](Self::with_resource_metadata) if wanted.
#[derive(Debug)]
pub struct BearerError {
    refusal: Refusal,
    /// The RFC 9728 metadata URL, from a validated [`ProtectedResourceMetadata`]: printable
    /// ASCII without `"` or `\`.
    resource_metadata: Option<Arc<str>>,
}

/// Why a request was refused.
#[derive(Debug)]
pub enum Refusal {
    /// No credentials, or another scheme: 401 with a bare challenge (RFC 6750 3.1).
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

impl From<Refusal> for BearerError {
    fn from(refusal: Refusal) -> Self {
        Self {
            refusal,
            resource_metadata: None,
        }
    }
}

impl BearerError {
    /// A refusal whose challenges name `resource_metadata` (a validated metadata URL), if any.
    pub(super) fn for_resource(refusal: Refusal, resource_metadata: Option<Arc<str>>) -> Self {
        Self {
            refusal,
            resource_metadata,
        }
    }

    /// Names `metadata`'s URL in every challenge of this refusal (RFC 9728 section 5.1), e.g.
    /// on a 403 from [`BearerClaims::require_scope`](super::BearerClaims::require_scope).
    pub fn with_resource_metadata(mut self, metadata: &ProtectedResourceMetadata) -> Self {
        self.resource_metadata = Some(Arc::from(metadata.location().url()));
        self
    }

    /// What went wrong.
    pub fn refusal(&self) -> &Refusal {
        &self.refusal
    }

    /// The metadata URL the challenges name, if any.
    pub fn resource_metadata(&self) -> Option<&str> {
        self.resource_metadata.as_deref()
    }
}

/// The scheme whose challenge carries the error; the other scheme's is advertised bare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    Bearer,
    Dpop,
    /// The scheme is unknown (two Authorization headers) or beside the point (no
    /// credentials): both challenges carry the same error, if any.
    Both,
}

/// How a resource that accepts both Bearer and DPoP refuses a request: a status, an error code
/// of RFC 6750 section 3.1 or RFC 9449 section 7.1 with a fixed description, and a
/// `WWW-Authenticate` value per scheme, the one carrying the error first; the DPoP one lists
/// the accepted proof algorithms (`algs`). Each also names the metadata URL when the
/// [`BearerError`] has one.
///
/// | refusal | status | challenges |
/// |---|---|---|
/// | no credentials, or another scheme | 401 | `Bearer`; `DPoP algs="ES256 RS256 EdDSA Ed25519"` |
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
    /// [`BearerClaims::require_scope`](super::BearerClaims::require_scope), where the
    /// client's proof was accepted anyway).
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

    pub(super) fn missing(dpop: &DpopConfig) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, Scheme::Both, dpop)
    }

    pub(super) fn invalid_request(scheme: Scheme, dpop: &DpopConfig) -> Self {
        Self {
            error: Some("invalid_request"),
            ..Self::new(StatusCode::BAD_REQUEST, scheme, dpop)
        }
    }

    pub(super) fn invalid_token(scheme: Scheme, why: &'static str, dpop: &DpopConfig) -> Self {
        Self {
            error: Some("invalid_token"),
            description: Some(why),
            ..Self::new(StatusCode::UNAUTHORIZED, scheme, dpop)
        }
    }

    pub(super) fn invalid_proof(why: &'static str, dpop: &DpopConfig) -> Self {
        Self {
            error: Some("invalid_dpop_proof"),
            description: Some(why),
            ..Self::new(StatusCode::UNAUTHORIZED, Scheme::Dpop, dpop)
        }
    }

    pub(super) fn busy(retry_after: u64, dpop: &DpopConfig) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, Scheme::Dpop, dpop)
        }
    }

    pub(super) fn insufficient_scope(scope: &str) -> Self {
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

    /// The challenges, the one carrying the error first. A 403 challenges only under the
    /// request's scheme, and a 503 not at all: neither asks for other credentials.
    fn challenges(&self) -> Vec<Challenge> {
        let mut params = Vec::new();
        if let Some(error) = self.error {
            params.push(("error", error.to_owned()));
        }
        if let Some(description) = self.description {
            params.push(("error_description", description.to_owned()));
        }
        if let Some(scope) = &self.scope {
            params.push(("scope", scope.clone()));
        }
        let dpop = |params: &[Param]| {
            let mut params = params.to_vec();
            if let Some(algs) = &self.algs {
                params.push(("algs", algs.clone()));
            }
            Challenge::new("DPoP", params)
        };
        let bearer = |params: &[Param]| Challenge::new("Bearer", params.to_vec());
        match (self.status, self.scheme) {
            (StatusCode::SERVICE_UNAVAILABLE, _) => Vec::new(),
            (StatusCode::FORBIDDEN, Scheme::Dpop) => vec![dpop(&params)],
            (StatusCode::FORBIDDEN, _) => vec![bearer(&params)],
            (_, Scheme::Bearer) => vec![bearer(&params), dpop(&[])],
            (_, Scheme::Dpop) => vec![dpop(&params), bearer(&[])],
            (_, Scheme::Both) => vec![bearer(&params), dpop(&params)],
        }
    }
}

/// An auth-param: its name and its value, unquoted.
type Param = (&'static str, String);

/// One `WWW-Authenticate` challenge (RFC 7235 section 2.1): a scheme and its auth-params.
struct Challenge {
    scheme: &'static str,
    params: Vec<Param>,
}

impl Challenge {
    fn new(scheme: &'static str, params: Vec<Param>) -> Self {
        Self { scheme, params }
    }

    /// `Scheme name="value", ...`, with `resource_metadata` last when given; a challenge
    /// without parameters is the bare scheme.
    fn render(&self, resource_metadata: Option<&str>) -> String {
        let params = self
            .params
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .chain(resource_metadata.map(|url| ("resource_metadata", url)));
        let mut rendered = self.scheme.to_owned();
        for (i, (name, value)) in params.enumerate() {
            rendered.push_str(if i == 0 { " " } else { ", " });
            rendered.push_str(name);
            rendered.push('=');
            push_quoted(&mut rendered, value);
        }
        rendered
    }
}

/// An RFC 7235 quoted-string: `"` and `\` escaped as quoted-pairs. The values are fixed texts,
/// algorithm names, the scope the application requires and the metadata URL (which the URL
/// standard writes with `"` percent-encoded and no `\`), so nothing needs escaping today; this
/// keeps a future value from ending the string early.
fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        let error = |code: &str| ("error", code.to_owned());
        let (status, challenges, retry_after) = match &self.refusal {
            Refusal::Missing => (
                StatusCode::UNAUTHORIZED,
                vec![Challenge::new("Bearer", Vec::new())],
                None,
            ),
            Refusal::InvalidRequest => (
                StatusCode::BAD_REQUEST,
                vec![Challenge::new("Bearer", vec![error("invalid_request")])],
                None,
            ),
            Refusal::InvalidToken(why) => (
                StatusCode::UNAUTHORIZED,
                vec![Challenge::new(
                    "Bearer",
                    vec![
                        error("invalid_token"),
                        ("error_description", (*why).to_owned()),
                    ],
                )],
                None,
            ),
            Refusal::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                vec![Challenge::new(
                    "Bearer",
                    vec![error("insufficient_scope"), ("scope", scope.clone())],
                )],
                None,
            ),
            Refusal::Dpop(challenge) => (
                challenge.status,
                challenge.challenges(),
                challenge.retry_after,
            ),
        };
        let mut response = status.into_response();
        for challenge in challenges {
            // Only a scope outside printable ASCII could fail here; it is dropped rather than
            // sent broken.
            if let Ok(value) = HeaderValue::from_str(&challenge.render(self.resource_metadata())) {
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
