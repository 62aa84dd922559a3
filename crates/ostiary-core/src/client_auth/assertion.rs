//! `private_key_jwt` (RFC 7523 2.2, OpenID Connect Core 9): the client assertion is checked
//! with `ostiary-jwt`'s client-assertion profile against the client's registered keys, lives
//! at most five minutes, names this server as audience, and is accepted once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_jwt::remote::RemoteValidator;
use ostiary_jwt::{Claims, KeySet, MAX_LEEWAY_SECS, Profile, ValidationError, Validator};
use time::OffsetDateTime;

use crate::Clock;
use crate::client::{Client, ClientId, ClientJwks};
use crate::error::OAuthError;
use crate::secret::SecretHash;
use crate::store::ReplayStore;

/// RFC 7523 2.2: the only `client_assertion_type` served.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest an assertion may still be valid when presented, in seconds: a long-lived
/// assertion would be a password that can be replayed until its `jti` is forgotten.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;
/// The clock skew tolerated on that bound, as the validator tolerates it on `exp`.
const CLOCK_SKEW_SECS: i64 = 30;
/// Longest assertion read (its `sub` is peeked before the signature is checked), in bytes.
const MAX_ASSERTION_LEN: usize = 16 * 1024;
/// Beyond this many clients with cached key sets the cache starts over (bounded memory).
const MAX_CACHED_CLIENTS: usize = 10_000;
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

/// The keys a client's assertions are checked with: a fixed set, or one fetched from its
/// `jwks_uri` and refreshed (at most every 30 s) when an assertion names an unknown `kid`.
#[derive(Debug)]
enum ClientKeys {
    Value(Validator),
    Uri(RemoteValidator),
    /// The first fetch from the `jwks_uri` failed at this instant: assertions are refused
    /// without fetching again until [`UNREACHABLE_RETRY`] has passed, so requests naming the
    /// client cannot turn into a stream of outgoing requests.
    Unreachable(Instant),
}

/// How long a `jwks_uri` that could not be fetched is left alone.
const UNREACHABLE_RETRY: Duration = Duration::from_secs(30);

pub(super) struct AssertionChecker {
    replays: Arc<dyn ReplayStore>,
    clock: Arc<dyn Clock>,
    audiences: Vec<String>,
    /// Per client: the registration the keys were built from, and the keys.
    keys: Mutex<HashMap<ClientId, (ClientJwks, Arc<ClientKeys>)>>,
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
        replays: Arc<dyn ReplayStore>,
        clock: Arc<dyn Clock>,
        audiences: Vec<String>,
    ) -> Self {
        Self {
            replays,
            clock,
            audiences,
            keys: Mutex::new(HashMap::new()),
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
        let key = SecretHash::of(&format!("{REPLAY_PURPOSE}\0{}\0{jti}", client.id));
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
        let keys = self.keys_of(client).await?;
        let claims = match &*keys {
            ClientKeys::Value(validator) => validator.validate(assertion, now),
            ClientKeys::Uri(remote) => remote.validate(assertion, now).await,
            ClientKeys::Unreachable(_) => return Err("jwks_uri could not be fetched"),
        }
        .map_err(|e: ValidationError| match e {
            ValidationError::UnknownKey | ValidationError::MissingKid => "unknown signing key",
            ValidationError::BadSignature => "bad signature",
            ValidationError::Expired => "expired",
            _ => "invalid assertion",
        })?;
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

    /// The client's keys, built once per registration (a changed registration rebuilds them).
    async fn keys_of(&self, client: &Client) -> Result<Arc<ClientKeys>, &'static str> {
        let jwks = client.jwks.as_ref().ok_or("no keys registered")?;
        if let Some((built_from, keys)) = self.lock().get(&client.id)
            && built_from == jwks
            && !matches!(**keys, ClientKeys::Unreachable(at) if at.elapsed() >= UNREACHABLE_RETRY)
        {
            return Ok(Arc::clone(keys));
        }
        // RFC 7523 3: `iss` and `sub` are the client; `aud` is checked against the list here.
        let rules = Validator::new(
            Profile::ClientAssertion,
            client.id.as_str(),
            "",
            KeySet::default(),
        )
        .audience_checked_by_caller()
        .kid_optional();
        let keys = Arc::new(match jwks {
            ClientJwks::Value(set) => ClientKeys::Value(rules.with_keys(KeySet::from_jwks(set))),
            // Fetched outside the lock; two first requests may both fetch, once.
            ClientJwks::Uri(uri) => match RemoteValidator::new(uri, rules).await {
                Ok(remote) => ClientKeys::Uri(remote),
                Err(e) => {
                    tracing::warn!(client_id = %client.id, error = %e, "client jwks_uri unusable");
                    ClientKeys::Unreachable(Instant::now())
                }
            },
        });
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED_CLIENTS {
            cache.clear();
        }
        cache.insert(client.id.clone(), (jwks.clone(), Arc::clone(&keys)));
        Ok(keys)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ClientId, (ClientJwks, Arc<ClientKeys>)>> {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
