//! User passwords: policy for new passwords and Argon2id hashing with enforced minimum cost.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash as Phc, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::validation::InvalidInput;

/// Argon2id cost. Configuration, but never below OWASP's Password Storage Cheat Sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP's second configuration: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// OWASP's equivalent (memory KiB, iterations) pairs for Argon2id; a setting must reach one.
const OWASP_MINIMUMS: [(u32, u32); 5] = [
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
];

impl Argon2Params {
    pub fn meets_minimum(&self) -> bool {
        self.parallelism >= 1
            && OWASP_MINIMUMS
                .iter()
                .any(|&(m, t)| self.memory_kib >= m && self.iterations >= t)
    }
}

/// A password a user chose, checked against the policy and kept out of logs.
#[derive(Debug)]
pub struct Password(SecretString);

impl Password {
    /// NIST SP 800-63B: at least 8 characters; an upper bound keeps hashing from being a DoS.
    pub const MIN_CHARS: usize = 8;
    pub const MAX_BYTES: usize = 1024;

    pub fn new(candidate: SecretString) -> Result<Self, InvalidInput> {
        let value = candidate.expose_secret();
        if value.is_empty() {
            return Err(InvalidInput::new("password", "must not be empty"));
        }
        if value.chars().count() < Self::MIN_CHARS {
            return Err(InvalidInput::new(
                "password",
                format!("must be at least {} characters", Self::MIN_CHARS),
            ));
        }
        if value.len() > Self::MAX_BYTES {
            return Err(InvalidInput::new(
                "password",
                format!("must be at most {} bytes", Self::MAX_BYTES),
            ));
        }
        Ok(Self(candidate))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// A PHC-format Argon2id hash string as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

#[derive(Debug, Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
}

impl PasswordHasher {
    /// Refuses any cost below the OWASP minimum.
    pub fn new(params: Argon2Params) -> Result<Self, InvalidInput> {
        if !params.meets_minimum() {
            return Err(InvalidInput::new(
                "argon2",
                format!(
                    "{params:?} is weaker than OWASP's minimum (for example 19456 KiB with 2 \
                     iterations, or 47104 KiB with 1)"
                ),
            ));
        }
        Self::with_params(params)
    }

    /// Cheap hashing so test suites stay fast. Never reachable from configuration.
    #[cfg(any(test, feature = "test-support"))]
    pub fn insecure_fast_for_tests() -> Self {
        Self::with_params(Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap_or_else(|e| panic!("test parameters rejected: {e}"))
    }

    fn with_params(params: Argon2Params) -> Result<Self, InvalidInput> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| InvalidInput::new("argon2", e.to_string()))?;
        Ok(Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        })
    }

    /// CPU- and memory-heavy by design: call it off the async executor.
    pub fn hash(&self, password: &Password) -> Result<PasswordHash, argon2::password_hash::Error> {
        let salt = SaltString::generate(&mut OsRng);
        let phc = self
            .argon2
            .hash_password(password.expose().as_bytes(), &salt)?;
        Ok(PasswordHash(phc.to_string()))
    }

    /// Verifies with the cost recorded in the hash, so raising the cost keeps old hashes valid.
    pub fn verify(&self, candidate: &str, hash: &PasswordHash) -> bool {
        Phc::new(&hash.0).is_ok_and(|phc| {
            self.argon2
                .verify_password(candidate.as_bytes(), &phc)
                .is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(s: &str) -> Result<Password, InvalidInput> {
        Password::new(SecretString::from(s))
    }

    #[test]
    fn policy_refuses_empty_short_and_huge_passwords() {
        assert!(password("").unwrap_err().reason.contains("empty"));
        assert!(password("1234567").is_err());
        assert!(password(&"x".repeat(1025)).is_err());
        assert!(password("correct horse").is_ok());
    }

    #[test]
    fn default_cost_meets_owasp_and_weaker_is_refused() {
        assert!(Argon2Params::default().meets_minimum());
        assert!(PasswordHasher::new(Argon2Params::default()).is_ok());
        let weak = Argon2Params {
            memory_kib: 19_456,
            iterations: 1,
            parallelism: 1,
        };
        assert!(PasswordHasher::new(weak).is_err());
        let alt = Argon2Params {
            memory_kib: 47_104,
            iterations: 1,
            parallelism: 1,
        };
        assert!(alt.meets_minimum());
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let hasher = PasswordHasher::insecure_fast_for_tests();
        let pw = password("correct horse").unwrap();
        let a = hasher.hash(&pw).unwrap();
        let b = hasher.hash(&pw).unwrap();
        assert!(a.as_str().starts_with("$argon2id$v=19$"));
        assert_ne!(a, b, "salt must differ");
        assert!(hasher.verify("correct horse", &a));
        assert!(!hasher.verify("correct horsf", &a));
        assert!(!hasher.verify(
            "correct horse",
            &PasswordHash::from_stored("garbage".into())
        ));
    }

    #[test]
    fn default_cost_is_what_the_hash_records() {
        let hasher = PasswordHasher::new(Argon2Params::default()).unwrap();
        let hash = hasher.hash(&password("correct horse").unwrap()).unwrap();
        assert!(
            hash.as_str().contains("m=19456,t=2,p=1"),
            "{}",
            hash.as_str()
        );
    }
}
