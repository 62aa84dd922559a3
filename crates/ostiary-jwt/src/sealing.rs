//! Encryption at rest of private keys: AES-256-GCM under a key derived with HKDF-SHA256 from
//! the root secret (`OAUTH2_JWT_SECRET`). The key id and algorithm are authenticated data, so
//! a sealed key cannot be moved to another row.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};

const SALT: &[u8] = b"ostiary root secret v1";
const SEALING_INFO: &[u8] = b"ostiary signing key sealing";

/// Why sealing or opening failed. Deliberately without detail: a wrong secret, a wrong context
/// and a tampered ciphertext are the same failure.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Deriving the key or encrypting failed (not expected with valid inputs).
    #[error("sealing failed")]
    Seal,
    /// The sealed bytes do not authenticate under this secret and context, or are too short.
    #[error("the sealed key does not open with this secret (was OAUTH2_JWT_SECRET changed?)")]
    Open,
}

/// A 32-byte key for one purpose, derived from the root secret (HKDF-SHA256, RFC 5869, with
/// a fixed salt and `purpose` as the info). The same secret and purpose give the same key.
pub fn derive_subkey(root_secret: &[u8], purpose: &[u8]) -> Result<[u8; 32], SealError> {
    let mut out = [0u8; 32];
    Salt::new(HKDF_SHA256, SALT)
        .extract(root_secret)
        .expand(&[purpose], HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut out))
        .map_err(|_| SealError::Seal)?;
    Ok(out)
}

/// Seals and opens private keys at rest with AES-256-GCM (a random 96-bit nonce per seal)
/// under a key derived from the root secret. The `context` of [`KeySealer::seal`] is
/// authenticated, not encrypted, and must be given again to [`KeySealer::open`].
pub struct KeySealer {
    key: RandomizedNonceKey,
}

impl std::fmt::Debug for KeySealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySealer(..)")
    }
}

impl KeySealer {
    /// The sealer for signing keys, derived from the root secret (`OAUTH2_JWT_SECRET`).
    pub fn new(root_secret: &[u8]) -> Result<Self, SealError> {
        Self::for_purpose(root_secret, SEALING_INFO)
    }

    /// A sealer whose key is derived from `secret` for one purpose only.
    pub fn for_purpose(secret: &[u8], purpose: &[u8]) -> Result<Self, SealError> {
        let key = RandomizedNonceKey::new(&AES_256_GCM, &derive_subkey(secret, purpose)?)
            .map_err(|_| SealError::Seal)?;
        Ok(Self { key })
    }

    /// Encrypts `plaintext` with `context` as authenticated data. The result is
    /// `nonce || ciphertext || tag`: 12 + `plaintext.len()` + 16 bytes.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(context), &mut in_out)
            .map_err(|_| SealError::Seal)?;
        let mut sealed = nonce.as_ref().to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// The plaintext of a [`KeySealer::seal`] output, if it authenticates under this key and
    /// the same `context`; [`SealError::Open`] otherwise.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut in_out)
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_with_the_same_secret_and_context() {
        let sealer = KeySealer::new(b"root secret of at least 32 chars!!").unwrap();
        let sealed = sealer.seal(b"kid1|ES256", b"private key").unwrap();
        assert!(!sealed.windows(11).any(|w| w == b"private key"));
        assert_eq!(sealer.open(b"kid1|ES256", &sealed).unwrap(), b"private key");
        assert!(sealer.open(b"kid2|ES256", &sealed).is_err());
        let other = KeySealer::new(b"another root secret of 32+ chars!!").unwrap();
        assert!(other.open(b"kid1|ES256", &sealed).is_err());
        assert!(sealer.open(b"kid1|ES256", &sealed[..5]).is_err());
    }

    #[test]
    fn subkeys_differ_by_purpose() {
        let a = derive_subkey(b"root", b"a").unwrap();
        assert_ne!(a, derive_subkey(b"root", b"b").unwrap());
        assert_eq!(a, derive_subkey(b"root", b"a").unwrap());
        assert_ne!(a, [0u8; 32]);
    }
}
