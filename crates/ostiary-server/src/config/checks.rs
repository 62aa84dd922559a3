//! The production checklist as startup checks: `serve` refuses to start on any failure and
//! logs every warning; `check-config` prints the same list without starting.

use ostiary_core::password::PasswordHasher;
use secrecy::ExposeSecret;
use serde::Serialize;

use ostiary_core::registration::RegistrationMode;

use super::Config;
use super::secrets::{
    JWT_SECRET_FIX, SESSION_KEY_FIX, dev_secret_file, jwt_secret_weakness,
    parse_previous_jwt_secrets, parse_session_key,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub message: String,
}

pub(super) fn check(name: &'static str, status: Status, message: impl Into<String>) -> Check {
    Check {
        name,
        status,
        message: message.into(),
    }
}

/// Development downgrades what production refuses to a warning.
fn fail_in_production(config: &Config) -> Status {
    if config.is_production() {
        Status::Fail
    } else {
        Status::Warn
    }
}

pub fn run_checks(config: &Config) -> Vec<Check> {
    vec![
        jwt_secret(config),
        jwt_secret_previous(config),
        session_key(config),
        session_key_previous(config),
        issuer(config),
        database_url(config),
        argon2(config),
        metrics_listener(config),
        admin_listener(config),
        access_token_alg(config),
        secure_cookies(config),
        rate_limits(config),
        audit(config),
        cors(config),
        trusted_proxies(config),
        registration(config),
        super::document_checks::client_metadata(config),
        super::tls::tls_check(config),
    ]
}

/// A protection that only development may go without: pass when on, else fail in production
/// (warn in development).
fn required_in_production(
    config: &Config,
    name: &'static str,
    on: bool,
    on_message: &str,
    off_message: &str,
) -> Check {
    if on {
        check(name, Status::Pass, on_message)
    } else {
        check(name, fail_in_production(config), off_message)
    }
}

fn secure_cookies(config: &Config) -> Check {
    required_in_production(
        config,
        "secure_cookies",
        config.secure_cookies(),
        "session and CSRF cookies are Secure, HttpOnly, SameSite=Lax and __Host- prefixed",
        "cookies are not Secure (development over http); production always sets Secure",
    )
}

fn rate_limits(config: &Config) -> Check {
    required_in_production(
        config,
        "rate_limits",
        config.rate_limits,
        "failed client authentications and logins are limited per source and credential",
        "OAUTH2_RATE_LIMITS=off: nothing slows down password or secret guessing",
    )
}

fn cors(config: &Config) -> Check {
    const NAME: &str = "cors";
    let message = if config.cors_origins.is_empty() {
        "OAUTH2_CORS_ORIGINS is empty: only public clients' registered web origins are allowed"
            .to_owned()
    } else {
        format!(
            "CORS allows {} and public clients' registered web origins",
            config.cors_origins.join(", ")
        )
    };
    check(NAME, Status::Pass, message)
}

/// Open registration lets anyone store clients (bounded by the registration policy): a
/// warning, never a failure, since an MCP deployment may want exactly that.
fn registration(config: &Config) -> Check {
    const NAME: &str = "registration";
    let scopes: Vec<&str> = config
        .registration_scopes
        .iter()
        .map(|s| s.as_str())
        .collect();
    let scopes = scopes.join(" ");
    match config.registration {
        RegistrationMode::Off => check(NAME, Status::Pass, "dynamic client registration is off"),
        RegistrationMode::Token => check(
            NAME,
            Status::Pass,
            format!(
                "dynamic client registration needs an initial access token; registered \
                 clients may ask for: {scopes}"
            ),
        ),
        RegistrationMode::Open => check(
            NAME,
            Status::Warn,
            format!(
                "OAUTH2_REGISTRATION=open: anyone may register a client (the code and refresh \
                 grants only, consent always asked, scopes among: {scopes})"
            ),
        ),
    }
}

fn trusted_proxies(config: &Config) -> Check {
    const NAME: &str = "trusted_proxies";
    if config.proxies.trusted.is_empty() {
        check(
            NAME,
            Status::Pass,
            "no trusted proxies: rate limits and the audit trail use the TCP peer address",
        )
    } else {
        let list: Vec<String> = config
            .proxies
            .trusted
            .iter()
            .map(ToString::to_string)
            .collect();
        check(
            NAME,
            Status::Pass,
            format!(
                "{:?} believed from {}",
                config.proxies.header,
                list.join(", ")
            ),
        )
    }
}

fn jwt_secret(config: &Config) -> Check {
    const NAME: &str = "jwt_secret";
    match &config.jwt_secret {
        None => check(
            NAME,
            fail_in_production(config),
            format!(
                "OAUTH2_JWT_SECRET is not set; {}; {JWT_SECRET_FIX}",
                if config.is_production() {
                    "production requires it".to_owned()
                } else {
                    format!(
                        "using a generated development secret kept in {}",
                        dev_secret_file(config).display()
                    )
                }
            ),
        ),
        Some(secret) => match jwt_secret_weakness(secret.expose_secret()) {
            Some(weakness) => check(
                NAME,
                fail_in_production(config),
                format!("OAUTH2_JWT_SECRET {weakness}; {JWT_SECRET_FIX}"),
            ),
            None => check(NAME, Status::Pass, "OAUTH2_JWT_SECRET is set"),
        },
    }
}

fn session_key(config: &Config) -> Check {
    const NAME: &str = "session_key";
    match &config.session_key {
        None => check(
            NAME,
            fail_in_production(config),
            format!(
                "OAUTH2_SESSION_KEY is not set; {}; {SESSION_KEY_FIX}",
                if config.is_production() {
                    "production requires it"
                } else {
                    "using a random key: sessions end at every restart"
                }
            ),
        ),
        Some(key) => match parse_session_key(key.expose_secret()) {
            // A key that is set but malformed is an operator error in every environment.
            Err(reason) => check(
                NAME,
                Status::Fail,
                format!("OAUTH2_SESSION_KEY {reason}; {SESSION_KEY_FIX}"),
            ),
            Ok(_) => check(NAME, Status::Pass, "OAUTH2_SESSION_KEY is set"),
        },
    }
}

/// The old secrets of a rotation in progress: malformed ones are an operator error in
/// every environment, as for the current ones.
fn jwt_secret_previous(config: &Config) -> Check {
    const NAME: &str = "jwt_secret_previous";
    let Some(list) = &config.jwt_secret_previous else {
        return check(
            NAME,
            Status::Pass,
            "no OAUTH2_JWT_SECRET_PREVIOUS: no rotation in progress",
        );
    };
    match parse_previous_jwt_secrets(list.expose_secret()) {
        Err(reason) => check(
            NAME,
            Status::Fail,
            format!("OAUTH2_JWT_SECRET_PREVIOUS {reason}"),
        ),
        Ok(previous) => check(
            NAME,
            Status::Pass,
            format!(
                "{} previous JWT secret(s): keys sealed under them are re-sealed; remove them once `ostiary keys reseal` reports nothing left",
                previous.len()
            ),
        ),
    }
}

fn session_key_previous(config: &Config) -> Check {
    const NAME: &str = "session_key_previous";
    let Some(key) = &config.session_key_previous else {
        return check(
            NAME,
            Status::Pass,
            "no OAUTH2_SESSION_KEY_PREVIOUS: no rotation in progress",
        );
    };
    match parse_session_key(key.expose_secret()) {
        Err(reason) => check(
            NAME,
            Status::Fail,
            format!("OAUTH2_SESSION_KEY_PREVIOUS {reason}"),
        ),
        Ok(_) => check(
            NAME,
            Status::Pass,
            "OAUTH2_SESSION_KEY_PREVIOUS is set: its cookies are re-issued under OAUTH2_SESSION_KEY; remove it to end them",
        ),
    }
}

fn issuer(config: &Config) -> Check {
    const NAME: &str = "issuer_https";
    if config.issuer.starts_with("https://") {
        check(NAME, Status::Pass, format!("issuer is {}", config.issuer))
    } else {
        check(
            NAME,
            fail_in_production(config),
            format!(
                "OAUTH2_ISSUER {} is not https; tokens and cookies need TLS in production",
                config.issuer
            ),
        )
    }
}

fn database_url(config: &Config) -> Check {
    const NAME: &str = "database_url";
    let url = config.database_url();
    if ostiary_store::is_sqlite(url) || ostiary_store::is_postgres(url) {
        check(
            NAME,
            Status::Pass,
            "OAUTH2_DATABASE_URL names a supported backend",
        )
    } else {
        check(
            NAME,
            Status::Fail,
            "OAUTH2_DATABASE_URL must start with sqlite:// or postgres://",
        )
    }
}

fn argon2(config: &Config) -> Check {
    const NAME: &str = "argon2_cost";
    match PasswordHasher::new(config.argon2) {
        Ok(_) => check(NAME, Status::Pass, format!("{:?}", config.argon2)),
        Err(e) => check(NAME, Status::Fail, format!("OAUTH2_ARGON2_*: {e}")),
    }
}

fn metrics_listener(config: &Config) -> Check {
    const NAME: &str = "metrics_listener";
    match config.metrics_bind {
        Some(addr) if addr == config.bind => check(
            NAME,
            Status::Fail,
            "OAUTH2_METRICS_BIND must differ from OAUTH2_BIND: metrics stay off the public port",
        ),
        Some(addr) => check(NAME, Status::Pass, format!("metrics on {addr}")),
        None => check(
            NAME,
            fail_in_production(config),
            "OAUTH2_METRICS_BIND=off: no metrics are collected or served",
        ),
    }
}

/// The admin API shares no port with the public or the metrics listener, and is best kept
/// to loopback or a private network.
fn admin_listener(config: &Config) -> Check {
    const NAME: &str = "admin_listener";
    let Some(admin) = config.admin_bind else {
        return check(
            NAME,
            Status::Pass,
            "no admin API (OAUTH2_ADMIN_BIND is off)",
        );
    };
    // Port 0 (any free port, as tests bind) never collides.
    let shares = |other: std::net::SocketAddr| {
        other.port() != 0
            && other.port() == admin.port()
            && (other.ip() == admin.ip()
                || other.ip().is_unspecified()
                || admin.ip().is_unspecified())
    };
    if shares(config.bind) || config.metrics_bind.is_some_and(shares) {
        return check(
            NAME,
            Status::Fail,
            "OAUTH2_ADMIN_BIND must differ from OAUTH2_BIND and OAUTH2_METRICS_BIND: the admin \
             API is never on the public port",
        );
    }
    if admin.ip().is_loopback() {
        check(NAME, Status::Pass, format!("admin API on {admin}"))
    } else {
        check(
            NAME,
            Status::Warn,
            format!(
                "admin API on {admin}, reachable beyond this machine: keep that address on a \
                 private network"
            ),
        )
    }
}

fn audit(config: &Config) -> Check {
    required_in_production(
        config,
        "audit",
        config.audit,
        &format!(
            "security events are written to the audit trail, through the journal in {}",
            config.audit_journal_dir().display()
        ),
        "OAUTH2_AUDIT=off: security events are not recorded",
    )
}

fn access_token_alg(config: &Config) -> Check {
    const NAME: &str = "access_token_alg";
    if config.access_token_alg.is_symmetric() {
        check(
            NAME,
            Status::Warn,
            "OAUTH2_ACCESS_TOKEN_ALG=HS256: access tokens are keyed by OAUTH2_JWT_SECRET and not \
             published; resource servers must use introspection",
        )
    } else {
        check(
            NAME,
            Status::Pass,
            format!("access tokens signed with {}", config.access_token_alg),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::INSECURE_DEFAULT_SECRET;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_sources(None, |var| {
            vars.iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap()
    }

    fn status(checks: &[Check], name: &str) -> Status {
        checks.iter().find(|c| c.name == name).unwrap().status
    }

    const GOOD_SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_admin_api_never_shares_the_public_or_metrics_port() {
        let check = |vars: &[(&str, &str)]| status(&run_checks(&config(vars)), "admin_listener");
        assert_eq!(check(&[]), Status::Pass, "off");
        assert_eq!(
            check(&[("OAUTH2_ADMIN_BIND", "127.0.0.1:9091")]),
            Status::Pass
        );
        for shared in ["127.0.0.1:8080", "0.0.0.0:8080", "127.0.0.1:9090"] {
            assert_eq!(
                check(&[("OAUTH2_ADMIN_BIND", shared)]),
                Status::Fail,
                "{shared}"
            );
        }
        assert_eq!(
            check(&[("OAUTH2_ADMIN_BIND", "10.0.0.5:9091")]),
            Status::Warn,
            "beyond loopback"
        );
    }

    #[test]
    fn production_refuses_short_default_and_missing_secrets() {
        let key = "ab".repeat(64);
        for secret in [
            Some("x".repeat(20)),
            Some(INSECURE_DEFAULT_SECRET.to_owned()),
            None,
        ] {
            let mut vars = vec![
                ("OAUTH2_ENV", "production"),
                ("OAUTH2_ISSUER", "https://id.example.com"),
                ("OAUTH2_SESSION_KEY", key.as_str()),
            ];
            if let Some(s) = &secret {
                vars.push(("OAUTH2_JWT_SECRET", s.as_str()));
            }
            let checks = run_checks(&config(&vars));
            assert_eq!(status(&checks, "jwt_secret"), Status::Fail, "{secret:?}");
            let message = &checks
                .iter()
                .find(|c| c.name == "jwt_secret")
                .unwrap()
                .message;
            assert!(message.contains("OAUTH2_JWT_SECRET") && message.contains("openssl rand"));
        }
    }

    #[test]
    fn development_only_warns_about_weak_secrets() {
        let checks = run_checks(&config(&[("OAUTH2_JWT_SECRET", "short")]));
        assert_eq!(status(&checks, "jwt_secret"), Status::Warn);
        assert_eq!(status(&checks, "session_key"), Status::Warn);
        assert!(checks.iter().all(|c| c.status != Status::Fail));
    }

    #[test]
    fn production_refuses_missing_or_malformed_session_key_and_http_issuer() {
        let checks = run_checks(&config(&[
            ("OAUTH2_ENV", "production"),
            ("OAUTH2_JWT_SECRET", GOOD_SECRET),
        ]));
        assert_eq!(status(&checks, "session_key"), Status::Fail);
        assert_eq!(status(&checks, "issuer_https"), Status::Fail);
        let checks = run_checks(&config(&[("OAUTH2_SESSION_KEY", "abcd")]));
        assert_eq!(status(&checks, "session_key"), Status::Fail);
    }

    #[test]
    fn complete_production_config_passes() {
        let key = "ab".repeat(64);
        let checks = run_checks(&config(&[
            ("OAUTH2_ENV", "production"),
            ("OAUTH2_ISSUER", "https://id.example.com"),
            ("OAUTH2_JWT_SECRET", GOOD_SECRET),
            ("OAUTH2_SESSION_KEY", &key),
        ]));
        assert!(
            checks.iter().all(|c| c.status == Status::Pass),
            "{checks:?}"
        );
    }

    #[test]
    fn weak_argon2_and_shared_metrics_port_fail_everywhere() {
        let checks = run_checks(&config(&[
            ("OAUTH2_ARGON2_MEMORY_KIB", "1024"),
            ("OAUTH2_METRICS_BIND", "127.0.0.1:8080"),
        ]));
        assert_eq!(status(&checks, "argon2_cost"), Status::Fail);
        assert_eq!(status(&checks, "metrics_listener"), Status::Fail);
    }

    #[test]
    fn production_refuses_rate_limits_off_and_wildcard_cors_is_unparseable() {
        let key = "ab".repeat(64);
        let checks = run_checks(&config(&[
            ("OAUTH2_ENV", "production"),
            ("OAUTH2_ISSUER", "https://id.example.com"),
            ("OAUTH2_JWT_SECRET", GOOD_SECRET),
            ("OAUTH2_SESSION_KEY", &key),
            ("OAUTH2_RATE_LIMITS", "off"),
        ]));
        assert_eq!(status(&checks, "rate_limits"), Status::Fail);
        assert_eq!(status(&checks, "secure_cookies"), Status::Pass);
        let dev = run_checks(&config(&[("OAUTH2_RATE_LIMITS", "off")]));
        assert_eq!(status(&dev, "rate_limits"), Status::Warn);
        assert_eq!(status(&dev, "secure_cookies"), Status::Warn);
        for bad in ["*", "https://app.example.com/path", "ftp://x.example"] {
            let result = Config::from_sources(None, |var| {
                (var == "OAUTH2_CORS_ORIGINS").then(|| bad.to_owned())
            });
            assert!(result.is_err(), "{bad} accepted");
        }
    }
}
