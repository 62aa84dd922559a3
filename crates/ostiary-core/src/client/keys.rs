//! What a client signs, checked against its registered keys (`jwks` or `jwks_uri`): one
//! validator per client and kind of JWT, built once per registration, the `jwks_uri` fetched
//! and refreshed by `ostiary-jwt`'s `RemoteValidator` (never a URL named by a token).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ostiary_jwt::remote::RemoteValidator;
use ostiary_jwt::{Claims, KeySet, Profile, ValidationError, Validator};

use super::{Client, ClientId, ClientJwks};

/// Beyond this many cached validators the cache starts over (bounded memory).
const MAX_CACHED: usize = 10_000;
/// How long a `jwks_uri` that could not be fetched is left alone.
const UNREACHABLE_RETRY: Duration = Duration::from_secs(30);

/// The kinds of JWT a client signs for this server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SignedByClient {
    /// RFC 7523 client assertions; their `aud` is checked by the caller against the server's
    /// endpoint URLs.
    ClientAssertion,
    /// RFC 9101 request objects, addressed to this issuer.
    RequestObject { issuer: String },
}

impl SignedByClient {
    /// The rules: `iss` the client, the kind's profile, `kid` optional where the client has
    /// one key of the header's algorithm.
    fn rules(&self, client_id: &ClientId) -> Validator {
        let (profile, audience) = match self {
            Self::ClientAssertion => (Profile::ClientAssertion, ""),
            Self::RequestObject { issuer } => (Profile::RequestObject, issuer.as_str()),
        };
        let rules =
            Validator::new(profile, client_id.as_str(), audience, KeySet::default()).kid_optional();
        match self {
            Self::ClientAssertion => rules.audience_checked_by_caller(),
            Self::RequestObject { .. } => rules,
        }
    }
}

#[derive(Debug)]
enum Keys {
    Value(Validator),
    Uri(RemoteValidator),
    /// The first fetch from the `jwks_uri` failed at this instant: tokens are refused without
    /// fetching again until [`UNREACHABLE_RETRY`] has passed, so requests naming the client
    /// cannot turn into a stream of outgoing requests.
    Unreachable(Instant),
}

type Entries = HashMap<(ClientId, SignedByClient), (ClientJwks, Arc<Keys>)>;

/// Validators over clients' registered keys, shared by every request.
#[derive(Debug, Default)]
pub struct ClientKeys {
    entries: Mutex<Entries>,
    /// Held while a `jwks_uri` is fetched: requests that miss meanwhile wait and then find
    /// the result, so outgoing fetches never multiply with incoming requests.
    fetching: tokio::sync::Mutex<()>,
}

impl ClientKeys {
    /// Validates `token`, a JWT of kind `kind` signed by `client`, at `now` (Unix seconds).
    ///
    /// Errors: a fixed reason for logs (`no keys registered`, `jwks_uri could not be
    /// fetched`, `unknown signing key`, `bad signature`, `expired`, `invalid token`).
    pub async fn validate(
        &self,
        client: &Client,
        kind: &SignedByClient,
        token: &str,
        now: i64,
    ) -> Result<Claims, &'static str> {
        let keys = self.keys_of(client, kind).await?;
        match &*keys {
            Keys::Value(validator) => validator.validate(token, now),
            Keys::Uri(remote) => remote.validate(token, now).await,
            Keys::Unreachable(_) => return Err("jwks_uri could not be fetched"),
        }
        .map_err(|e: ValidationError| match e {
            ValidationError::UnknownKey | ValidationError::MissingKid => "unknown signing key",
            ValidationError::BadSignature => "bad signature",
            ValidationError::Expired => "expired",
            _ => "invalid token",
        })
    }

    /// The client's keys for `kind`, built once per registration (a changed registration
    /// rebuilds them).
    async fn keys_of(
        &self,
        client: &Client,
        kind: &SignedByClient,
    ) -> Result<Arc<Keys>, &'static str> {
        let jwks = client.jwks.as_ref().ok_or("no keys registered")?;
        let entry = (client.id.clone(), kind.clone());
        if let Some(keys) = self.cached(&entry, jwks) {
            return Ok(keys);
        }
        let rules = kind.rules(&client.id);
        let keys = Arc::new(match jwks {
            ClientJwks::Value(set) => Keys::Value(rules.with_keys(KeySet::from_jwks(set))),
            ClientJwks::Uri(uri) => {
                let _one_fetch_at_a_time = self.fetching.lock().await;
                if let Some(keys) = self.cached(&entry, jwks) {
                    return Ok(keys);
                }
                match RemoteValidator::new(uri, rules).await {
                    Ok(remote) => Keys::Uri(remote),
                    Err(e) => {
                        tracing::warn!(client_id = %client.id, error = %e, "client jwks_uri unusable");
                        Keys::Unreachable(Instant::now())
                    }
                }
            }
        });
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED
            && let Some(evicted) = cache.keys().next().cloned()
        {
            // One entry goes, not all: the others' fetched key sets stay.
            cache.remove(&evicted);
        }
        cache.insert(entry, (jwks.clone(), Arc::clone(&keys)));
        Ok(keys)
    }

    /// The keys built for `entry` from this registration, unless they are a failed fetch due
    /// for another try.
    fn cached(&self, entry: &(ClientId, SignedByClient), jwks: &ClientJwks) -> Option<Arc<Keys>> {
        let cache = self.lock();
        let (built_from, keys) = cache.get(entry)?;
        let retry = matches!(**keys, Keys::Unreachable(at) if at.elapsed() >= UNREACHABLE_RETRY);
        (built_from == jwks && !retry).then(|| Arc::clone(keys))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
