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
    /// EdDSA over Ed25519: `EdDSA` in what Ostiary signs; a header may also name it `Ed25519`
    /// (see [`Algorithm::from_header_name`]).
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

    /// The names a JOSE header or a JWK's `alg` may give the algorithm: the registered name
    /// and, for EdDSA over Ed25519, RFC 9864's fully-specified `Ed25519` (2.2), which that RFC
    /// prefers to the polymorphic `EdDSA` and which current JOSE libraries emit. What
    /// Ostiary signs carries [`Algorithm::as_str`] alone.
    pub fn header_names(self) -> &'static [&'static str] {
        match self {
            Self::Es256 => &["ES256"],
            Self::Rs256 => &["RS256"],
            Self::EdDsa => &["EdDSA", "Ed25519"],
            Self::Hs256 => &["HS256"],
        }
    }

    /// The algorithm a JOSE header's `alg` (or a JWK's) names, by any of its
    /// [`Algorithm::header_names`], exact and case-sensitive; `None` for any other name.
    /// For what Ostiary verifies: headers, and the `alg` of the keys it is given (a client's
    /// registered `jwks` included). A setting that chooses what Ostiary signs with
    /// (configuration, `keys rotate --alg`, `id_token_signed_response_alg`) takes
    /// [`FromStr`]'s one name per algorithm.
    pub fn from_header_name(name: &str) -> Option<Self> {
        [Self::Es256, Self::Rs256, Self::EdDsa, Self::Hs256]
            .into_iter()
            .find(|a| a.header_names().contains(&name))
    }

    /// Every header name of `algorithms`, in their order: what metadata advertises as
    /// accepted (`dpop_signing_alg_values_supported`, RFC 9449 5.1) and a `DPoP` challenge's
    /// `algs` (RFC 9449 7.1) list.
    pub fn accepted_names(algorithms: &[Algorithm]) -> Vec<&'static str> {
        algorithms
            .iter()
            .flat_map(|a| a.header_names().iter().copied())
            .collect()
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

    #[test]
    fn a_header_may_name_ed25519_by_its_fully_specified_name() {
        assert_eq!(
            Algorithm::from_header_name("Ed25519"),
            Some(Algorithm::EdDsa)
        );
        assert_eq!(Algorithm::from_header_name("EdDSA"), Some(Algorithm::EdDsa));
        assert_eq!(Algorithm::from_header_name("ES256"), Some(Algorithm::Es256));
        for bad in ["none", "ed25519", "Ed448", "ES256K", "EdDSA ", ""] {
            assert_eq!(Algorithm::from_header_name(bad), None, "{bad:?}");
        }
        // Configuration keeps one name per algorithm; what is signed says `EdDSA`.
        assert!("Ed25519".parse::<Algorithm>().is_err());
        assert_eq!(Algorithm::EdDsa.as_str(), "EdDSA");
        assert_eq!(
            Algorithm::accepted_names(&Algorithm::ASYMMETRIC),
            ["ES256", "RS256", "EdDSA", "Ed25519"]
        );
    }
}
