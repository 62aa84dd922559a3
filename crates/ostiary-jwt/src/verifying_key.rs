//! Public keys that verify signatures, and the key set of one issuer.
//!
//! A key is bound to exactly one algorithm when it is loaded; the token header never chooses
//! how a key is used (RFC 8725 3.1).

use std::collections::HashMap;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
    RsaPublicKeyComponents,
};

use crate::signing_key::KeyError;
use crate::{Algorithm, Jwk, JwkSet, b64};

/// Longest `kid` looked up; anything longer is refused before any lookup.
pub const MAX_KID_LEN: usize = 128;
const MIN_RSA_MODULUS_BITS: usize = 2048;

fn modulus_bits(n: &[u8]) -> usize {
    n.first().map_or(0, |top| {
        (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
    })
}

/// An RSA public exponent that verification takes (odd, at least 3, below 2^33, as
/// aws-lc checks at each signature): a key with another is refused when loaded, not left to
/// fail every signature silently. `e` is minimal big-endian.
fn usable_exponent(e: &[u8]) -> bool {
    e.len() <= 5
        && e.last().is_some_and(|low| low & 1 == 1)
        && (3..1 << 33).contains(&e.iter().fold(0u64, |v, b| v << 8 | u64::from(*b)))
}

#[derive(Clone)]
enum Material {
    Public(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

/// A key that checks signatures for exactly one [`Algorithm`], named by its `kid`: a public
/// key loaded from a JWK, or an HS256 secret. `Debug` shows the `kid` and algorithm only.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: String,
    alg: Algorithm,
    material: Material,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// Loads a published key. It must name its `kid`; `alg` is taken from the JWK or, when
    /// absent, from a key type that admits only one algorithm here (EC P-256, Ed25519). EC
    /// points are checked to be on the curve; RSA moduli below 2048 bits are refused.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let kid = jwk.kid.clone().ok_or(KeyError::Invalid("JWK has no kid"))?;
        if kid.is_empty() || kid.len() > MAX_KID_LEN {
            return Err(KeyError::Invalid("JWK kid is empty or too long"));
        }
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err(KeyError::Invalid("JWK is not for signatures"));
        }
        let member = |m: &Option<String>| {
            m.as_deref()
                .and_then(b64::decode)
                .ok_or(KeyError::Invalid("JWK member missing or not base64url"))
        };
        let declared: Option<Algorithm> = match jwk.alg.as_deref() {
            Some(alg) => Some(
                Algorithm::from_header_name(alg)
                    .ok_or(KeyError::Invalid("JWK alg not supported"))?,
            ),
            None => None,
        };
        let (alg, parsed) = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("EC", Some("P-256")) => {
                let (x, y) = (member(&jwk.x)?, member(&jwk.y)?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(KeyError::Invalid("P-256 coordinates must be 32 bytes"));
                }
                let point = [&[0x04][..], &x, &y].concat();
                (
                    Algorithm::Es256,
                    ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point),
                )
            }
            ("OKP", Some("Ed25519")) => (
                Algorithm::EdDsa,
                ParsedPublicKey::new(&ED25519, member(&jwk.x)?),
            ),
            ("RSA", None) => {
                let n = member(&jwk.n)?;
                let e = member(&jwk.e)?;
                // RFC 7518 6.3.1: minimal encodings, so one key has one thumbprint.
                if n.first().is_none_or(|b| *b == 0) || e.first().is_none_or(|b| *b == 0) {
                    return Err(KeyError::Invalid(
                        "RSA n and e must be minimal big-endian integers",
                    ));
                }
                if modulus_bits(&n) < MIN_RSA_MODULUS_BITS {
                    return Err(KeyError::Invalid("RSA keys below 2048 bits are refused"));
                }
                if !usable_exponent(&e) {
                    return Err(KeyError::Invalid(
                        "RSA e must be odd, at least 3 and below 2^33",
                    ));
                }
                let components = RsaPublicKeyComponents { n, e };
                (
                    Algorithm::Rs256,
                    components.to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256),
                )
            }
            _ => return Err(KeyError::Invalid("unsupported key type or curve")),
        };
        if declared.is_some_and(|d| d != alg) {
            return Err(KeyError::Invalid("JWK alg does not match its key type"));
        }
        let parsed =
            parsed.map_err(|_| KeyError::Invalid("public key rejected (not on the curve?)"))?;
        Ok(Self {
            kid,
            alg,
            material: Material::Public(parsed),
        })
    }

    /// An HMAC key: verification only with `HS256`, and never derived from a public key.
    pub fn hmac(kid: impl Into<String>, secret: &[u8]) -> Self {
        Self {
            kid: kid.into(),
            alg: Algorithm::Hs256,
            material: Material::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret))),
        }
    }

    pub(crate) fn from_parts(kid: String, alg: Algorithm, key: ParsedPublicKey) -> Self {
        Self {
            kid,
            alg,
            material: Material::Public(key),
        }
    }

    /// The key ID that a token's `kid` header must name for this key to be tried.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key verifies; a token whose header names another is refused.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// Checks `signature` over `message` with this key's own algorithm. The signature is in
    /// JWS form (for ES256 `r || s`, 64 bytes). `false` on any mismatch, never an error.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            Material::Public(key) => key.verify_sig(message, signature).is_ok(),
            Material::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
        }
    }
}

/// The verification keys of one issuer, looked up by `kid` only.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, VerifyingKey>,
}

impl KeySet {
    /// A set of these keys; of two keys with the same `kid`, the later one is kept.
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        Self {
            keys: keys.into_iter().map(|k| (k.kid.clone(), k)).collect(),
        }
    }

    /// Loads a JWKS. Keys that fail the checks of [`VerifyingKey::from_jwk`] are left out,
    /// never half-used. A key published without a `kid` is named by its RFC 7638 thumbprint
    /// (clients' key sets often omit it); a token then finds it by that `kid`, or without one
    /// where the validator allows it ([`Validator::kid_optional`](crate::Validator::kid_optional)).
    pub fn from_jwks(set: &JwkSet) -> Self {
        Self::new(set.keys.iter().filter_map(|jwk| {
            if jwk.kid.is_some() {
                return VerifyingKey::from_jwk(jwk).ok();
            }
            let named = Jwk {
                kid: Some(jwk.thumbprint()?),
                ..jwk.clone()
            };
            VerifyingKey::from_jwk(&named).ok()
        }))
    }

    /// The key named `kid`, if any (an over-long `kid` is not looked up).
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        if kid.len() > MAX_KID_LEN {
            return None;
        }
        self.keys.get(kid)
    }

    /// The one key of algorithm `alg`, if the set holds exactly one: how a token without a
    /// `kid` finds its key where that is allowed.
    pub fn only_key_for(&self, alg: Algorithm) -> Option<&VerifyingKey> {
        let mut matching = self.keys.values().filter(|k| k.alg == alg);
        match (matching.next(), matching.next()) {
            (Some(key), None) => Some(key),
            _ => None,
        }
    }

    /// The algorithms of the keys in the set, sorted, each once.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        let mut algs: Vec<Algorithm> = self.keys.values().map(|k| k.alg).collect();
        algs.sort();
        algs.dedup();
        algs
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key (every token would be refused as `UnknownKey`).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
