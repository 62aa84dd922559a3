//! The BFF's settings: a TOML file (`ostiary bff --config PATH`), with the two secrets also
//! read from the environment so they need not sit in the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// Overrides `client_secret`.
pub const CLIENT_SECRET_ENV: &str = "OAUTH2_BFF_CLIENT_SECRET";
/// Overrides `session_secret`.
pub const SESSION_SECRET_ENV: &str = "OAUTH2_BFF_SESSION_SECRET";
/// The session secret seals tokens at rest and the login cookie: as long as the server's root.
const MIN_SECRET_LEN: usize = 32;

/// The file as written. Unknown keys are refused, so a misspelt setting cannot be ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default = "default_bind")]
    bind: SocketAddr,
    origin: String,
    issuer: String,
    client_id: String,
    client_secret: Option<SecretString>,
    client_private_key_file: Option<PathBuf>,
    #[serde(default = "default_scopes")]
    scopes: Vec<String>,
    #[serde(default = "default_database_url")]
    database_url: String,
    session_secret: Option<SecretString>,
    #[serde(default = "default_session_lifetime")]
    session_lifetime_secs: u32,
    #[serde(default = "default_true")]
    dpop: bool,
    #[serde(default)]
    production: bool,
    #[serde(default = "default_max_request_bytes")]
    max_request_bytes: usize,
    #[serde(default = "default_max_response_bytes")]
    max_response_bytes: usize,
    #[serde(default = "default_upstream_timeout")]
    upstream_timeout_secs: u32,
    static_dir: Option<PathBuf>,
    #[serde(default)]
    routes: Vec<RouteFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    prefix: String,
    upstream: String,
    audience: Option<String>,
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8081))
}
fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "offline_access".into()]
}
fn default_database_url() -> String {
    "sqlite://ostiary-bff.db".into()
}
fn default_session_lifetime() -> u32 {
    8 * 3600
}
fn default_true() -> bool {
    true
}
fn default_max_request_bytes() -> usize {
    1024 * 1024
}
fn default_max_response_bytes() -> usize {
    10 * 1024 * 1024
}
fn default_upstream_timeout() -> u32 {
    30
}

/// How the BFF authenticates to the authorization server.
#[derive(Debug)]
pub enum ClientCredentials {
    /// `client_secret_basic` (RFC 6749 section 2.3.1).
    Secret(SecretString),
    /// `private_key_jwt` (RFC 7523): a PKCS#8 PEM key, ES256 (P-256), RS256 (RSA) or EdDSA.
    PrivateKey(PathBuf),
}

/// One forwarded API: `/api/<prefix>/<rest>` goes to `<upstream>/<rest>`.
#[derive(Debug, Clone)]
pub struct Route {
    /// One path segment: ASCII letters, digits, `-`, `_` and `.`.
    pub prefix: String,
    /// `http` or `https` base URL without query or fragment; its path ends without `/`.
    pub upstream: Url,
    /// The audience (RFC 8707 resource) of the access token sent to this API; none: the
    /// token the authorization server gives by default.
    pub audience: Option<String>,
}

/// The checked settings.
#[derive(Debug)]
pub struct BffConfig {
    pub bind: SocketAddr,
    /// The public origin of the BFF and the SPA it serves (`scheme://host[:port]`).
    pub origin: String,
    pub issuer: String,
    pub client_id: String,
    pub credentials: ClientCredentials,
    pub scopes: Vec<String>,
    pub database_url: String,
    pub session_secret: SecretString,
    /// Seconds a session lasts at most, however active.
    pub session_lifetime_secs: u32,
    /// Bind tokens to a key the BFF holds (RFC 9449) when the server offers DPoP.
    pub dpop: bool,
    /// Refuse plain `http` outside loopback.
    pub production: bool,
    /// Bytes of a request body forwarded to an API.
    pub max_request_bytes: usize,
    /// Bytes of a response body taken from an API.
    pub max_response_bytes: usize,
    /// Seconds an API call may take.
    pub upstream_timeout_secs: u32,
    pub static_dir: Option<PathBuf>,
    pub routes: Vec<Route>,
}

impl BffConfig {
    /// Reads and checks the file; the environment's secrets take precedence.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read {}", path.display()))?;
        Self::parse(&text, |name| std::env::var(name).ok())
    }

    /// Parses `text` as the file, with `env` standing for the environment.
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let file: File = toml::from_str(text).context("the BFF configuration is not valid")?;
        let client_secret = env(CLIENT_SECRET_ENV)
            .map(SecretString::from)
            .or(file.client_secret);
        let credentials = match (client_secret, file.client_private_key_file) {
            (Some(secret), None) => ClientCredentials::Secret(secret),
            (None, Some(key)) => ClientCredentials::PrivateKey(key),
            (Some(_), Some(_)) => {
                bail!("set client_secret or client_private_key_file, not both")
            }
            (None, None) => bail!(
                "client_secret (or {CLIENT_SECRET_ENV}) or client_private_key_file is required"
            ),
        };
        let session_secret = env(SESSION_SECRET_ENV)
            .map(SecretString::from)
            .or(file.session_secret)
            .with_context(|| format!("session_secret (or {SESSION_SECRET_ENV}) is required"))?;
        if session_secret.expose_secret().len() < MIN_SECRET_LEN {
            bail!("session_secret must be at least {MIN_SECRET_LEN} characters");
        }
        let origin = parse_origin(&file.origin, file.production)?;
        let issuer = parse_url("issuer", &file.issuer, file.production)?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            bail!("issuer must not have a query or fragment");
        }
        if file.client_id.is_empty() {
            bail!("client_id is required");
        }
        if !file.scopes.iter().any(|s| s == "openid") {
            bail!("scopes must include openid: the BFF signs users in with OpenID Connect");
        }
        if !file.routes.is_empty() && !file.scopes.iter().any(|s| s == "offline_access") {
            bail!(
                "scopes must include offline_access when routes are configured: API tokens \
                 come from the refresh token"
            );
        }
        if file.session_lifetime_secs < 60 {
            bail!("session_lifetime_secs must be at least 60");
        }
        let mut routes: Vec<Route> = Vec::new();
        for route in file.routes {
            let route = parse_route(route, file.production)?;
            if routes.iter().any(|r| r.prefix == route.prefix) {
                bail!("route prefix {:?} appears twice", route.prefix);
            }
            routes.push(route);
        }
        Ok(Self {
            bind: file.bind,
            origin,
            // Byte-exact, as in every token the server issues.
            issuer: file.issuer,
            client_id: file.client_id,
            credentials,
            scopes: file.scopes,
            database_url: file.database_url,
            session_secret,
            session_lifetime_secs: file.session_lifetime_secs,
            dpop: file.dpop,
            production: file.production,
            max_request_bytes: file.max_request_bytes,
            max_response_bytes: file.max_response_bytes,
            upstream_timeout_secs: file.upstream_timeout_secs.max(1),
            static_dir: file.static_dir,
            routes,
        })
    }

    /// Where the authorization server sends the browser back: `<origin>/bff/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("{}/bff/callback", self.origin)
    }

    /// The route whose prefix is `prefix`.
    pub fn route(&self, prefix: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.prefix == prefix)
    }
}

/// An `http(s)` URL; plain `http` only to loopback in production.
fn parse_url(name: &str, value: &str, production: bool) -> anyhow::Result<Url> {
    let url = Url::parse(value).with_context(|| format!("{name} is not a URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if !production || is_loopback(&url) => {}
        "http" => bail!("{name} must be https in production"),
        _ => bail!("{name} must be an http or https URL"),
    }
    if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
        bail!("{name} must name a host and no credentials");
    }
    Ok(url)
}

fn parse_origin(value: &str, production: bool) -> anyhow::Result<String> {
    let url = parse_url("origin", value, production)?;
    let origin = url.origin().ascii_serialization();
    if value.trim_end_matches('/') != origin {
        bail!("origin must be scheme://host[:port] only, e.g. {origin}");
    }
    Ok(origin)
}

fn parse_route(route: RouteFile, production: bool) -> anyhow::Result<Route> {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if route.prefix.is_empty()
        || !route.prefix.chars().all(valid)
        || route.prefix.chars().all(|c| c == '.')
    {
        bail!(
            "route prefix {:?} must be one path segment of letters, digits, -, _ and .",
            route.prefix
        );
    }
    let mut upstream = parse_url("route upstream", &route.upstream, production)?;
    if upstream.query().is_some() || upstream.fragment().is_some() {
        bail!(
            "route upstream {} must not have a query or fragment",
            route.upstream
        );
    }
    let path = upstream.path().trim_end_matches('/').to_owned();
    upstream.set_path(&path);
    Ok(Route {
        prefix: route.prefix,
        upstream,
        audience: route.audience,
    })
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        origin = "http://127.0.0.1:8081"
        issuer = "http://127.0.0.1:8080"
        client_id = "spa"
        client_secret = "s"
        session_secret = "0123456789abcdef0123456789abcdef"
    "#;

    fn parse(extra: &str) -> anyhow::Result<BffConfig> {
        BffConfig::parse(&format!("{BASE}{extra}"), |_| None)
    }

    #[test]
    fn a_minimal_file_gets_the_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.redirect_uri(), "http://127.0.0.1:8081/bff/callback");
        assert_eq!(config.scopes, ["openid", "offline_access"]);
        assert!(config.dpop);
        assert!(matches!(config.credentials, ClientCredentials::Secret(_)));
    }

    #[test]
    fn routes_are_one_segment_and_upstreams_lose_their_trailing_slash() {
        let config = parse(
            "[[routes]]\nprefix = \"orders\"\nupstream = \"http://127.0.0.1:3000/v1/\"\naudience = \"https://api\"\n",
        )
        .unwrap();
        let route = config.route("orders").unwrap();
        assert_eq!(route.upstream.as_str(), "http://127.0.0.1:3000/v1");
        for bad in ["..", "a/b", "", "%2e", "a b"] {
            let extra =
                format!("[[routes]]\nprefix = {bad:?}\nupstream = \"http://127.0.0.1:3000\"\n");
            assert!(parse(&extra).is_err(), "{bad:?} accepted");
        }
        let twice = "[[routes]]\nprefix = \"a\"\nupstream = \"http://127.0.0.1:1\"\n";
        assert!(parse(&format!("{twice}{twice}")).is_err());
    }

    #[test]
    fn weak_or_missing_secrets_and_unknown_keys_are_refused() {
        let short = BASE.replace("0123456789abcdef0123456789abcdef", "short");
        assert!(BffConfig::parse(&short, |_| None).is_err());
        // The environment's secret wins over the file's.
        let from_env = BffConfig::parse(&short, |name| {
            (name == SESSION_SECRET_ENV).then(|| "x".repeat(40))
        });
        assert!(from_env.is_ok());
        assert!(parse("colour = \"blue\"\n").is_err());
        assert!(parse("client_private_key_file = \"k.pem\"\n").is_err());
        let no_openid = parse("scopes = [\"profile\"]\n");
        assert!(no_openid.is_err());
        let route = "[[routes]]\nprefix = \"a\"\nupstream = \"http://127.0.0.1:1\"\n";
        assert!(parse(&format!("scopes = [\"openid\"]\n{route}")).is_err());
    }

    #[test]
    fn production_refuses_plain_http_off_loopback() {
        let remote = BASE.replace("http://127.0.0.1:8081", "http://app.example.com");
        assert!(BffConfig::parse(&remote, |_| None).is_ok());
        assert!(BffConfig::parse(&format!("{remote}production = true\n"), |_| None).is_err());
        assert!(parse("production = true\n").is_ok());
        let path = BASE.replace("http://127.0.0.1:8081", "http://127.0.0.1:8081/app");
        assert!(BffConfig::parse(&path, |_| None).is_err());
    }
}
