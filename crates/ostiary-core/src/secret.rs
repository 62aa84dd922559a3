//! Client secrets: generated from the OS CSPRNG, shown once, stored only as a SHA-256 digest.
//!
//! A generated secret carries 256 bits of entropy, so a fast digest is as strong as a slow
//! password hash here (there is nothing to guess) and keeps client authentication cheap enough
//! for machine clients sending thousands of token requests a second. Comparison of digests is
//! constant-time.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::random::random_token;

/// A freshly generated client secret. It exists in memory only until it is shown once.
#[derive(Debug)]
pub struct ClientSecret(SecretString);

impl ClientSecret {
    /// 32 bytes (256 bits) from the OS CSPRNG, base64url-encoded (43 characters).
    pub fn generate() -> Self {
        Self(SecretString::from(random_token::<32>()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash::of(self.expose())
    }
}

/// The stored form of a client secret (or of any other high-entropy credential).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// A digest no secret has (all zero bytes, a SHA-256 preimage no one can find): what a
    /// presented secret is compared against when there is nothing to compare it with, so
    /// that the work is the same.
    pub const STAND_IN: SecretHash = SecretHash([0; 32]);

    pub fn of(presented: &str) -> Self {
        Self(Sha256::digest(presented.as_bytes()).into())
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time check of a presented secret against this digest.
    pub fn verify(&self, presented: &str) -> bool {
        self.matches(&Self::of(presented))
    }

    /// Constant-time check of the digest of a presented secret against this digest: one
    /// digest of the secret serves several checks.
    pub fn matches(&self, presented: &SecretHash) -> bool {
        presented.0.ct_eq(&self.0).into()
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_256_bit_and_distinct() {
        let a = ClientSecret::generate();
        let b = ClientSecret::generate();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn hash_verifies_only_the_original() {
        let secret = ClientSecret::generate();
        let hash = secret.hash();
        assert!(hash.verify(secret.expose()));
        assert!(!hash.verify(""));
        assert!(!hash.verify(&secret.expose()[1..]));
        assert!(!hash.verify(ClientSecret::generate().expose()));
    }

    #[test]
    fn debug_output_never_shows_material() {
        let secret = ClientSecret::generate();
        assert!(!format!("{secret:?}").contains(secret.expose()));
        assert_eq!(format!("{:?}", secret.hash()), "SecretHash(..)");
    }

    #[test]
    fn from_bytes_requires_exactly_32() {
        assert!(SecretHash::from_bytes(&[0u8; 31]).is_none());
        assert!(SecretHash::from_bytes(&[0u8; 32]).is_some());
    }
}
