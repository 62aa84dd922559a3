//! Where settings come from: a TOML file, overridden by `OAUTH2_*` environment variables
//! (and, for secrets, by the files `OAUTH2_*_FILE` names).
//!
//! Both are read into one flat map of raw strings keyed by setting name, so every setting is
//! parsed (and its errors reported) in exactly one place whichever source it came from.

use std::collections::BTreeMap;
use std::path::Path;

use super::ConfigError;

/// Every setting, by its name in the file (nested tables join with `_`); the environment
/// variable is the upper-cased name with the `OAUTH2_` prefix.
pub const SETTINGS: &[&str] = &[
    "issuer",
    "bind",
    "database_url",
    "database_max_connections",
    "jwt_secret",
    "jwt_secret_previous",
    "session_key",
    "session_key_previous",
    "env",
    "metrics_bind",
    "argon2_memory_kib",
    "argon2_iterations",
    "argon2_parallelism",
    "http_body_limit_bytes",
    "http_request_timeout_secs",
    "http_header_timeout_secs",
    "http_idle_timeout_secs",
    "http_body_timeout_secs",
    "http_max_connections",
    "access_token_alg",
    "access_token_lifetime_secs",
    "key_rotation_days",
    "key_refresh_secs",
    "client_cache_secs",
    "session_idle_secs",
    "session_lifetime_secs",
    "refresh_token_lifetime_secs",
    "refresh_grace_secs",
    "trusted_proxies",
    "forwarded_header",
    "rate_limits",
    "audit",
    "audit_journal",
    "audit_retention_days",
    "dpop_nonce",
    "require_par",
    "client_quota_per_sec",
    "cors_origins",
    "registration",
    "registration_scopes",
    "registration_audiences",
    "client_metadata_hosts",
    "tls_cert",
    "tls_key",
    "tls_reload_secs",
];

pub fn env_var(setting: &str) -> String {
    format!("OAUTH2_{}", setting.to_ascii_uppercase())
}

/// The settings that hold secrets: each may instead be read from the file that
/// `OAUTH2_<NAME>_FILE` names (a container secret, a systemd credential), so the value is in
/// no process environment.
pub const SECRET_SETTINGS: &[&str] = &[
    "database_url",
    "jwt_secret",
    "jwt_secret_previous",
    "session_key",
    "session_key_previous",
];

/// The value of a secret setting read from `path`: the whole file less one trailing newline.
/// Errors name the variable and the path, never the content.
fn read_secret_file(var: &str, path: &str) -> Result<String, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        var: var.to_owned(),
        reason,
    };
    let mut value = std::fs::read_to_string(path)
        .map_err(|e| invalid(format!("cannot read {path}: {}", e.kind())))?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    if value.is_empty() {
        return Err(invalid(format!("{path} is empty")));
    }
    Ok(value)
}

/// Raw values: the file first, each environment variable replacing the file's value.
pub fn collect(
    file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<&'static str, String>, ConfigError> {
    let mut raw = BTreeMap::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        read_toml(&text, &mut raw).map_err(|reason| ConfigError::File {
            path: path.display().to_string(),
            reason,
        })?;
    }
    for &setting in SETTINGS {
        if let Some(value) = env(&env_var(setting)) {
            raw.insert(setting, value);
        }
    }
    for &setting in SECRET_SETTINGS {
        let var = format!("{}_FILE", env_var(setting));
        let Some(path) = env(&var) else {
            continue;
        };
        if env(&env_var(setting)).is_some() {
            return Err(ConfigError::Invalid {
                var,
                reason: format!("{} is set too: give one or the other", env_var(setting)),
            });
        }
        raw.insert(setting, read_secret_file(&var, &path)?);
    }
    Ok(raw)
}

fn read_toml(text: &str, raw: &mut BTreeMap<&'static str, String>) -> Result<(), String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut flat = Vec::new();
    for (key, value) in table {
        match value {
            toml::Value::Table(inner) => {
                flat.extend(inner.into_iter().map(|(k, v)| (format!("{key}_{k}"), v)));
            }
            value => flat.push((key, value)),
        }
    }
    for (key, value) in flat {
        let setting = SETTINGS
            .iter()
            .find(|s| **s == key)
            .ok_or_else(|| format!("unknown setting {key:?}"))?;
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(format!(
                    "{key} must be a string or a number, not {}",
                    other.type_str()
                ));
            }
        };
        raw.insert(setting, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_read_from_the_files_their_file_variables_name() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("jwt");
        std::fs::write(&secret, "a secret from a file, not the environment\n").unwrap();
        let crlf = dir.path().join("session");
        std::fs::write(&crlf, "ab".repeat(64) + "\r\n").unwrap();
        let (secret_path, crlf_path) = (secret.display().to_string(), crlf.display().to_string());
        let raw = collect(None, |var| match var {
            "OAUTH2_JWT_SECRET_FILE" => Some(secret_path.clone()),
            "OAUTH2_SESSION_KEY_FILE" => Some(crlf_path.clone()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            raw["jwt_secret"],
            "a secret from a file, not the environment"
        );
        assert_eq!(raw["session_key"], "ab".repeat(64));

        let both = collect(None, |var| match var {
            "OAUTH2_JWT_SECRET_FILE" => Some(secret_path.clone()),
            "OAUTH2_JWT_SECRET" => Some("x".repeat(40)),
            _ => None,
        })
        .unwrap_err()
        .to_string();
        assert!(
            both.contains("OAUTH2_JWT_SECRET_FILE") && both.contains("one or the other"),
            "{both}"
        );

        let missing = collect(None, |var| {
            (var == "OAUTH2_DATABASE_URL_FILE").then(|| "/nonexistent/ostiary-db-url".to_owned())
        })
        .unwrap_err()
        .to_string();
        assert!(missing.contains("/nonexistent/ostiary-db-url"), "{missing}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let empty_path = empty.display().to_string();
        assert!(
            collect(None, |var| {
                (var == "OAUTH2_SESSION_KEY_PREVIOUS_FILE").then(|| empty_path.clone())
            })
            .is_err()
        );
        // Only secrets have file variants.
        let issuer = collect(None, |var| {
            (var == "OAUTH2_ISSUER_FILE").then(|| secret_path.clone())
        })
        .unwrap();
        assert!(!issuer.contains_key("issuer"));
    }

    #[test]
    fn env_overrides_file_and_tables_flatten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ostiary.toml");
        std::fs::write(
            &path,
            "issuer = \"https://file.example\"\nbind = \"0.0.0.0:1\"\n[argon2]\nmemory_kib = 65536\n",
        )
        .unwrap();
        let raw = collect(Some(&path), |var| {
            (var == "OAUTH2_BIND").then(|| "127.0.0.1:9".to_owned())
        })
        .unwrap();
        assert_eq!(raw["issuer"], "https://file.example");
        assert_eq!(raw["bind"], "127.0.0.1:9");
        assert_eq!(raw["argon2_memory_kib"], "65536");
    }

    #[test]
    fn unknown_file_settings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ostiary.toml");
        std::fs::write(&path, "isuer = \"https://typo.example\"\n").unwrap();
        let err = collect(Some(&path), |_| None).unwrap_err();
        assert!(err.to_string().contains("isuer"), "{err}");
    }

    #[test]
    fn env_var_names_keep_the_seed_prefix() {
        assert_eq!(env_var("jwt_secret"), "OAUTH2_JWT_SECRET");
    }
}
