//! The root secrets: `OAUTH2_JWT_SECRET` (keys are encrypted at rest under a key derived from
//! it) and `OAUTH2_SESSION_KEY` (session cookies), each with the earlier values a rotation
//! still accepts (`_PREVIOUS`). Development fills gaps; production never does.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ostiary_core::random::os_random_bytes;
use secrecy::{ExposeSecret, SecretBox, SecretString};

use super::{Config, ConfigError};

/// The published default of the server Ostiary replaces: treated as no secret at all.
pub const INSECURE_DEFAULT_SECRET: &str = "insecure-default-for-testing-only-change-in-production";
pub const MIN_JWT_SECRET_CHARS: usize = 32;
pub const SESSION_KEY_BYTES: usize = 64;

pub const JWT_SECRET_FIX: &str = "generate one with: openssl rand -hex 32";
pub const SESSION_KEY_FIX: &str = "generate one with: openssl rand -hex 64";

#[derive(Debug)]
pub struct Secrets {
    pub jwt_secret: SecretString,
    /// `OAUTH2_JWT_SECRET_PREVIOUS`: keys sealed under these still open (and are re-sealed).
    pub jwt_secret_previous: Vec<SecretString>,
    pub session_key: SecretBox<[u8; SESSION_KEY_BYTES]>,
    /// `OAUTH2_SESSION_KEY_PREVIOUS`: cookies sealed under it are still read (and re-issued).
    pub session_key_previous: Option<SecretBox<[u8; SESSION_KEY_BYTES]>>,
}

impl Secrets {
    /// Just the current secrets, with no previous ones.
    pub fn new(jwt_secret: SecretString, session_key: [u8; SESSION_KEY_BYTES]) -> Self {
        Self {
            jwt_secret,
            jwt_secret_previous: Vec::new(),
            session_key: SecretBox::new(Box::new(session_key)),
            session_key_previous: None,
        }
    }
}

/// The earlier JWT secrets of `OAUTH2_JWT_SECRET_PREVIOUS` (comma-separated, blanks
/// ignored), each held to the rules of a current one.
pub fn parse_previous_jwt_secrets(list: &str) -> Result<Vec<SecretString>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, secret)| match jwt_secret_weakness(secret) {
            Some(weakness) => Err(format!("entry {} {weakness}", i + 1)),
            None => Ok(SecretString::from(secret.to_owned())),
        })
        .collect()
}

/// Why a configured JWT secret is unacceptable in production, if it is.
pub fn jwt_secret_weakness(secret: &str) -> Option<String> {
    if secret == INSECURE_DEFAULT_SECRET {
        Some("is the well-known insecure default of the original server".into())
    } else if secret.chars().count() < MIN_JWT_SECRET_CHARS {
        Some(format!(
            "is {} characters; at least {MIN_JWT_SECRET_CHARS} are required",
            secret.chars().count()
        ))
    } else {
        None
    }
}

pub fn parse_session_key(hex_key: &str) -> Result<[u8; SESSION_KEY_BYTES], String> {
    let mut key = [0u8; SESSION_KEY_BYTES];
    hex::decode_to_slice(hex_key, &mut key).map_err(|_| {
        format!(
            "must be exactly {} hex characters ({SESSION_KEY_BYTES} bytes)",
            SESSION_KEY_BYTES * 2
        )
    })?;
    Ok(key)
}

/// Where development keeps its generated JWT secret: beside the SQLite file, or in the
/// working directory for other databases.
pub fn dev_secret_file(config: &Config) -> PathBuf {
    match ostiary_store::sqlite_file(config.database_url()) {
        Some(db) => {
            let mut name = db.into_os_string();
            name.push(".jwt-secret");
            PathBuf::from(name)
        }
        None => PathBuf::from("ostiary.jwt-secret"),
    }
}

/// Produces the secrets to run with. Call after `run_checks` passed: refusals are repeated
/// here only so that no path can start production without them.
pub fn resolve_secrets(config: &Config) -> Result<Secrets, ConfigError> {
    let jwt_secret = match &config.jwt_secret {
        Some(secret) if config.is_production() => {
            if let Some(weakness) = jwt_secret_weakness(secret.expose_secret()) {
                return Err(ConfigError::Refused(format!(
                    "OAUTH2_JWT_SECRET {weakness}; {JWT_SECRET_FIX}"
                )));
            }
            secret.clone()
        }
        Some(secret) => secret.clone(),
        None if config.is_production() => {
            return Err(ConfigError::Refused(format!(
                "OAUTH2_JWT_SECRET is not set; {JWT_SECRET_FIX}"
            )));
        }
        None => read_or_create_dev_secret(&dev_secret_file(config))?,
    };
    let session_key = match &config.session_key {
        Some(hex_key) => parse_session_key(hex_key.expose_secret()).map_err(|reason| {
            ConfigError::Refused(format!("OAUTH2_SESSION_KEY {reason}; {SESSION_KEY_FIX}"))
        })?,
        None if config.is_production() => {
            return Err(ConfigError::Refused(format!(
                "OAUTH2_SESSION_KEY is not set; {SESSION_KEY_FIX}"
            )));
        }
        None => os_random_bytes::<SESSION_KEY_BYTES>(),
    };
    let jwt_secret_previous = match &config.jwt_secret_previous {
        Some(list) => parse_previous_jwt_secrets(list.expose_secret()).map_err(|reason| {
            ConfigError::Refused(format!("OAUTH2_JWT_SECRET_PREVIOUS {reason}"))
        })?,
        None => Vec::new(),
    };
    let session_key_previous = match &config.session_key_previous {
        Some(hex_key) => Some(SecretBox::new(Box::new(
            parse_session_key(hex_key.expose_secret()).map_err(|reason| {
                ConfigError::Refused(format!("OAUTH2_SESSION_KEY_PREVIOUS {reason}"))
            })?,
        ))),
        None => None,
    };
    Ok(Secrets {
        jwt_secret_previous,
        session_key_previous,
        ..Secrets::new(jwt_secret, session_key)
    })
}

/// Creates the file once (mode 0600, never overwritten); later starts read it back.
fn read_or_create_dev_secret(path: &Path) -> Result<SecretString, ConfigError> {
    let refused = |reason: String| ConfigError::Refused(format!("{}: {reason}", path.display()));
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            let secret = hex::encode(os_random_bytes::<32>());
            file.write_all(secret.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| refused(format!("could not write the generated secret: {e}")))?;
            Ok(SecretString::from(secret))
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path)
                .map_err(|e| refused(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(refused(format!(
                    "is readable by other users; run: chmod 600 {}",
                    path.display()
                )));
            }
            let secret = std::fs::read_to_string(path).map_err(|e| refused(e.to_string()))?;
            let secret = secret.trim();
            if let Some(weakness) = jwt_secret_weakness(secret) {
                return Err(refused(format!("the stored secret {weakness}")));
            }
            Ok(SecretString::from(secret.to_owned()))
        }
        Err(e) => Err(refused(format!("could not create the secret file: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_secrets_are_named() {
        assert!(jwt_secret_weakness(INSECURE_DEFAULT_SECRET).is_some());
        assert!(jwt_secret_weakness(&"x".repeat(20)).unwrap().contains("20"));
        assert!(jwt_secret_weakness(&"x".repeat(32)).is_none());
    }

    #[test]
    fn previous_jwt_secrets_are_a_comma_separated_list_of_strong_secrets() {
        let a = "a".repeat(32);
        let b = "b".repeat(40);
        let list = parse_previous_jwt_secrets(&format!(" {a} ,, {b},")).unwrap();
        let exposed: Vec<&str> = list.iter().map(|s| s.expose_secret()).collect();
        assert_eq!(exposed, [a.as_str(), b.as_str()]);
        let err = parse_previous_jwt_secrets(&format!("{a},short")).unwrap_err();
        assert!(err.starts_with("entry 2 is 5 characters"), "{err}");
    }

    #[test]
    fn session_key_must_be_128_hex_chars() {
        assert!(parse_session_key(&"ab".repeat(64)).is_ok());
        assert!(parse_session_key(&"ab".repeat(63)).is_err());
        assert!(parse_session_key(&"zz".repeat(64)).is_err());
    }

    #[test]
    fn dev_secret_is_created_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.jwt-secret");
        let first = read_or_create_dev_secret(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = read_or_create_dev_secret(&path).unwrap();
        assert_eq!(first.expose_secret(), second.expose_secret());
        assert_eq!(first.expose_secret().len(), 64);
    }

    #[test]
    fn dev_secret_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.jwt-secret");
        std::fs::write(&path, "y".repeat(64)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_or_create_dev_secret(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
