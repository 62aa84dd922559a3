//! Private signing keys: generated from the OS CSPRNG (through AWS-LC), each bound to one
//! algorithm, identified by the RFC 7638 thumbprint of its public key.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};

use crate::verifying_key::VerifyingKey;
use crate::{Algorithm, Jwk, b64};

/// Why a key could not be generated, loaded, exported or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The input is not an acceptable key for the requested use: the reason is a fixed,
    /// human-readable sentence (e.g. "RSA keys below 2048 bits are refused").
    #[error("{0}")]
    Invalid(&'static str),
    /// AWS-LC refused the operation (key generation, encoding or signing).
    #[error("the cryptographic library refused the operation")]
    Crypto,
}

enum Inner {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Hs256(Box<hmac::Key>),
}

/// A private key bound to one [`Algorithm`], with its `kid` (the RFC 7638 thumbprint of the
/// public key, or the configured name for HS256), its public JWK and its verifying half.
/// `Debug` shows the `kid` and algorithm only, never key material.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    inner: Inner,
    /// `None` for HS256: a symmetric key has no public half and is never published.
    jwk: Option<Jwk>,
    verifying: VerifyingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new asymmetric key from the system's CSPRNG: P-256 for ES256, 2048-bit RSA for RS256,
    /// Ed25519 for EdDSA. HS256 keys are configured secrets, not generated: see
    /// [`SigningKey::hs256`].
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        let pkcs8 = match alg {
            Algorithm::Es256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map(|doc| doc.as_ref().to_vec()),
            Algorithm::EdDsa => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8())
                .map(|doc| doc.as_ref().to_vec()),
            Algorithm::Rs256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .and_then(|k| k.as_der())
                .map(|der| der.as_ref().to_vec()),
            Algorithm::Hs256 => {
                return Err(KeyError::Invalid("HS256 keys are derived, not generated"));
            }
        }
        .map_err(|_| KeyError::Crypto)?;
        Self::from_pkcs8(alg, &pkcs8)
    }

    /// Loads a DER-encoded PKCS#8 private key for exactly `alg` (v1 or v2 documents); a key of
    /// another type, or an RSA key below 2048 bits, is [`KeyError::Invalid`].
    pub fn from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        let rejected = |_| KeyError::Invalid("private key does not match its algorithm");
        let (inner, jwk, public) = match alg {
            Algorithm::Es256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(rejected)?;
                let point = pair.public_key().as_ref().to_vec();
                let (x, y) = point
                    .get(1..33)
                    .zip(point.get(33..65))
                    .ok_or(KeyError::Invalid("unexpected P-256 public key encoding"))?;
                let jwk = Jwk {
                    kty: "EC".into(),
                    crv: Some("P-256".into()),
                    x: Some(b64::encode(x)),
                    y: Some(b64::encode(y)),
                    ..blank_jwk()
                };
                let public = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point);
                (Inner::Es256(pair), jwk, public)
            }
            Algorithm::EdDsa => {
                let pair = Ed25519KeyPair::from_pkcs8(der).map_err(rejected)?;
                let public_bytes = pair.public_key().as_ref().to_vec();
                let jwk = Jwk {
                    kty: "OKP".into(),
                    crv: Some("Ed25519".into()),
                    x: Some(b64::encode(&public_bytes)),
                    ..blank_jwk()
                };
                let public = ParsedPublicKey::new(&ED25519, &public_bytes);
                (Inner::EdDsa(pair), jwk, public)
            }
            Algorithm::Rs256 => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(rejected)?;
                if pair.public_modulus_len() < 256 {
                    return Err(KeyError::Invalid("RSA keys below 2048 bits are refused"));
                }
                let components = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                let jwk = Jwk {
                    kty: "RSA".into(),
                    n: Some(b64::encode(&components.n)),
                    e: Some(b64::encode(&components.e)),
                    ..blank_jwk()
                };
                let public = components.to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256);
                (Inner::Rs256(pair), jwk, public)
            }
            Algorithm::Hs256 => return Err(KeyError::Invalid("HS256 keys are not PKCS#8")),
        };
        let public = public.map_err(|_| KeyError::Crypto)?;
        let kid = jwk.thumbprint().ok_or(KeyError::Crypto)?;
        let jwk = Jwk {
            kid: Some(kid.clone()),
            use_: Some("sig".into()),
            alg: Some(alg.as_str().into()),
            ..jwk
        };
        Ok(Self {
            verifying: VerifyingKey::from_parts(kid.clone(), alg, public),
            kid,
            alg,
            inner,
            jwk: Some(jwk),
        })
    }

    /// An HS256 key under a secret the operator configured; `kid` names it in headers only.
    pub fn hs256(kid: impl Into<String>, secret: &[u8]) -> Self {
        let kid = kid.into();
        Self {
            verifying: VerifyingKey::hmac(kid.clone(), secret),
            kid,
            alg: Algorithm::Hs256,
            inner: Inner::Hs256(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret))),
            jwk: None,
        }
    }

    /// The PKCS#8 document: secret material, to be sealed before it is stored.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, KeyError> {
        match &self.inner {
            Inner::Es256(k) => k.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
            Inner::EdDsa(k) => k.to_pkcs8().map(|d| d.as_ref().to_vec()),
            Inner::Rs256(k) => k.as_der().map(|d| d.as_ref().to_vec()),
            Inner::Hs256(_) => return Err(KeyError::Invalid("HS256 keys are not exported")),
        }
        .map_err(|_| KeyError::Crypto)
    }

    /// The key ID written in the `kid` header of every token this key signs.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key signs with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK (with `kid`, `use` and `alg`); `None` for HS256.
    pub fn public_jwk(&self) -> Option<&Jwk> {
        self.jwk.as_ref()
    }

    /// The public half (or, for HS256, the same secret) as a key that verifies.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// The raw signature of `message` under this key's algorithm, in JWS form (RFC 7518
    /// section 3): ES256 is `r || s` (64 bytes, not DER), RS256 is as long as the modulus
    /// (256 bytes for 2048 bits), EdDSA 64 bytes, HS256 32 bytes.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.inner {
            Inner::Es256(k) => k
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Crypto),
            Inner::EdDsa(k) => Ok(k.sign(message).as_ref().to_vec()),
            Inner::Rs256(k) => {
                let mut signature = vec![0u8; k.public_modulus_len()];
                k.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| KeyError::Crypto)?;
                Ok(signature)
            }
            Inner::Hs256(k) => Ok(hmac::sign(k, message).as_ref().to_vec()),
        }
    }
}

fn blank_jwk() -> Jwk {
    Jwk {
        kty: String::new(),
        crv: None,
        x: None,
        y: None,
        n: None,
        e: None,
        kid: None,
        use_: None,
        alg: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_round_trips_through_pkcs8_and_verifies() {
        for alg in Algorithm::ASYMMETRIC {
            let key = SigningKey::generate(alg).unwrap();
            let reloaded = SigningKey::from_pkcs8(alg, &key.to_pkcs8().unwrap()).unwrap();
            assert_eq!(key.kid(), reloaded.kid(), "{alg}");
            let signature = reloaded.sign(b"message").unwrap();
            assert!(key.verifying_key().verify(b"message", &signature), "{alg}");
            assert!(!key.verifying_key().verify(b"messagf", &signature), "{alg}");
            let jwk = key.public_jwk().unwrap();
            assert_eq!(jwk.kid.as_deref(), Some(key.kid()));
            assert_eq!(jwk.alg.as_deref(), Some(alg.as_str()));
            let from_jwk = VerifyingKey::from_jwk(jwk).unwrap();
            assert_eq!(from_jwk.alg(), alg);
            assert!(from_jwk.verify(b"message", &signature), "{alg} via JWK");
        }
    }

    #[test]
    fn a_key_loads_only_for_its_own_algorithm() {
        let ec = SigningKey::generate(Algorithm::Es256)
            .unwrap()
            .to_pkcs8()
            .unwrap();
        assert!(SigningKey::from_pkcs8(Algorithm::Rs256, &ec).is_err());
        assert!(SigningKey::from_pkcs8(Algorithm::EdDsa, &ec).is_err());
    }

    #[test]
    fn distinct_keys_have_distinct_kids_and_hs256_is_never_published() {
        let a = SigningKey::generate(Algorithm::Es256).unwrap();
        let b = SigningKey::generate(Algorithm::Es256).unwrap();
        assert_ne!(a.kid(), b.kid());
        let h = SigningKey::hs256("hs", &[1u8; 32]);
        assert!(h.public_jwk().is_none());
        assert!(h.to_pkcs8().is_err());
    }
}
