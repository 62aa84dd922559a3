//! User passwords: RFC 8265 preparation, policy for new passwords, and Argon2id hashing.

use std::borrow::Cow;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash as Phc, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier, Version};
use precis_profiles::OpaqueString;
use precis_profiles::precis_core::profile::PrecisFastInvocation;
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

/// A password as RFC 8265's OpaqueString profile (section 4.2) enforces it: non-ASCII spaces
/// mapped to U+0020, Unicode NFC, and only characters of the PRECIS FreeformClass (no control
/// or unassigned characters). NIST SP 800-63B 5.1.1.2 asks for this normalization, so that
/// the same password typed on another keyboard or system (NFC or NFD) is the same password.
/// `None` when the profile refuses the text (empty, control characters...).
fn prepare(raw: &str) -> Option<Cow<'_, str>> {
    OpaqueString::enforce(raw).ok()
}

/// A password a user chose: prepared (RFC 8265 OpaqueString), checked against the policy and
/// kept out of logs. What is hashed is always the prepared form.
#[derive(Debug)]
pub struct Password(SecretString);

impl Password {
    /// NIST SP 800-63B: at least 8 characters; an upper bound keeps hashing from being a DoS.
    pub const MIN_CHARS: usize = 8;
    pub const MAX_BYTES: usize = 1024;

    /// Prepares `candidate` and applies the policy to the prepared form (the one that is
    /// stored and compared): length is counted after normalization.
    pub fn new(candidate: SecretString) -> Result<Self, InvalidInput> {
        let value = candidate.expose_secret();
        if value.is_empty() {
            return Err(InvalidInput::new("password", "must not be empty"));
        }
        // Checked before preparing as well, so no Unicode work is spent on a huge input.
        let too_long = || {
            InvalidInput::new(
                "password",
                format!("must be at most {} bytes", Self::MAX_BYTES),
            )
        };
        if value.len() > Self::MAX_BYTES {
            return Err(too_long());
        }
        let prepared = match prepare(value).ok_or_else(|| {
            InvalidInput::new(
                "password",
                "may contain only printable characters (RFC 8265 OpaqueString: no control \
                 characters, no unassigned code points)",
            )
        })? {
            Cow::Borrowed(_) => candidate,
            // Moved into the secret as it is: no other copy of the prepared text remains.
            Cow::Owned(prepared) => SecretString::from(prepared),
        };
        let value = prepared.expose_secret();
        if value.chars().count() < Self::MIN_CHARS {
            return Err(InvalidInput::new(
                "password",
                format!("must be at least {} characters", Self::MIN_CHARS),
            ));
        }
        if value.len() > Self::MAX_BYTES {
            return Err(too_long());
        }
        Ok(Self(prepared))
    }

    /// The prepared password.
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

    /// A hash at this hasher's cost that no password matches: a random salt and a random
    /// output of the hasher's length (32 bytes), never computed. Checking a candidate against it costs one full Argon2
    /// computation, as against a real hash, while making it costs nothing (no Argon2 memory
    /// block allocated at start, which the allocator would then keep).
    pub fn unmatchable(&self) -> Result<PasswordHash, argon2::password_hash::Error> {
        let salt = SaltString::generate(&mut OsRng);
        let len = self
            .argon2
            .params()
            .output_len()
            .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = crate::random::os_random_bytes::<64>();
        let phc = Phc {
            algorithm: argon2::ARGON2ID_IDENT,
            version: Some(Version::V0x13 as u32),
            params: self.argon2.params().try_into()?,
            salt: Some(salt.as_salt()),
            hash: Some(argon2::password_hash::Output::new(
                output.get(..len).unwrap_or(&output),
            )?),
        };
        Ok(PasswordHash(phc.to_string()))
    }

    /// Verifies a password as typed: prepared as when it was set (RFC 8265 OpaqueString), then
    /// checked with the cost recorded in the hash, so raising the cost keeps old hashes valid.
    ///
    /// A candidate the profile refuses matches nothing, yet is still put through one Argon2
    /// verification: its failure costs what a wrong password costs, and tells nothing apart.
    pub fn verify(&self, candidate: &str, hash: &PasswordHash) -> bool {
        let prepared = prepare(candidate);
        let bytes = prepared.as_deref().unwrap_or(candidate).as_bytes();
        let matches =
            Phc::new(&hash.0).is_ok_and(|phc| self.argon2.verify_password(bytes, &phc).is_ok());
        matches && prepared.is_some()
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

    /// "pässwörd ñandú 1" composed (NFC) and decomposed (NFD).
    const NFC: &str = "p\u{e4}ssw\u{f6}rd \u{f1}and\u{fa} 1";
    const NFD: &str = "pa\u{308}sswo\u{308}rd n\u{303}andu\u{301} 1";

    #[test]
    fn passwords_are_prepared_with_the_opaque_string_profile() {
        assert_ne!(NFC, NFD);
        assert_eq!(password(NFD).unwrap().expose(), NFC);
        assert_eq!(password(NFC).unwrap().expose(), NFC);
        // Non-ASCII spaces become U+0020 (RFC 8265 4.2.1).
        assert_eq!(
            password("correct\u{a0}horse").unwrap().expose(),
            "correct horse"
        );
        // Counted after normalization: 8 decomposed letters are 4 characters.
        assert!(password("a\u{308}o\u{308}u\u{308}e\u{301}").is_err());
    }

    #[test]
    fn the_profile_refuses_control_characters_and_unassigned_code_points() {
        for refused in [
            "correct\u{0}horse",
            "correct\thorse",
            "correct horse\u{7f}",
            "correct horse\u{378}",
            "correct horse\u{10ffff}",
        ] {
            let err = password(refused).unwrap_err();
            assert!(err.reason.contains("OpaqueString"), "{refused:?}: {err}");
        }
    }

    #[test]
    fn a_password_set_in_one_normalization_verifies_in_the_other() {
        let hasher = PasswordHasher::insecure_fast_for_tests();
        let from_nfc = hasher.hash(&password(NFC).unwrap()).unwrap();
        let from_nfd = hasher.hash(&password(NFD).unwrap()).unwrap();
        for hash in [&from_nfc, &from_nfd] {
            assert!(hasher.verify(NFC, hash));
            assert!(hasher.verify(NFD, hash));
            assert!(!hasher.verify("p\u{e4}ssw\u{f6}rd \u{f1}and\u{fa} 2", hash));
        }
    }

    #[test]
    fn a_candidate_the_profile_refuses_never_verifies() {
        let hasher = PasswordHasher::insecure_fast_for_tests();
        let hash = hasher.hash(&password("correct horse").unwrap()).unwrap();
        assert!(!hasher.verify("", &hash));
        assert!(!hasher.verify("correct horse\u{0}", &hash));
        // Even a hash of the raw text (as an older release might have stored) does not
        // make a refused candidate valid.
        let control = "correct\u{1}horse";
        let salt = SaltString::generate(&mut OsRng);
        let raw_hash = PasswordHash(
            hasher
                .argon2
                .hash_password(control.as_bytes(), &salt)
                .unwrap()
                .to_string(),
        );
        assert!(!hasher.verify(control, &raw_hash));
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
    fn an_unmatchable_hash_has_the_cost_of_a_real_one_and_matches_nothing() {
        let hasher = PasswordHasher::new(Argon2Params {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        let real = hasher.hash(&password("correct horse").unwrap()).unwrap();
        let unmatchable = hasher.unmatchable().unwrap();
        // $argon2id$v=19$m=19456,t=2,p=1$salt$output: the same algorithm, version, cost and
        // lengths, so a verification against it does the same work.
        let fields =
            |h: &PasswordHash| h.as_str().split('$').map(str::to_owned).collect::<Vec<_>>();
        let (real, fake) = (fields(&real), fields(&unmatchable));
        assert_eq!(real[..4], fake[..4]);
        assert_eq!(real[4].len(), fake[4].len());
        assert_eq!(real[5].len(), fake[5].len());
        assert_ne!(real[4], fake[4]);
        assert!(!hasher.verify("correct horse", &unmatchable));
        assert!(!hasher.verify("", &unmatchable));
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
