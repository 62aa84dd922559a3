//! JSON Web Keys (RFC 7517) as published, and their RFC 7638 thumbprints.

use aws_lc_rs::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};

use crate::b64;

/// A public JWK. Private members are never part of this type, so they cannot be published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
///
/// Members that are absent are omitted when serialized. Binary members (`x`, `y`, `n`, `e`)
/// are base64url without padding (RFC 7518 section 6), as published.
pub struct Jwk {
    /// Key type (RFC 7517 section 4.1): `EC` (P-256), `RSA` or `OKP` (Ed25519).
    pub kty: String,
    /// Curve (RFC 7518 section 6.2.1.1, RFC 8037 section 2): `P-256` for `EC`, `Ed25519` for
    /// `OKP`; absent for `RSA`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// The x coordinate of an `EC` point (32 bytes for P-256), or the public key of an `OKP`
    /// key (32 bytes for Ed25519).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// The y coordinate of an `EC` point (32 bytes for P-256).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// The modulus of an `RSA` key, big-endian (256 bytes or more: 2048-bit keys or larger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// The public exponent of an `RSA` key, big-endian (`AQAB` for 65537).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Key ID (RFC 7517 section 4.5): matched against the `kid` of a JWS header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Public key use (RFC 7517 section 4.2), `use` in JSON: `sig` for Ostiary's keys.
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// The one algorithm this key is for (RFC 7517 section 4.4), e.g. `ES256`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
}

/// A JWK Set (RFC 7517 section 5): the document served at the issuer's `jwks_uri`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys, in the order published; unknown members of the set are ignored when parsed.
    pub keys: Vec<Jwk>,
}

impl Jwk {
    /// JWK members only private keys have (RFC 7518 6.2.2, 6.3.2, 6.4; RFC 8037 2): a key
    /// carrying one was leaked by whoever sent it, and is refused wherever a public key is
    /// expected (DPoP proofs, clients' registered key sets).
    pub const PRIVATE_MEMBERS: [&'static str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

    /// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace,
    /// base64url without padding (43 characters). `None` for an unknown `kty` or a missing
    /// required member.
    pub fn thumbprint(&self) -> Option<String> {
        let canonical = match self.kty.as_str() {
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                self.crv.as_deref()?,
                self.x.as_deref()?,
                self.y.as_deref()?
            ),
            "RSA" => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                self.e.as_deref()?,
                self.n.as_deref()?
            ),
            "OKP" => format!(
                r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
                self.crv.as_deref()?,
                self.x.as_deref()?
            ),
            _ => return None,
        };
        Some(b64::encode(digest(&SHA256, canonical.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 7638 section 3.1.
    #[test]
    fn rfc7638_example_thumbprint() {
        let jwk = Jwk {
            kty: "RSA".into(),
            n: Some(
                "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhD\
                 R1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6C\
                 f0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1\
                 n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1\
                 jF44-csFCur-kEgU8awapJzKnqDKgw"
                    .into(),
            ),
            e: Some("AQAB".into()),
            kid: None,
            alg: None,
            use_: None,
            crv: None,
            x: None,
            y: None,
        };
        assert_eq!(
            jwk.thumbprint().unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
