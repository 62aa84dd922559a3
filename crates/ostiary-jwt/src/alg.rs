//! The JWS algorithms Ostiary knows. `none` is not one of them and cannot be parsed into one.

use std::str::FromStr;

/// A JWS `alg` (RFC 7518 section 3.1) that Ostiary signs or accepts. Parsing is exact and
/// case-sensitive (`"ES256".parse()`), and prints back as the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256: the default for access tokens (small, fast signatures).
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys or larger: what every OIDC client accepts.
    Rs256,
    /// Ed25519.
    EdDsa,
    /// HMAC-SHA256 under the root secret: only when the operator configures it; never published.
    Hs256,
}

impl Algorithm {
    /// The public-key algorithms, whose keys are published in the JWKS: ES256, RS256, EdDSA.
    pub const ASYMMETRIC: [Algorithm; 3] = [Self::Es256, Self::Rs256, Self::EdDsa];

    /// The registered name as it appears in a JOSE header: `ES256`, `RS256`, `EdDSA`, `HS256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
            Self::Hs256 => "HS256",
        }
    }

    /// Whether signing and verifying share one secret (HS256): such keys are never published
    /// and a resource server cannot verify tokens signed with them.
    pub fn is_symmetric(self) -> bool {
        self == Self::Hs256
    }
}

/// Exact, case-sensitive names (RFC 7515 4.1.1): `none`, `None`, `RS256 ` and the like fail.
impl FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Es256, Self::Rs256, Self::EdDsa, Self::Hs256]
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                format!("unsupported algorithm {s:?}; expected ES256, RS256, EdDSA or HS256")
            })
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_and_variants_never_parse() {
        for bad in [
            "none", "None", "NONE", "nOnE", "es256", "RS256 ", "RSA1_5", "HS512", "",
        ] {
            assert!(bad.parse::<Algorithm>().is_err(), "{bad:?} parsed");
        }
        assert_eq!("EdDSA".parse(), Ok(Algorithm::EdDsa));
    }
}
