//! The native TLS settings (`OAUTH2_TLS_CERT`, `OAUTH2_TLS_KEY`: both or neither) and their
//! startup check, which loads the files as `serve` will.

use std::path::PathBuf;

use super::checks::{Check, Status, check};
use super::{Config, ConfigError, invalid};
use crate::tls::{self, TlsFiles};

/// The two files, both given or neither: a certificate without its key (or the reverse) is
/// a mistake, not a request for plain HTTP. Empty values count as unset.
pub(super) fn files(
    cert: Option<&str>,
    key: Option<&str>,
) -> Result<Option<TlsFiles>, ConfigError> {
    let cert = cert.filter(|s| !s.is_empty());
    let key = key.filter(|s| !s.is_empty());
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert: PathBuf::from(cert),
            key: PathBuf::from(key),
        })),
        (Some(_), None) => Err(invalid(
            "tls_key",
            "missing while OAUTH2_TLS_CERT is set; give both OAUTH2_TLS_CERT and \
             OAUTH2_TLS_KEY (native TLS) or neither (plain HTTP, e.g. behind a TLS proxy)",
        )),
        (None, Some(_)) => Err(invalid(
            "tls_cert",
            "missing while OAUTH2_TLS_KEY is set; give both OAUTH2_TLS_CERT and \
             OAUTH2_TLS_KEY (native TLS) or neither (plain HTTP, e.g. behind a TLS proxy)",
        )),
    }
}

/// Files that cannot be served fail in every environment. Without TLS the check passes even
/// in production: a proxy in front ends TLS, and the issuer check asks for https already.
pub(super) fn tls_check(config: &Config) -> Check {
    const NAME: &str = "tls";
    let Some(files) = &config.tls else {
        return check(
            NAME,
            Status::Pass,
            format!(
                "no OAUTH2_TLS_CERT/OAUTH2_TLS_KEY: plain HTTP on {}, TLS ends at a proxy in front",
                config.bind
            ),
        );
    };
    let key = match tls::load_certified_key(files) {
        Ok(key) => key,
        Err(e) => return check(NAME, Status::Fail, e.to_string()),
    };
    let names = tls::summary(&key).map_or_else(String::new, |s| s.names.join(", "));
    let served = format!(
        "TLS 1.2 and 1.3 (ALPN h2, http/1.1) on {} with {} (names: {names}), re-read when it \
         changes (checked every {} s)",
        config.bind,
        files.cert.display(),
        config.tls_reload.as_secs()
    );
    let mut concerns = Vec::new();
    if let Ok(issuer) = url::Url::parse(&config.issuer) {
        if issuer.scheme() != "https" {
            concerns.push(format!(
                "OAUTH2_ISSUER {} is not https: discovery advertises URLs this listener does \
                 not answer",
                config.issuer
            ));
        } else if let Some(host) = issuer.host()
            && !tls::valid_for_host(&key, &host)
        {
            concerns.push(format!(
                "the certificate is not valid for {host}, the issuer's host: clients \
                 connecting to the issuer will refuse it"
            ));
        }
    }
    // A warning, not a refusal: secret volumes are often mounted world-readable (0644 is
    // Kubernetes' default), where no other user shares the file system.
    if readable_by_others(&files.key) {
        concerns.push(format!(
            "the key file {} is readable by every user of this machine (chmod o-r)",
            files.key.display()
        ));
    }
    if concerns.is_empty() {
        check(NAME, Status::Pass, served)
    } else {
        check(
            NAME,
            Status::Warn,
            format!("{served}; but {}", concerns.join("; ")),
        )
    }
}

fn readable_by_others(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o004 != 0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn from_env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_sources(None, |var| {
            vars.iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn tls_is_off_unless_both_files_are_given() {
        let off = from_env(&[]).unwrap();
        assert_eq!(off.tls, None);
        assert_eq!(off.tls_reload, Duration::from_secs(5));
        let empty = from_env(&[("OAUTH2_TLS_CERT", ""), ("OAUTH2_TLS_KEY", "")]).unwrap();
        assert_eq!(empty.tls, None);
        let on = from_env(&[
            ("OAUTH2_TLS_CERT", "/etc/ostiary/fullchain.pem"),
            ("OAUTH2_TLS_KEY", "/etc/ostiary/privkey.pem"),
            ("OAUTH2_TLS_RELOAD_SECS", "1"),
        ])
        .unwrap();
        assert_eq!(
            on.tls,
            Some(TlsFiles {
                cert: "/etc/ostiary/fullchain.pem".into(),
                key: "/etc/ostiary/privkey.pem".into(),
            })
        );
        assert_eq!(on.tls_reload, Duration::from_secs(1));
    }

    #[test]
    fn one_file_without_the_other_is_an_error_naming_both() {
        for (var, missing) in [
            ("OAUTH2_TLS_CERT", "OAUTH2_TLS_KEY"),
            ("OAUTH2_TLS_KEY", "OAUTH2_TLS_CERT"),
        ] {
            let err = from_env(&[(var, "/etc/ostiary/file.pem")])
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(missing), "{err}");
            assert!(err.contains(var), "{err}");
        }
    }

    #[test]
    fn a_zero_reload_interval_is_refused() {
        let err = from_env(&[("OAUTH2_TLS_RELOAD_SECS", "0")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("OAUTH2_TLS_RELOAD_SECS"), "{err}");
    }

    #[test]
    fn without_tls_the_check_passes_even_in_production() {
        let config = from_env(&[("OAUTH2_ENV", "production")]).unwrap();
        let check = tls_check(&config);
        assert_eq!(check.status, Status::Pass);
        assert!(check.message.contains("proxy"), "{}", check.message);
    }

    #[test]
    fn unreadable_files_fail_the_check_in_every_environment() {
        let config = from_env(&[
            ("OAUTH2_TLS_CERT", "/nonexistent/ostiary/fullchain.pem"),
            ("OAUTH2_TLS_KEY", "/nonexistent/ostiary/privkey.pem"),
        ])
        .unwrap();
        let check = tls_check(&config);
        assert_eq!(check.status, Status::Fail);
        assert!(
            check.message.contains("/nonexistent/ostiary/fullchain.pem"),
            "{}",
            check.message
        );
    }
}
