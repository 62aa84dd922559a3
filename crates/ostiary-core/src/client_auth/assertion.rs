//! `private_key_jwt` (RFC 7523 2.2, OpenID Connect Core 9): the client assertion is checked
//! with `ostiary-jwt`'s client-assertion profile against the client's registered keys, lives
//! at most five minutes, names this server as audience, and is accepted once.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_jwt::{Claims, MAX_LEEWAY_SECS};
use time::OffsetDateTime;

use crate::Clock;
use crate::client::{Client, ClientKeys, SignedByClient};
use crate::error::OAuthError;
use crate::store::{ReplayStore, one_time_key};

/// RFC 7523 2.2: the only `client_assertion_type` served.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest an assertion may still be valid when presented, in seconds: a long-lived
/// assertion would be a password that can be replayed until its `jti` is forgotten.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;
/// The clock skew tolerated on that bound, as the validator tolerates it on `exp`.
const CLOCK_SKEW_SECS: i64 = 30;
/// Longest assertion read (its `sub` is peeked before the signature is checked), in bytes.
const MAX_ASSERTION_LEN: usize = 16 * 1024;
/// What the replay record of an assertion's `jti` is bound to, besides the client.
const REPLAY_PURPOSE: &str = "client_assertion";

/// The assertion's `sub`, unverified: only which client's keys to check it with.
pub(super) fn unverified_subject(assertion: &str) -> Option<String> {
    if assertion.len() > MAX_ASSERTION_LEN {
        return None;
    }
    let payload = assertion.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

pub(super) struct AssertionChecker {
    replays: Arc<dyn ReplayStore>,
    clock: Arc<dyn Clock>,
    audiences: Vec<String>,
    keys: Arc<ClientKeys>,
}

impl std::fmt::Debug for AssertionChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionChecker")
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl AssertionChecker {
    pub(super) fn new(
        keys: Arc<ClientKeys>,
        replays: Arc<dyn ReplayStore>,
        clock: Arc<dyn Clock>,
        audiences: Vec<String>,
    ) -> Self {
        Self {
            replays,
            clock,
            audiences,
            keys,
        }
    }

    /// Whether `assertion` authenticates `client`: signature by a registered key (its `alg`
    /// the key's), `iss` = `sub` = the client id, `aud` naming this server, `exp` within
    /// [`MAX_ASSERTION_LIFETIME_SECS`], and a `jti` never seen before. Only a store failure
    /// is an error; every refusal is `false`, its reason logged at debug level.
    pub(super) async fn verify(
        &self,
        client: &Client,
        assertion: &str,
    ) -> Result<bool, OAuthError> {
        let now = self.clock.now().unix_timestamp();
        let claims = match self.validate(client, assertion, now).await {
            Ok(claims) => claims,
            Err(reason) => {
                tracing::debug!(client_id = %client.id, reason, "client assertion refused");
                return Ok(false);
            }
        };
        let (Some(jti), Some(exp)) = (claims.jti.as_deref(), claims.exp) else {
            return Ok(false);
        };
        // Remembered until no validator could accept it any more, whatever leeway applies.
        let keep_until = OffsetDateTime::from_unix_timestamp(exp.saturating_add(MAX_LEEWAY_SECS))
            .map_err(|_| OAuthError::server_error())?;
        let key = one_time_key(REPLAY_PURPOSE, client.id.as_str(), jti);
        let first_use = self
            .replays
            .use_once(&key, keep_until, self.clock.now_seconds())
            .await?;
        if !first_use {
            tracing::debug!(client_id = %client.id, "client assertion replayed");
        }
        Ok(first_use)
    }

    async fn validate(
        &self,
        client: &Client,
        assertion: &str,
        now: i64,
    ) -> Result<Claims, &'static str> {
        let claims = self
            .keys
            .validate(client, &SignedByClient::ClientAssertion, assertion, now)
            .await?;
        if !claims.aud.iter().any(|aud| self.audiences.contains(aud)) {
            return Err("audience is not this server");
        }
        // The profile requires `exp`; it must not lie further ahead than an assertion needs.
        if claims
            .exp
            .is_none_or(|exp| exp > now + MAX_ASSERTION_LIFETIME_SECS + CLOCK_SKEW_SECS)
        {
            return Err("exp is more than five minutes ahead");
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_is_peeked_from_the_payload_only_when_well_formed() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"svc-1","iss":"svc-1"}"#);
        assert_eq!(
            unverified_subject(&format!("h.{payload}.s")).as_deref(),
            Some("svc-1")
        );
        let numeric = URL_SAFE_NO_PAD.encode(br#"{"sub":1}"#);
        for bad in ["", "abc", "h.!!.s", &format!("h.{numeric}.s")] {
            assert_eq!(unverified_subject(bad), None, "{bad}");
        }
        let huge = format!("h.{}.s", "A".repeat(MAX_ASSERTION_LEN));
        assert_eq!(unverified_subject(&huge), None);
    }
}
