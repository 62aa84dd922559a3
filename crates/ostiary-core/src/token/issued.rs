//! Finding a token this server issued, whichever endpoint it is presented at: the one lookup
//! behind introspection, revocation and the refresh grant. Opaque kinds added later (device
//! codes, request URIs) are told apart here, by their shape, and found the same way.

use ostiary_jwt::Claims;

use super::service::TokenService;
use crate::error::OAuthError;
use crate::grant::RefreshFamily;
use crate::secret::SecretHash;

/// A token of this server, as found: nothing about its use is decided yet.
#[derive(Debug)]
pub(super) enum IssuedToken {
    /// An access token: a JWT of this issuer whose signature and lifetime were verified
    /// (revocation not yet checked).
    Access(Claims),
    /// A refresh token with its grant and user (rotation, expiry, revocation and the user's
    /// standing not yet checked), boxed: several times the size of an access token's claims.
    Refresh(Box<RefreshFamily>),
}

impl TokenService {
    /// The token `presented` names, if this server issued it. A JWS compact serialization
    /// (two dots) is verified as an access token without touching the database; anything
    /// else is looked up by its SHA-256 among refresh tokens.
    pub(super) async fn find_issued(
        &self,
        presented: &str,
    ) -> Result<Option<IssuedToken>, OAuthError> {
        if is_compact_jws(presented) {
            return Ok(self.validate(presented).ok().map(IssuedToken::Access));
        }
        Ok(self
            .store
            .find_refresh_family(&SecretHash::of(presented))
            .await?
            .map(|family| IssuedToken::Refresh(Box::new(family))))
    }
}

/// RFC 7515 7.1: three base64url parts joined by dots. Refresh tokens are base64url without
/// dots, so the two kinds can never be taken for each other.
fn is_compact_jws(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jws_shape_tells_access_tokens_from_refresh_tokens() {
        assert!(is_compact_jws("a.b.c"));
        assert!(!is_compact_jws("abcdefghijklmnopqrstuvwxyz-_0123456789"));
        assert!(!is_compact_jws("a.b"));
        assert!(!is_compact_jws("a.b.c.d.e"));
    }
}
