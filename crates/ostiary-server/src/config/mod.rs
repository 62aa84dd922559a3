//! Configuration: parsed and validated once at startup, then passed around explicitly.

mod checks;
mod document_checks;
mod reference;
mod secrets;
mod settings;
mod sources;
mod tls;

use ipnet::IpNet;

use crate::extract::source_ip::{ForwardedHeader, ProxyConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use ostiary_core::client::{Audience, MAX_ACCESS_TOKEN_LIFETIME, Scope};
use ostiary_core::metadata_document::HostAllowList;
use ostiary_core::password::Argon2Params;
use ostiary_core::registration::RegistrationMode;
use ostiary_jwt::Algorithm;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub use checks::{Check, Status, run_checks};
pub use reference::render_reference;
pub use secrets::{INSECURE_DEFAULT_SECRET, Secrets, resolve_secrets};
pub use settings::{DefaultValue, SETTINGS, Setting, setting};
pub use sources::env_var;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("{var}: {reason}")]
    Invalid { var: String, reason: String },
    #[error("{0}")]
    Refused(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

impl FromStr for Environment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "development" => Ok(Self::Development),
            "production" => Ok(Self::Production),
            _ => Err("must be development or production".into()),
        }
    }
}

/// Fifteen minutes: short enough that a leaked token is useful only briefly and the
/// revocation list stays small, long enough that clients reuse a token for many calls.
pub const DEFAULT_ACCESS_TOKEN_LIFETIME_SECS: u64 = 900;

#[derive(Debug)]
pub struct Config {
    /// Byte-exact as configured; it goes into every token and discovery document.
    pub issuer: String,
    pub bind: SocketAddr,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub jwt_secret: Option<SecretString>,
    /// Earlier root secrets, comma-separated: signing keys sealed under them still open, and
    /// are re-sealed under `jwt_secret` (a rolling change of the root secret).
    pub jwt_secret_previous: Option<SecretString>,
    pub session_key: Option<SecretString>,
    /// An earlier session key: its cookies are still read, and re-issued under `session_key`.
    pub session_key_previous: Option<SecretString>,
    pub env: Environment,
    /// `None` when `OAUTH2_METRICS_BIND=off` (development only: no listener, no per-request
    /// metrics work).
    pub metrics_bind: Option<SocketAddr>,
    /// The admin HTTP API's listen address (`OAUTH2_ADMIN_BIND`); `None` (the default, or
    /// `off`): no admin API.
    pub admin_bind: Option<SocketAddr>,
    pub argon2: Argon2Params,
    pub http_body_limit_bytes: usize,
    /// A request not answered within this time, its body read included, gets 503 (a body
    /// that is slow to arrive gets its 408 first: `http_body_timeout` is shorter).
    pub http_request_timeout: Duration,
    /// A request's line and headers must arrive within this time, from the connection's
    /// opening or (HTTP/1) from the previous response; a slow sender holds no socket longer.
    pub http_header_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub http_idle_timeout: Duration,
    /// A request's whole body must arrive within this time, else 408.
    pub http_body_timeout: Duration,
    /// Open connections of the public listener; `None`: derived from the descriptor limit.
    pub http_max_connections: Option<usize>,
    /// Signs access tokens; HS256 only when chosen here (then keyed by the root secret).
    pub access_token_alg: Algorithm,
    pub access_token_lifetime: Duration,
    /// Automatic rotation of the signing keys; `None` when off.
    pub key_rotation: Option<Duration>,
    /// How often each instance re-reads the signing keys from the database.
    pub key_refresh: Duration,
    /// How long a client record may be served from memory; client changes made elsewhere
    /// take effect within this time where the database does not announce them. Zero reads
    /// the database on every request; `None`, the default of the backend
    /// (`AppState::build`).
    pub client_cache: Option<Duration>,
    /// A login session ends after this long unused...
    pub session_idle: Duration,
    /// ...and this long after login in any case.
    pub session_lifetime: Duration,
    /// Each refresh token's lifetime (rotation issues a fresh one).
    pub refresh_token_lifetime: Duration,
    /// How long a rotated refresh token, retried by its client, gets the same answer.
    pub refresh_grace: Duration,
    /// Proxies whose `X-Forwarded-For` (or `Forwarded`) header is believed.
    pub proxies: ProxyConfig,
    /// Brute-force limits on failed authentications (only development may turn them off).
    pub rate_limits: bool,
    /// The audit trail (only development may turn it off, to measure what it costs).
    pub audit: bool,
    /// The audit journal's directory (`OAUTH2_AUDIT_JOURNAL`); `None`: the default of
    /// [`Config::audit_journal_dir`].
    pub audit_journal: Option<std::path::PathBuf>,
    /// Audit events older than this many days are purged in the background; `None` (`0`)
    /// keeps them for good.
    pub audit_retention_days: Option<u32>,
    /// RFC 9449 8: every DPoP proof must carry a server nonce (`OAUTH2_DPOP_NONCE`, off by
    /// default: each client then makes one extra round trip per nonce period).
    pub dpop_nonce: bool,
    /// RFC 9126 5: every authorization request must be pushed first (`OAUTH2_REQUIRE_PAR`).
    pub require_par: bool,
    /// Every login behind a code or a device approval gives a second factor
    /// (`OAUTH2_REQUIRE_MFA`).
    pub require_mfa: bool,
    /// Token requests per second each client may make; `None`: no quota (the default).
    pub client_quota_per_sec: Option<u32>,
    /// Browser origins allowed by CORS besides public clients' registered ones; empty
    /// (the default) and no public web clients: CORS is off.
    pub cors_origins: Vec<String>,
    /// Who may use the registration endpoint (RFC 7591): `off`, `token` (the default: with an
    /// initial access token) or `open` (`OAUTH2_REGISTRATION`).
    pub registration: RegistrationMode,
    /// The scopes a dynamically registered client may ask for (`OAUTH2_REGISTRATION_SCOPES`,
    /// default `openid profile email offline_access`).
    pub registration_scopes: Vec<Scope>,
    /// The RFC 8707 resources a dynamically registered client may get tokens for
    /// (`OAUTH2_REGISTRATION_AUDIENCES`, default none).
    pub registration_audiences: Vec<Audience>,
    /// Hosts whose `https` URLs may be client ids, naming client ID metadata documents
    /// (`OAUTH2_CLIENT_METADATA_HOSTS`: names or `*.example.com` patterns); empty (the
    /// default) turns them off.
    pub client_metadata_hosts: HostAllowList,
    /// Native TLS on the public listener (`OAUTH2_TLS_CERT`, `OAUTH2_TLS_KEY`); `None`: plain
    /// HTTP, with TLS ended by a proxy in front.
    pub tls: Option<crate::tls::TlsFiles>,
    /// How often the TLS files are checked for a renewal (`OAUTH2_TLS_RELOAD_SECS`).
    pub tls_reload: Duration,
}

/// The longest audit retention accepted: a century.
pub const MAX_AUDIT_RETENTION_DAYS: u32 = 36_500;

impl Config {
    /// Reads the optional TOML file and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_sources(file, |var| std::env::var(var).ok())
    }

    pub fn from_sources(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let raw = sources::collect(file, env)?;
        // A setting not given has its default from the table, parsed as if it were given.
        let get = |name: &str| {
            raw.get(name)
                .map(String::as_str)
                .or_else(|| setting(name).and_then(Setting::default_value))
        };
        let secret = |setting: &str| {
            get(setting)
                .filter(|s| !s.is_empty())
                .map(SecretString::from)
        };
        let config = Self {
            issuer: parse_issuer(value("issuer", get)?)?,
            bind: parse_setting("bind", get)?,
            database_url: SecretString::from(value("database_url", get)?),
            database_max_connections: parse_setting("database_max_connections", get)?,
            jwt_secret: secret("jwt_secret"),
            jwt_secret_previous: secret("jwt_secret_previous"),
            session_key: secret("session_key"),
            session_key_previous: secret("session_key_previous"),
            env: parse_setting("env", get)?,
            metrics_bind: match value("metrics_bind", get)? {
                "off" => None,
                addr => Some(parse("metrics_bind", addr)?),
            },
            admin_bind: match value("admin_bind", get)? {
                "off" => None,
                addr => Some(parse("admin_bind", addr)?),
            },
            argon2: Argon2Params {
                memory_kib: parse_setting("argon2_memory_kib", get)?,
                iterations: parse_setting("argon2_iterations", get)?,
                parallelism: parse_setting("argon2_parallelism", get)?,
            },
            http_body_limit_bytes: parse_setting("http_body_limit_bytes", get)?,
            http_request_timeout: Duration::from_secs(parse_setting(
                "http_request_timeout_secs",
                get,
            )?),
            http_header_timeout: Duration::from_secs(parse_setting(
                "http_header_timeout_secs",
                get,
            )?),
            http_idle_timeout: Duration::from_secs(parse_setting("http_idle_timeout_secs", get)?),
            // Unset: 10 s, or half the request timeout where that is shorter, so a short
            // request timeout alone stays a valid configuration.
            http_body_timeout: match get("http_body_timeout_secs") {
                Some(value) => Duration::from_secs(parse("http_body_timeout_secs", value)?),
                None => Duration::from_secs(10)
                    .min(Duration::from_secs(parse_setting("http_request_timeout_secs", get)?) / 2),
            },
            http_max_connections: match parse_setting::<usize>("http_max_connections", get)? {
                0 => None,
                n => Some(n),
            },
            access_token_alg: parse_setting("access_token_alg", get)?,
            access_token_lifetime: Duration::from_secs(parse_setting(
                "access_token_lifetime_secs",
                get,
            )?),
            key_rotation: match parse_setting::<u64>("key_rotation_days", get)? {
                0 => None,
                days => Some(Duration::from_secs(days * 86_400)),
            },
            key_refresh: Duration::from_secs(parse_setting("key_refresh_secs", get)?),
            client_cache: get("client_cache_secs")
                .map(|value| parse("client_cache_secs", value).map(Duration::from_secs))
                .transpose()?,
            session_idle: Duration::from_secs(parse_setting("session_idle_secs", get)?),
            session_lifetime: Duration::from_secs(parse_setting("session_lifetime_secs", get)?),
            refresh_token_lifetime: Duration::from_secs(parse_setting(
                "refresh_token_lifetime_secs",
                get,
            )?),
            refresh_grace: Duration::from_secs(parse_setting("refresh_grace_secs", get)?),
            proxies: ProxyConfig {
                trusted: list(get("trusted_proxies"))
                    .map(|p| parse_network(&p))
                    .collect::<Result<_, _>>()?,
                header: match value("forwarded_header", get)? {
                    "x-forwarded-for" => ForwardedHeader::XForwardedFor,
                    "forwarded" => ForwardedHeader::Forwarded,
                    _ => {
                        return Err(invalid(
                            "forwarded_header",
                            "must be x-forwarded-for or forwarded",
                        ));
                    }
                },
            },
            rate_limits: parse_switch("rate_limits", value("rate_limits", get)?)?,
            audit: parse_switch("audit", value("audit", get)?)?,
            audit_journal: get("audit_journal")
                .filter(|dir| !dir.is_empty())
                .map(std::path::PathBuf::from),
            audit_retention_days: match parse_setting::<u32>("audit_retention_days", get)? {
                0 => None,
                days if days <= MAX_AUDIT_RETENTION_DAYS => Some(days),
                _ => {
                    return Err(invalid(
                        "audit_retention_days",
                        "must be at most 36500 (100 years); 0 keeps events for good",
                    ));
                }
            },
            dpop_nonce: parse_switch("dpop_nonce", value("dpop_nonce", get)?)?,
            require_par: parse_switch("require_par", value("require_par", get)?)?,
            require_mfa: parse_switch("require_mfa", value("require_mfa", get)?)?,
            client_quota_per_sec: match parse_setting::<u32>("client_quota_per_sec", get)? {
                0 => None,
                n => Some(n),
            },
            cors_origins: list(get("cors_origins"))
                .map(|o| parse_origin(&o))
                .collect::<Result<_, _>>()?,
            registration: parse_setting("registration", get)?,
            registration_scopes: list(get("registration_scopes"))
                .map(|s| parse("registration_scopes", &s))
                .collect::<Result<_, _>>()?,
            registration_audiences: list(get("registration_audiences"))
                .map(|a| parse("registration_audiences", &a))
                .collect::<Result<_, _>>()?,
            client_metadata_hosts: parse(
                "client_metadata_hosts",
                get("client_metadata_hosts").unwrap_or_default(),
            )?,
            tls: tls::files(get("tls_cert"), get("tls_key"))?,
            tls_reload: Duration::from_secs(parse_setting("tls_reload_secs", get)?),
        };
        if config.session_idle.is_zero() || config.session_lifetime < config.session_idle {
            return Err(invalid(
                "session_idle_secs",
                "must be at least 1 and at most session_lifetime_secs",
            ));
        }
        if config.refresh_token_lifetime.is_zero() {
            return Err(invalid("refresh_token_lifetime_secs", "must be at least 1"));
        }
        // Longer would make the grace period a replay window, not a retry allowance.
        if config.refresh_grace > Duration::from_secs(300) {
            return Err(invalid("refresh_grace_secs", "must be at most 300"));
        }
        if config.client_cache > Some(Duration::from_secs(60)) {
            return Err(invalid("client_cache_secs", "must be at most 60"));
        }
        let lifetime = config.access_token_lifetime;
        if lifetime.is_zero() || lifetime > MAX_ACCESS_TOKEN_LIFETIME.unsigned_abs() {
            return Err(invalid(
                "access_token_lifetime_secs",
                "must be between 1 and 86400",
            ));
        }
        if config.key_refresh.is_zero() {
            return Err(invalid("key_refresh_secs", "must be at least 1"));
        }
        // Zero would refuse every request or close every connection at once.
        for (setting, value) in [
            ("http_request_timeout_secs", config.http_request_timeout),
            ("http_header_timeout_secs", config.http_header_timeout),
            ("http_idle_timeout_secs", config.http_idle_timeout),
            ("http_body_timeout_secs", config.http_body_timeout),
            // Zero would check the files in a busy loop.
            ("tls_reload_secs", config.tls_reload),
        ] {
            if value.is_zero() {
                return Err(invalid(setting, "must be at least 1"));
            }
        }
        // A slow body is the client's fault (408) and must be told apart from slow handler
        // work (503), so the body deadline passes first.
        if config.http_body_timeout >= config.http_request_timeout {
            return Err(invalid(
                "http_body_timeout_secs",
                "must be less than http_request_timeout_secs",
            ));
        }
        // The admin scopes are the operator's to grant: a client registering itself, or
        // described by a metadata document, never gets them.
        if let Some(admin) = config.registration_scopes.iter().find(|s| {
            [
                ostiary_core::token::ADMIN_SCOPE,
                ostiary_core::token::ADMIN_READ_SCOPE,
            ]
            .contains(&s.as_str())
        }) {
            return Err(invalid(
                "registration_scopes",
                format!("must not include the admin scope {}", admin.as_str()),
            ));
        }
        if config.database_max_connections == 0 {
            return Err(invalid("database_max_connections", "must be at least 1"));
        }
        Ok(config)
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }

    /// Cookies are `Secure` (and `__Host-` prefixed) in production and whenever the issuer
    /// is https.
    pub fn secure_cookies(&self) -> bool {
        self.is_production() || self.issuer.starts_with("https://")
    }

    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }

    /// Where the audit journal is kept: `OAUTH2_AUDIT_JOURNAL`, else beside the SQLite file
    /// (`ostiary.db.audit-journal`), else `ostiary-audit-journal` in the working directory.
    /// Instances may share it (each holds its own segments); it belongs on a disk that
    /// outlives the process, as the database does.
    pub fn audit_journal_dir(&self) -> std::path::PathBuf {
        if let Some(dir) = &self.audit_journal {
            return dir.clone();
        }
        match ostiary_store::sqlite_file(self.database_url()) {
            Some(db) => {
                let mut name = db.into_os_string();
                name.push(".audit-journal");
                name.into()
            }
            None => "ostiary-audit-journal".into(),
        }
    }
}

fn invalid(setting: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var: env_var(setting),
        reason: reason.into(),
    }
}

fn parse<T: FromStr>(setting: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e| invalid(setting, format!("{value:?}: {e}")))
}

/// The value of a setting that always has one: given, or its default from the table.
fn value<'a>(setting: &str, get: impl Fn(&str) -> Option<&'a str>) -> Result<&'a str, ConfigError> {
    // Only a row without a default value could miss; the defaults test parses every one.
    get(setting).ok_or_else(|| invalid(setting, "has no default in config/settings.rs"))
}

/// A setting that always has a value, parsed.
fn parse_setting<'a, T: FromStr>(
    setting: &str,
    get: impl Fn(&str) -> Option<&'a str>,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    parse(setting, value(setting, get)?)
}

/// An absolute http(s) URL without query or fragment (RFC 8414 section 2), kept as written.
fn parse_issuer(value: &str) -> Result<String, ConfigError> {
    let url = Url::parse(value).map_err(|e| invalid("issuer", format!("{value:?}: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(invalid("issuer", format!("{value:?} must be an https URL")));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid(
            "issuer",
            format!("{value:?} must not have a query, fragment or credentials (RFC 8414 2)"),
        ));
    }
    Ok(value.to_owned())
}

/// A comma- or space-separated list; empty items dropped.
fn list(value: Option<&str>) -> impl Iterator<Item = String> + '_ {
    value
        .unwrap_or_default()
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn parse_switch(setting: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" => Ok(false),
        _ => Err(invalid(setting, "must be on or off")),
    }
}

/// An address or a CIDR network (`10.0.0.0/8`, `::1`).
fn parse_network(value: &str) -> Result<IpNet, ConfigError> {
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| invalid("trusted_proxies", "must list IP addresses or CIDR networks"))
}

/// A browser origin: scheme, host and optional port, nothing else. `*` is refused: CORS is
/// opened origin by origin.
fn parse_origin(value: &str) -> Result<String, ConfigError> {
    let refuse = || {
        invalid(
            "cors_origins",
            "must list origins such as https://app.example.com (no path, no wildcard)",
        )
    };
    let url = url::Url::parse(value).map_err(|_| refuse())?;
    let origin = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || origin != value.trim_end_matches('/') {
        return Err(refuse());
    }
    Ok(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_sources(None, |var| {
            vars.iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn self_registered_clients_never_get_the_admin_scopes() {
        for scope in ["ostiary:admin", "ostiary:admin:read"] {
            let scopes = format!("openid {scope}");
            let refused = from_env(&[("OAUTH2_REGISTRATION_SCOPES", scopes.as_str())]);
            let Err(ConfigError::Invalid { var, reason }) = refused else {
                panic!("{scope} accepted as a registration scope");
            };
            assert_eq!(var, "OAUTH2_REGISTRATION_SCOPES");
            assert!(reason.contains(scope), "{reason}");
        }
        let admin = from_env(&[("OAUTH2_ADMIN_BIND", "127.0.0.1:9091")]).unwrap();
        assert_eq!(admin.admin_bind.unwrap().to_string(), "127.0.0.1:9091");
    }

    #[test]
    fn defaults_match_the_guide() {
        let config = from_env(&[]).unwrap();
        assert_eq!(config.issuer, "http://127.0.0.1:8080");
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url(), "sqlite://ostiary.db");
        assert_eq!(config.env, Environment::Development);
        assert_eq!(config.metrics_bind.unwrap().to_string(), "127.0.0.1:9090");
        assert!(config.jwt_secret.is_none() && config.session_key.is_none());
        assert_eq!(config.http_header_timeout, Duration::from_secs(10));
        assert_eq!(config.http_idle_timeout, Duration::from_secs(10));
        assert_eq!(config.http_body_timeout, Duration::from_secs(10));
        assert_eq!(config.http_max_connections, None);
        assert!(config.client_metadata_hosts.is_empty());
        assert_eq!(config.admin_bind, None, "no admin API unless asked for");
        // A short request timeout alone is valid: the body deadline follows it.
        let short = from_env(&[("OAUTH2_HTTP_REQUEST_TIMEOUT_SECS", "5")]).unwrap();
        assert_eq!(short.http_body_timeout, Duration::from_millis(2500));
    }

    /// A setting given its documented default behaves as one not given at all, and the
    /// table's defaults are the constants the code states elsewhere.
    #[test]
    fn the_documented_defaults_are_the_real_ones() {
        let unset = from_env(&[]).unwrap();
        for s in SETTINGS {
            let Some(default) = s.default_value() else {
                continue;
            };
            let var = env_var(s.name);
            let given = from_env(&[(&var, default)]).unwrap_or_else(|e| panic!("{var}: {e}"));
            assert_eq!(
                format!("{given:?}"),
                format!("{unset:?}"),
                "{var}={default}"
            );
            // Secrets are redacted in Debug.
            assert_eq!(given.database_url(), unset.database_url(), "{var}");
        }
        assert_eq!(unset.argon2, Argon2Params::default());
        assert_eq!(
            unset.access_token_lifetime,
            Duration::from_secs(DEFAULT_ACCESS_TOKEN_LIFETIME_SECS)
        );
        assert_eq!(unset.audit_retention_days, Some(90));
        // The settings without a default value are absent or derived, as their text says.
        assert!(unset.jwt_secret_previous.is_none() && unset.session_key_previous.is_none());
        assert!(unset.proxies.trusted.is_empty() && unset.cors_origins.is_empty());
        assert!(unset.registration_audiences.is_empty() && unset.audit_journal.is_none());
    }

    #[test]
    fn the_audit_journal_is_beside_the_sqlite_file_unless_set() {
        let beside =
            from_env(&[("OAUTH2_DATABASE_URL", "sqlite:///var/lib/ostiary/o.db")]).unwrap();
        assert_eq!(
            beside.audit_journal_dir(),
            std::path::Path::new("/var/lib/ostiary/o.db.audit-journal")
        );
        let postgres = from_env(&[("OAUTH2_DATABASE_URL", "postgres://db/ostiary")]).unwrap();
        assert_eq!(
            postgres.audit_journal_dir(),
            std::path::Path::new("ostiary-audit-journal")
        );
        let set = from_env(&[
            ("OAUTH2_DATABASE_URL", "postgres://db/ostiary"),
            ("OAUTH2_AUDIT_JOURNAL", "/srv/journal"),
        ])
        .unwrap();
        assert_eq!(
            set.audit_journal_dir(),
            std::path::Path::new("/srv/journal")
        );
    }

    #[test]
    fn audit_retention_defaults_to_90_days_and_0_keeps_everything() {
        assert_eq!(from_env(&[]).unwrap().audit_retention_days, Some(90));
        let keep = from_env(&[("OAUTH2_AUDIT_RETENTION_DAYS", "0")]).unwrap();
        assert_eq!(keep.audit_retention_days, None);
        assert!(from_env(&[("OAUTH2_AUDIT_RETENTION_DAYS", "-1")]).is_err());
        let century = from_env(&[("OAUTH2_AUDIT_RETENTION_DAYS", "36500")]).unwrap();
        assert_eq!(century.audit_retention_days, Some(36_500));
        assert!(from_env(&[("OAUTH2_AUDIT_RETENTION_DAYS", "99999999")]).is_err());
    }

    #[test]
    fn issuer_is_kept_byte_exact() {
        let config = from_env(&[("OAUTH2_ISSUER", "https://id.example.com/tenant")]).unwrap();
        assert_eq!(config.issuer, "https://id.example.com/tenant");
    }

    #[test]
    fn malformed_values_name_their_variable() {
        for (var, value) in [
            ("OAUTH2_BIND", "not-an-address"),
            ("OAUTH2_ENV", "staging"),
            ("OAUTH2_ISSUER", "https://id.example.com/?x=1"),
            ("OAUTH2_ISSUER", "ftp://id.example.com"),
            ("OAUTH2_ARGON2_MEMORY_KIB", "lots"),
            ("OAUTH2_DATABASE_MAX_CONNECTIONS", "0"),
            ("OAUTH2_ACCESS_TOKEN_ALG", "none"),
            ("OAUTH2_ACCESS_TOKEN_ALG", "HS512"),
            ("OAUTH2_ACCESS_TOKEN_LIFETIME_SECS", "0"),
            ("OAUTH2_ACCESS_TOKEN_LIFETIME_SECS", "86401"),
            ("OAUTH2_KEY_REFRESH_SECS", "0"),
            ("OAUTH2_HTTP_HEADER_TIMEOUT_SECS", "0"),
            ("OAUTH2_HTTP_IDLE_TIMEOUT_SECS", "0"),
            ("OAUTH2_HTTP_BODY_TIMEOUT_SECS", "0"),
            ("OAUTH2_HTTP_BODY_TIMEOUT_SECS", "30"),
            ("OAUTH2_HTTP_MAX_CONNECTIONS", "many"),
            ("OAUTH2_CLIENT_METADATA_HOSTS", "https://app.example.com"),
            ("OAUTH2_CLIENT_METADATA_HOSTS", "*"),
        ] {
            let err = from_env(&[(var, value)]).unwrap_err().to_string();
            assert!(err.starts_with(var), "{var}={value}: {err}");
        }
    }
}
