//! OAuth 2.0 Protected Resource Metadata (RFC 9728) for a resource server: the document, the
//! well-known URL it is published at, and (feature `axum`) the route serving it.

use std::sync::Arc;

use serde::Serialize;
use url::Url;

use crate::Algorithm;
use crate::remote::{DpopConfig, RemoteValidator};

/// The well-known path of RFC 9728 section 3 (registered in its section 8.3), before the
/// resource identifier's own path is appended.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// Where a resource's metadata document lives (RFC 9728 section 3.1): the absolute URL that
/// clients fetch and that `resource_metadata` challenges name, and the path to route it on.
///
/// Built by [`metadata_location`] or kept by a [`ProtectedResourceMetadata`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataLocation {
    url: String,
    path: String,
}

impl MetadataLocation {
    /// The metadata URL, e.g. `https://api.example.com/.well-known/oauth-protected-resource/mcp`:
    /// printable ASCII without `"`, `\` or spaces, so it fits an RFC 7235 quoted-string as is.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The path of [`url`](Self::url), e.g. `/.well-known/oauth-protected-resource/mcp`: what
    /// the resource server routes at the root of its origin (not under a nested prefix).
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// Why a [`ProtectedResourceMetadata`] (or a [`metadata_location`]) was refused. Each variant
/// holds the text given, so the operator sees which setting to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// The resource identifier is not an absolute `https` (or, for development, `http`) URL
    /// with a host, or it has a query, a fragment or credentials (RFC 9728 section 1.2 and
    /// RFC 8707 section 2: no fragment, and a query is discouraged; both are refused here), or
    /// a path segment starting with `:` or `*`, which axum would route as a capture.
    ///
    /// RFC 9728 wants `https`. Plain `http` is accepted on any host, as a development issuer
    /// is; refusing it in production is the application's setting to make (a resource server
    /// in production fetches its JWKS over `https` anyway, see `RemoteValidator::new`).
    #[error(
        "the resource identifier must be an absolute https (or http) URL without query, \
         fragment or credentials: {0}"
    )]
    Resource(String),
    /// The resource identifier is valid but not written as the URL standard normalises it
    /// (lower-case scheme and host, no default port, no dot segments, percent-encoded): the
    /// identifier is echoed and compared byte for byte (RFC 9728 section 3.3), so it is
    /// refused rather than published in one spelling and routed in another.
    #[error("the resource identifier {given} is not in normal form; write it as {normal}")]
    ResourceNotNormal {
        /// The identifier as given.
        given: String,
        /// The same URL as the URL standard writes it.
        normal: String,
    },
    /// A URL member (`authorization_servers`, `jwks_uri`, `resource_documentation`) is not an
    /// absolute `https` or `http` URL, or carries a fragment, credentials or whitespace; an
    /// authorization server's issuer may not have a query either (RFC 8414 section 2).
    #[error("{field} must be an absolute https (or http) URL without fragment: {value}")]
    Url {
        /// The metadata member, as RFC 9728 section 2 names it.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// A scope is not an RFC 6749 section 3.3 scope-token: empty, or containing a space, `"`,
    /// `\` or a character outside printable ASCII.
    #[error("not a scope token: {0:?}")]
    Scope(String),
}

/// The metadata URL and its path for the resource identifier `resource` (RFC 9728 section
/// 3.1): [`WELL_KNOWN_PATH`] is inserted between the host (and port) and the path, whose
/// terminating slash is removed first.
///
/// | resource | metadata URL |
/// |---|---|
/// | `https://api.example.com` or `https://api.example.com/` | `https://api.example.com/.well-known/oauth-protected-resource` |
/// | `https://api.example.com/mcp` or `.../mcp/` | `https://api.example.com/.well-known/oauth-protected-resource/mcp` |
/// | `http://127.0.0.1:3000/v1` | `http://127.0.0.1:3000/.well-known/oauth-protected-resource/v1` |
///
/// Errors: [`MetadataError::Resource`] or [`MetadataError::ResourceNotNormal`].
///
/// ```
/// use ostiary_jwt::protected_resource::metadata_location;
///
/// let location = metadata_location("https://api.example.com/mcp").unwrap();
/// assert_eq!(
///     location.url(),
///     "https://api.example.com/.well-known/oauth-protected-resource/mcp"
/// );
/// assert_eq!(location.path(), "/.well-known/oauth-protected-resource/mcp");
/// assert!(metadata_location("https://api.example.com/mcp?tenant=1").is_err());
/// ```
pub fn metadata_location(resource: &str) -> Result<MetadataLocation, MetadataError> {
    let invalid = || MetadataError::Resource(resource.to_owned());
    let url = Url::parse(resource).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "https" | "http")
        || url.host().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(invalid());
    }
    // A bare origin may be written without its final slash: `https://api.example.com` is the
    // usual spelling of an audience.
    let normal = url.as_str();
    if resource != normal && !(url.path() == "/" && normal.strip_suffix('/') == Some(resource)) {
        return Err(MetadataError::ResourceNotNormal {
            given: resource.to_owned(),
            normal: normal.to_owned(),
        });
    }
    let own_path = url.path().trim_end_matches('/');
    // axum 0.8 refuses (panics on) literal segments starting with `:` or `*`, even when a
    // router is merged into another, so such an identifier could not be served.
    if own_path.split('/').any(|s| s.starts_with([':', '*'])) {
        return Err(invalid());
    }
    let path = format!("{WELL_KNOWN_PATH}{own_path}");
    // The URL standard writes an http(s) URL in printable ASCII and percent-encodes `"`, `\`
    // becomes `/`, and credentials, query and fragment were refused above: the URL needs no
    // escaping inside a quoted-string.
    let url = format!("{}{path}", url.origin().ascii_serialization());
    Ok(MetadataLocation { url, path })
}

/// The protected resource metadata document of RFC 9728 section 2, as a resource server
/// accepting Ostiary's access tokens publishes it. Serialised as JSON with only the members
/// that have a value (absent members have no default meaning beyond what the RFC gives):
///
/// ```json
/// { "resource": "https://api.example.com/mcp",
///   "authorization_servers": ["https://id.example.com"],
///   "scopes_supported": ["orders:read"],
///   "bearer_methods_supported": ["header"],
///   "dpop_signing_alg_values_supported": ["ES256", "RS256", "EdDSA", "Ed25519"],
///   "dpop_bound_access_tokens_required": false }
/// ```
///
/// - `resource` (required) is checked by [`new`](Self::new), which also derives the
///   [`MetadataLocation`]; the other URLs are checked by their builders.
/// - `bearer_methods_supported` is always `["header"]`: the `bearer::BearerClaims` extractor
///   reads tokens from the Authorization header only (RFC 6750 section 2.1).
/// - The DPoP members appear only after [`with_dpop`](Self::with_dpop).
///
/// Serve it with `router` (feature `axum`) and name it in challenges with
/// [`RemoteValidator::with_resource_metadata`].
///
/// ```
/// use ostiary_jwt::protected_resource::ProtectedResourceMetadata;
///
/// let metadata = ProtectedResourceMetadata::new("https://api.example.com")?
///     .with_authorization_server("https://id.example.com")?
///     .with_scopes_supported(["orders:read"])?;
/// assert_eq!(
///     metadata.location().url(),
///     "https://api.example.com/.well-known/oauth-protected-resource"
/// );
/// assert_eq!(
///     serde_json::to_value(&metadata).unwrap(),
///     serde_json::json!({
///         "resource": "https://api.example.com",
///         "authorization_servers": ["https://id.example.com"],
///         "scopes_supported": ["orders:read"],
///         "bearer_methods_supported": ["header"],
///     })
/// );
/// # Ok::<(), ostiary_jwt::protected_resource::MetadataError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtectedResourceMetadata {
    resource: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
    bearer_methods_supported: [&'static str; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resource_signing_alg_values_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_documentation: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dpop_signing_alg_values_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dpop_bound_access_tokens_required: Option<bool>,
    #[serde(skip)]
    location: MetadataLocation,
}

impl ProtectedResourceMetadata {
    /// The document for the resource identifier `resource`, e.g. `https://api.example.com/mcp`
    /// (usually the audience the resource's tokens carry, RFC 8707), published byte for byte
    /// as given. Errors as [`metadata_location`]: [`MetadataError::Resource`] or
    /// [`MetadataError::ResourceNotNormal`].
    pub fn new(resource: &str) -> Result<Self, MetadataError> {
        Ok(Self {
            location: metadata_location(resource)?,
            resource: resource.to_owned(),
            authorization_servers: Vec::new(),
            jwks_uri: None,
            scopes_supported: Vec::new(),
            bearer_methods_supported: ["header"],
            resource_signing_alg_values_supported: Vec::new(),
            resource_name: None,
            resource_documentation: None,
            dpop_signing_alg_values_supported: Vec::new(),
            dpop_bound_access_tokens_required: None,
        })
    }

    /// Adds an issuer to `authorization_servers`, exactly as that authorization server
    /// spells it in its own metadata (RFC 8414 section 3.3 compares byte for byte); a repeat
    /// is ignored. [`MetadataError::Url`] unless it is an absolute `https` or `http` URL
    /// without query or fragment.
    pub fn with_authorization_server(mut self, issuer: &str) -> Result<Self, MetadataError> {
        let issuer = checked_url("authorization_servers", issuer, false)?;
        if !self.authorization_servers.contains(&issuer) {
            self.authorization_servers.push(issuer);
        }
        Ok(self)
    }

    /// Sets `jwks_uri`: the resource's own public keys (e.g. for signed responses), not the
    /// authorization server's. [`MetadataError::Url`] unless an absolute `https` or `http`
    /// URL without fragment.
    pub fn with_jwks_uri(mut self, jwks_uri: &str) -> Result<Self, MetadataError> {
        self.jwks_uri = Some(checked_url("jwks_uri", jwks_uri, true)?);
        Ok(self)
    }

    /// Adds to `scopes_supported` (RFC 9728 recommends it): the scopes the resource's handlers
    /// require, in order, repeats ignored. [`MetadataError::Scope`] for a value that is not an
    /// RFC 6749 scope-token.
    pub fn with_scopes_supported<I, S>(mut self, scopes: I) -> Result<Self, MetadataError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for scope in scopes {
            let scope = scope.into();
            let token = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\';
            if scope.is_empty() || !scope.chars().all(token) {
                return Err(MetadataError::Scope(scope));
            }
            if !self.scopes_supported.contains(&scope) {
                self.scopes_supported.push(scope);
            }
        }
        Ok(self)
    }

    /// Sets `resource_signing_alg_values_supported`: the algorithms the resource signs its
    /// responses with. Omitted from the document while empty (the default).
    pub fn with_resource_signing_alg_values_supported(mut self, algorithms: &[Algorithm]) -> Self {
        self.resource_signing_alg_values_supported =
            algorithms.iter().map(|a| a.as_str()).collect();
        self
    }

    /// Sets `resource_name`, the human-readable name shown to end users (no language tag).
    pub fn with_resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Sets `resource_documentation`, a page for developers. [`MetadataError::Url`] unless an
    /// absolute `https` or `http` URL without fragment.
    pub fn with_resource_documentation(mut self, url: &str) -> Result<Self, MetadataError> {
        self.resource_documentation = Some(checked_url("resource_documentation", url, true)?);
        Ok(self)
    }

    /// Advertises DPoP as `dpop` configures it (RFC 9728 section 2 with RFC 9449):
    /// `dpop_signing_alg_values_supported` lists the proof algorithms it accepts, and
    /// `dpop_bound_access_tokens_required` is `false`, because a `RemoteValidator` given a
    /// `DpopConfig` still accepts unbound tokens under the Bearer scheme. Pass the same
    /// configuration as to [`RemoteValidator::with_dpop`].
    pub fn with_dpop(mut self, dpop: &DpopConfig) -> Self {
        self.dpop_signing_alg_values_supported = Algorithm::accepted_names(dpop.algorithms());
        self.dpop_bound_access_tokens_required = Some(false);
        self
    }

    /// The resource identifier, as given to [`new`](Self::new).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Where this document is published: its URL and the path to route it on.
    pub fn location(&self) -> &MetadataLocation {
        &self.location
    }
}

/// An absolute `https` or `http` URL without fragment, credentials or whitespace, kept as
/// given (the URL parser would silently drop surrounding spaces and inner tabs); `query` says
/// whether a query is allowed.
fn checked_url(field: &'static str, value: &str, query: bool) -> Result<String, MetadataError> {
    let invalid = || MetadataError::Url {
        field,
        value: value.to_owned(),
    };
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let url = Url::parse(value).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "https" | "http")
        || url.fragment().is_some()
        || (!query && url.query().is_some())
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(invalid());
    }
    Ok(value.to_owned())
}

impl RemoteValidator {
    /// Names `metadata`'s URL in every challenge the `bearer::BearerClaims` extractor answers
    /// with (RFC 9728 section 5.1): `WWW-Authenticate: Bearer
    /// resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"`, and
    /// in the DPoP challenge too when DPoP is configured. A client that receives a 401 learns
    /// from it which authorization server to ask. Serving the document itself is the
    /// application's (`ProtectedResourceMetadata::router` with feature `axum`).
    pub fn with_resource_metadata(mut self, metadata: &ProtectedResourceMetadata) -> Self {
        self.resource_metadata = Some(Arc::from(metadata.location().url()));
        self
    }

    /// The metadata URL given by [`with_resource_metadata`](Self::with_resource_metadata), if
    /// any.
    pub fn resource_metadata_url(&self) -> Option<&str> {
        self.resource_metadata.as_deref()
    }
}

#[cfg(feature = "axum")]
impl ProtectedResourceMetadata {
    /// A router serving this document at [`location`](Self::location)'s path as
    /// `application/json`, for `GET` (and `HEAD`; other methods get 405). Merge it into the
    /// application's router at the root of the resource's origin:
    /// `Router::new().route("/mcp", ...).merge(metadata.router())`.
    ///
    /// The document is public and carries no secrets; the route needs no token.
    pub fn router<S>(&self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        use axum::response::IntoResponse;

        let document = Arc::new(self.clone());
        let serve = move || {
            let document = Arc::clone(&document);
            async move { axum::Json(&*document).into_response() }
        };
        axum::Router::new().route(&self.location.path, axum::routing::get(serve))
    }
}
