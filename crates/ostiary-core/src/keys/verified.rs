//! Access tokens this instance has already verified, so a token presented again
//! (introspection, userinfo, revocation, the admin API) skips its signature check.
//!
//! An entry is keyed by the SHA-256 of the token's exact bytes and holds the claims its full
//! validation returned, with the window in which that validation's answer cannot change: from
//! the moment it was verified (its `nbf` and `iat` had passed) until its `exp`. A lookup at a
//! time outside the window (a clock set back in tests, a token past `exp` but within the
//! validator's leeway) validates in full again. The cache belongs to one key snapshot: when
//! the usable keys change (a rotation, a revocation) the snapshot and its cache are replaced,
//! so a token signed by a revoked key is never answered from memory. What can change while a
//! token's signature stays valid (its revocation, its client's deletion) is checked by the
//! callers on every request, as before.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;
use ostiary_jwt::{Claims, DEFAULT_MAX_TOKEN_LEN, ValidationError, Validator};
use sha2::{Digest, Sha256};

/// The memory the entries may take, in bytes (estimated from each token's length); past it
/// the least used are evicted first.
const MAX_BYTES: u64 = 8 << 20;

/// The longest an entry stays in memory, in seconds, whatever its `exp` (access tokens
/// rarely live longer; one that does is verified again after this).
const MAX_KEEP_SECS: u64 = 24 * 60 * 60;

/// A verified token's claims and the Unix seconds `[verified_at, exp)` in which they hold.
#[derive(Debug)]
struct Verified {
    claims: Claims,
    verified_at: i64,
    exp: i64,
    /// How long the entry stays in memory: until `exp` as the caller's clock saw it, at most
    /// [`MAX_KEEP_SECS`].
    keep: Duration,
    /// Estimated bytes in memory: the claims as JSON values take about twice the token's
    /// length, plus the map's and the cache's overhead.
    weight: u32,
}

/// One key snapshot's validator of access tokens, with the tokens it accepted (see the module
/// documentation). The validator is fixed for the cache's life: an entry is the answer of
/// this validator and no other.
pub(super) struct VerifiedTokens {
    validator: Validator,
    entries: Cache<[u8; 32], Arc<Verified>>,
    /// Answers given from memory, for the tests to tell them from full validations.
    #[cfg(test)]
    hits: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("validator", &self.validator)
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl VerifiedTokens {
    /// `validator`'s answers, remembered in at most [`MAX_BYTES`].
    pub(super) fn new(validator: Validator) -> Self {
        Self::with_max_bytes(validator, MAX_BYTES)
    }

    /// `validator`'s answers, remembered in at most `max_bytes` (estimated).
    fn with_max_bytes(validator: Validator, max_bytes: u64) -> Self {
        Self {
            validator,
            #[cfg(test)]
            hits: std::sync::atomic::AtomicU64::new(0),
            entries: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, verified: &Arc<Verified>| verified.weight)
                .expire_after(UntilExp)
                .build(),
        }
    }

    /// The validator these answers come from.
    pub(super) fn validator(&self) -> &Validator {
        &self.validator
    }

    /// What the validator's `validate(token, now)` returns (`now` in Unix seconds), from
    /// memory when this token was verified before and `now` is within its window. Only
    /// successes are kept: a refused token is checked in full every time. A token longer than
    /// any the validator accepts is refused by it without being hashed.
    pub(super) fn validate(&self, token: &str, now: i64) -> Result<Claims, ValidationError> {
        if token.len() > DEFAULT_MAX_TOKEN_LEN {
            return self.validator.validate(token, now);
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = self.entries.get(&key)
            && hit.verified_at <= now
            && now < hit.exp
        {
            #[cfg(test)]
            self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(hit.claims.clone());
        }
        let claims = self.validator.validate(token, now)?;
        if let Some(exp) = claims.exp.filter(|exp| now < *exp) {
            let left = u64::try_from(exp.saturating_sub(now)).unwrap_or(0);
            let verified = Verified {
                claims: claims.clone(),
                verified_at: now,
                exp,
                keep: Duration::from_secs(left.min(MAX_KEEP_SECS)),
                weight: u32::try_from(token.len().saturating_mul(2) + 512).unwrap_or(u32::MAX),
            };
            self.entries.insert(key, Arc::new(verified));
        }
        Ok(claims)
    }

    #[cfg(test)]
    fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

/// Each entry leaves memory at its token's `exp`, at most [`MAX_KEEP_SECS`] after it was
/// inserted.
struct UntilExp;

impl Expiry<[u8; 32], Arc<Verified>> for UntilExp {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        verified: &Arc<Verified>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(verified.keep)
    }
}

#[cfg(test)]
mod tests {
    use ostiary_jwt::{Algorithm, KeySet, Profile, SigningKey};
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://auth.example.com";
    const NOW: i64 = 1_900_000_000;

    fn validator_of(key: &SigningKey) -> Validator {
        Validator::new(
            Profile::AccessToken,
            ISSUER,
            "",
            KeySet::new([key.verifying_key().clone()]),
        )
        .audience_checked_by_caller()
    }

    fn token(key: &SigningKey, jti: &str, exp: i64) -> String {
        let claims = json!({
            "iss": ISSUER, "sub": "alice", "aud": "https://api.example.com",
            "exp": exp, "iat": NOW, "jti": jti, "client_id": "web",
        });
        ostiary_jwt::encode(key, "at+jwt", &claims).unwrap()
    }

    fn hits(cache: &VerifiedTokens) -> u64 {
        cache.hits.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[test]
    fn a_token_verified_once_is_answered_from_memory_with_the_same_claims() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let cache = VerifiedTokens::new(validator_of(&key));
        let token = token(&key, "t1", NOW + 60);
        let first = cache.validate(&token, NOW).unwrap();
        assert_eq!((cache.len(), hits(&cache)), (1, 0));
        assert_eq!(cache.validate(&token, NOW + 1).unwrap(), first);
        assert_eq!(cache.validate(&token, NOW + 59).unwrap(), first);
        assert_eq!(hits(&cache), 2);
    }

    #[test]
    fn outside_its_window_a_token_is_validated_in_full_again() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let cache = VerifiedTokens::new(validator_of(&key));
        let token = token(&key, "t1", NOW + 60);
        cache.validate(&token, NOW).unwrap();
        // At exp (still within the leeway of a full validation), before the moment of
        // verification (a clock set back), and past exp plus the leeway.
        assert!(cache.validate(&token, NOW + 60).is_ok());
        assert!(cache.validate(&token, NOW - 1).is_ok());
        assert_eq!(
            cache.validate(&token, NOW + 60 + 30),
            Err(ValidationError::Expired)
        );
        assert_eq!(hits(&cache), 0);
    }

    #[test]
    fn refusals_and_other_bytes_are_never_answered_from_memory() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let cache = VerifiedTokens::new(validator_of(&key));
        let token = token(&key, "t1", NOW + 60);
        cache.validate(&token, NOW).unwrap();
        // The same token with one signature byte changed is another key in the cache.
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        for _ in 0..2 {
            assert_eq!(
                cache.validate(&tampered, NOW),
                Err(ValidationError::BadSignature)
            );
        }
        let huge = "x".repeat(DEFAULT_MAX_TOKEN_LEN + 1);
        assert_eq!(cache.validate(&huge, NOW), Err(ValidationError::TooLarge));
        assert_eq!((cache.len(), hits(&cache)), (1, 0));
    }

    #[test]
    fn memory_is_bounded() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let max_bytes = 64 << 10;
        let cache = VerifiedTokens::with_max_bytes(validator_of(&key), max_bytes);
        let first = token(&key, "t0", NOW + 60);
        let fits = max_bytes / (first.len() as u64 * 2 + 512);
        for i in 0..fits + 50 {
            cache
                .validate(&token(&key, &format!("t{i}"), NOW + 60), NOW)
                .unwrap();
        }
        assert!(cache.len() <= fits, "{} entries of {fits}", cache.len());
        assert!(cache.len() > fits / 2, "{} entries of {fits}", cache.len());
    }
}
