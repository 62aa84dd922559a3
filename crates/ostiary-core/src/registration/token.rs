//! Initial access tokens (RFC 7591 1.2 and 3): issued by an operator, stored as hashes, each
//! good for a number of registrations until it expires.

use time::{Duration, OffsetDateTime};

use crate::random::random_token;
use crate::secret::{ClientSecret, SecretHash};

/// How long an initial access token lives when the operator does not say.
pub const DEFAULT_REGISTRATION_TOKEN_LIFETIME: Duration = Duration::days(1);
/// The longest an initial access token may live.
pub const MAX_REGISTRATION_TOKEN_LIFETIME: Duration = Duration::days(365);
/// The most registrations one initial access token may allow.
pub const MAX_REGISTRATION_TOKEN_USES: u32 = 1_000_000;

/// An initial access token as stored: the token itself is never kept, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationToken {
    /// Public name of the token (12 base64url characters): what the audit trail, `list` and
    /// `revoke` use, since the token itself is shown once.
    pub token_id: String,
    pub token_hash: SecretHash,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// How many registrations it allows in all.
    pub max_uses: u32,
    /// How many it has allowed so far.
    pub uses: u32,
}

impl RegistrationToken {
    /// A new token good for `max_uses` registrations until `expires_at`, and the token to
    /// hand over (256 bits from the OS CSPRNG, base64url), shown once.
    pub fn issue(
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
        max_uses: u32,
    ) -> (Self, ClientSecret) {
        let token = ClientSecret::generate();
        let record = Self {
            token_id: random_token::<9>(),
            token_hash: token.hash(),
            created_at: now,
            expires_at,
            max_uses,
            uses: 0,
        };
        (record, token)
    }

    /// Whether it may still allow a registration at `now`.
    pub fn is_usable(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at && self.uses < self.max_uses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_usable_until_it_expires_or_is_spent() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let (mut token, secret) = RegistrationToken::issue(now, now + Duration::hours(1), 2);
        assert!(token.token_hash.verify(secret.expose()));
        assert_eq!(token.token_id.len(), 12);
        assert!(token.is_usable(now));
        assert!(!token.is_usable(now + Duration::hours(1)));
        token.uses = 2;
        assert!(!token.is_usable(now));
    }
}
