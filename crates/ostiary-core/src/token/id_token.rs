//! OpenID Connect ID tokens (Core 2 and 3.1.3.6): who logged in, for which client, when and how.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_jwt::Algorithm;
use serde::Serialize;
use sha2::{Digest, Sha256, Sha512};

use crate::keys::KeyRing;

#[derive(Debug, Serialize)]
pub struct IdTokenClaims<'a> {
    pub iss: &'a str,
    pub sub: String,
    pub aud: &'a str,
    /// The client it was issued to (Core 2), so a relying party can check it was the party.
    pub azp: &'a str,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    pub at_hash: String,
    pub sid: &'a str,
    /// Authentication methods (RFC 8176): `pwd`, with `otp` and `mfa` after a TOTP code.
    pub amr: &'static [&'static str],
}

/// `at_hash`: the left half of the access token's hash, with the hash of the ID token's
/// algorithm (SHA-256 for ES256 and RS256, SHA-512 for EdDSA with Ed25519), base64url.
pub fn at_hash(alg: Algorithm, access_token: &str) -> String {
    let digest = match alg {
        Algorithm::EdDsa => Sha512::digest(access_token.as_bytes()).to_vec(),
        _ => Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// An `id_token_hint` (OpenID Connect Core 3.1.2.1, RP-Initiated Logout 1.0 section 2): an ID
/// token this server signed with a published asymmetric key, accepted after expiry as both
/// specifications allow. Its claims, or `None` if it is not one.
pub(crate) fn verify_id_token_hint(
    keys: &KeyRing,
    issuer: &str,
    now: i64,
    hint: &str,
) -> Option<ostiary_jwt::Claims> {
    let keys = keys.current().introspection_validator().keys().clone();
    ostiary_jwt::Validator::new(ostiary_jwt::Profile::IdToken, issuer.to_owned(), "", keys)
        .audience_checked_by_caller()
        .allow_only(&[Algorithm::Rs256, Algorithm::Es256, Algorithm::EdDsa])
        .accepting_expired()
        .validate(hint, now)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_openid_example() {
        // OpenID Connect Core A.3 (RS256): access token and its at_hash.
        assert_eq!(
            at_hash(
                Algorithm::Rs256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(at_hash(Algorithm::EdDsa, "x").len(), 43);
    }
}
