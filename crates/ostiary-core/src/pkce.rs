//! PKCE (RFC 7636) with S256 only: `plain` gives no protection once the request leaks, so it
//! is refused (RFC 9700 2.1.1).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::validation::InvalidInput;

/// base64url (no padding) of the SHA-256 of `value`: the S256 code challenge of a verifier
/// (RFC 7636 section 4.2), and equally a DPoP proof's `ath` of an access token (RFC 9449
/// section 4.2).
pub fn s256(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes()))
}

/// A `code_challenge` with method S256: the base64url SHA-256 of the verifier (43 characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// `method` is the `code_challenge_method` parameter; absent means `plain` (RFC 7636 4.3),
    /// which is refused like an explicit `plain`.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, InvalidInput> {
        if method != Some("S256") {
            return Err(InvalidInput::new(
                "code_challenge_method",
                "must be S256 (plain is not supported)",
            ));
        }
        // A SHA-256 digest in unpadded base64url is exactly 43 characters.
        let decoded = URL_SAFE_NO_PAD.decode(challenge).ok();
        if challenge.len() != 43 || decoded.is_none_or(|d| d.len() != 32) {
            return Err(InvalidInput::new(
                "code_challenge",
                "must be the base64url-encoded SHA-256 of the code verifier",
            ));
        }
        Ok(Self(challenge.to_owned()))
    }

    /// As stored with the code (already checked when the code was issued).
    pub fn from_stored(challenge: String) -> Self {
        Self(challenge)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 7636 4.1: the verifier is 43 to 128 unreserved characters.
    pub fn verify(&self, verifier: &str) -> bool {
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        let computed = s256(verifier);
        well_formed && bool::from(computed.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc_example_verifies() {
        let challenge = CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert!(challenge.verify(VERIFIER));
        assert!(!challenge.verify(&VERIFIER.replace('d', "e")));
        assert!(
            !challenge.verify(CHALLENGE),
            "the challenge is not its own verifier"
        );
    }

    #[test]
    fn plain_missing_method_and_malformed_challenges_are_refused() {
        assert!(CodeChallenge::parse(CHALLENGE, Some("plain")).is_err());
        assert!(CodeChallenge::parse(CHALLENGE, None).is_err());
        assert!(CodeChallenge::parse(VERIFIER, Some("s256")).is_err());
        assert!(CodeChallenge::parse("short", Some("S256")).is_err());
        assert!(CodeChallenge::parse(&format!("{}=", &CHALLENGE[..42]), Some("S256")).is_err());
    }

    #[test]
    fn short_verifiers_are_refused_even_if_they_hash_right() {
        let short = "abc";
        let challenge =
            CodeChallenge::from_stored(URL_SAFE_NO_PAD.encode(Sha256::digest(short.as_bytes())));
        assert!(!challenge.verify(short));
    }
}
