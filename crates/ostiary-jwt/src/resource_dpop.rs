//! DPoP (RFC 9449) at a resource server: the configuration a `RemoteValidator` takes to accept
//! `Authorization: DPoP` requests, and the checks that bind token, proof and request together.

use serde_json::Value;

use crate::header::{self, EmbeddedKey};
use crate::remote::{RemoteValidator, is_allowed_url};
use crate::replay::{Refusal, ReplayCache};
use crate::validate::{Claims, DEFAULT_MAX_TOKEN_LEN, ValidationError};
use crate::{Algorithm, DpopProof, DpopValidator, b64};

/// How long a proof's (key, `jti`) pair is remembered, in seconds. [`DpopValidator`] accepts a
/// proof from 30 s before its `iat` (clock skew) to 90 s after it (60 s of age and 30 s of
/// skew), so a proof first accepted at `t` has `iat <= t + 30` and is stale from `t + 120` on:
/// a record kept that long covers every moment the proof could be replayed. The unit test
/// below measures the validator's window, so a change there fails here.
const REPLAY_WINDOW_SECS: i64 = 120;
/// Proofs remembered at once unless configured: 100,000 records of about 100 bytes, enough
/// for some 800 DPoP requests a second sustained over the replay window.
const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// What a resource server needs to accept DPoP-bound access tokens (RFC 9449 section 7) as
/// well as Bearer ones; given to [`RemoteValidator::with_dpop`].
///
/// - The resource's public origin: each request's `htu` (RFC 9449 section 4.3: scheme,
///   authority and path, no query or fragment) is rebuilt from it and the request path, never
///   from the request's `Host` header, which the client chooses.
/// - The proof algorithms accepted: ES256, RS256 and EdDSA unless narrowed with
///   [`allow_only`](Self::allow_only); never a symmetric one (RFC 9449 section 4.2).
/// - The size of the replay cache: 100,000 proofs unless changed with
///   [`with_replay_capacity`](Self::with_replay_capacity).
///
/// ```
/// use ostiary_jwt::remote::DpopConfig;
///
/// let dpop = DpopConfig::new("https://API.example.com:443/").unwrap();
/// assert_eq!(dpop.origin(), "https://api.example.com");
/// assert_eq!(dpop.htu("/orders"), "https://api.example.com/orders");
/// assert!(DpopConfig::new("https://api.example.com/v1").is_err());
/// assert!(DpopConfig::new("http://api.example.com").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopConfig {
    origin: String,
    algorithms: Vec<Algorithm>,
    replay_capacity: usize,
}

/// An origin [`DpopConfig::new`] refuses: not `https://host[:port]` (plain `http` only for
/// loopback), or carrying a path, query, fragment or credentials. Holds the text given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the resource origin must be https://host[:port] (http only for loopback), without path, \
     query, fragment or credentials: {0}"
)]
pub struct InvalidOrigin(pub String);

impl DpopConfig {
    /// The configuration for a resource served at `origin`, e.g. `https://api.example.com`:
    /// scheme, host and port as clients address the resource (behind a proxy, the proxy's),
    /// normalised (lower-case host, default port dropped) as RFC 9449 section 4.3 compares.
    pub fn new(origin: &str) -> Result<Self, InvalidOrigin> {
        let invalid = || InvalidOrigin(origin.to_owned());
        let url = url::Url::parse(origin).map_err(|_| invalid())?;
        if !is_allowed_url(&url)
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(invalid());
        }
        Ok(Self {
            origin: url.origin().ascii_serialization(),
            algorithms: Algorithm::ASYMMETRIC.to_vec(),
            replay_capacity: DEFAULT_REPLAY_CAPACITY,
        })
    }

    /// Narrows the proof algorithms accepted to those of `algorithms` that are asymmetric
    /// (ES256, RS256, EdDSA); a proof under another is `invalid_dpop_proof`. An empty result
    /// refuses every proof.
    pub fn allow_only(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms.retain(|a| algorithms.contains(a));
        self
    }

    /// The most proofs remembered at once (at least one). Size it to the peak rate of DPoP
    /// requests times 120 seconds: when the cache is full of unexpired records, DPoP requests
    /// are answered 503 until the oldest expires, rather than forgetting a record that stops a
    /// replay.
    pub fn with_replay_capacity(mut self, entries: usize) -> Self {
        self.replay_capacity = entries.max(1);
        self
    }

    /// The normalised origin, e.g. `https://api.example.com` (no trailing slash).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The proof algorithms accepted, in the order the `algs` challenge parameter lists them.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The `htu` a proof for a request to `path` (as received, e.g. `/orders`; any query is
    /// ignored) must carry: the origin followed by the path.
    pub fn htu(&self, path: &str) -> String {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        format!("{}{}", self.origin, path)
    }

    /// The value of the `algs` parameter of a DPoP challenge (RFC 9449 section 7.1), the
    /// accepted algorithms' header names separated by spaces: `ES256 RS256 EdDSA Ed25519` by
    /// default. For applications that answer [`RemoteValidator::validate_dpop`] refusals
    /// themselves.
    pub fn algs_param(&self) -> String {
        Algorithm::accepted_names(&self.algorithms).join(" ")
    }
}

/// Why [`RemoteValidator::validate_dpop`] refused a request, in the order of the checks.
/// Nothing here carries text from the token or the proof beyond a [`ValidationError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopFailure {
    /// The validator was not given a [`DpopConfig`].
    #[error("DPoP is not configured")]
    NotConfigured,
    /// The access token is invalid: `invalid_token`.
    #[error("the access token is invalid: {0}")]
    Token(ValidationError),
    /// The access token has no `cnf.jkt` (RFC 9449 section 6.1): it is not bound to a key, and
    /// the DPoP scheme is for bound tokens only: `invalid_token`.
    #[error("the access token is not bound to a DPoP key")]
    Unbound,
    /// The proof failed a check of RFC 9449 section 4.3 (`typ`, algorithm, embedded public
    /// key, signature, `htm`, `htu`, `iat`, `ath`), or its algorithm is not configured:
    /// `invalid_dpop_proof`.
    #[error("the DPoP proof is invalid: {0}")]
    Proof(ValidationError),
    /// The proof is valid but made with another key than the one the token is bound to
    /// (RFC 9449 section 6.1): `invalid_token`, as the example of section 7.1 answers.
    #[error("the DPoP proof is not made with the token's key")]
    KeyMismatch,
    /// The same key presented the proof's `jti` within the last 120 seconds (RFC 9449 section
    /// 11.1): `invalid_dpop_proof`.
    #[error("the DPoP proof was already used")]
    Replayed,
    /// The replay cache is full of unexpired records; the oldest expires within
    /// `retry_after_secs` seconds.
    #[error("the DPoP replay cache is full")]
    Busy {
        /// Seconds until a record expires and makes room, at least 1.
        retry_after_secs: u64,
    },
}

/// A validator's DPoP state: the configuration, the proof checks and the replay cache.
#[derive(Debug)]
pub(crate) struct DpopResource {
    config: DpopConfig,
    proofs: DpopValidator,
    seen: ReplayCache,
}

impl RemoteValidator {
    /// Accepts DPoP-bound tokens under the DPoP scheme (RFC 9449 section 7) as configured,
    /// besides Bearer tokens. Without this, [`validate_dpop`](Self::validate_dpop) refuses
    /// every request and the `bearer::BearerClaims` extractor accepts Bearer only.
    pub fn with_dpop(mut self, config: DpopConfig) -> Self {
        self.dpop = Some(DpopResource {
            seen: ReplayCache::new(config.replay_capacity, REPLAY_WINDOW_SECS),
            proofs: DpopValidator::default(),
            config,
        });
        self
    }

    /// The DPoP configuration given to [`with_dpop`](Self::with_dpop), if any.
    pub fn dpop(&self) -> Option<&DpopConfig> {
        self.dpop.as_ref().map(|d| &d.config)
    }

    /// Validates a request made under the DPoP scheme (RFC 9449 section 7.1) at `now`, Unix
    /// seconds: `access_token` as [`validate`](Self::validate) does, then that it carries
    /// `cnf.jkt`, then `proof` (the one `DPoP` header) with [`DpopValidator`] for `method`
    /// and the `htu` rebuilt from the configured origin and `path` (the request path as
    /// received, before any routing strips a prefix), including its `ath` of
    /// `access_token`, then that the proof's key is the token's, and last that the proof's
    /// `jti` is new for that key. Returns the token's claims and what the proof established.
    ///
    /// The replay cache is written last, so only requests that passed every other check take
    /// room in it.
    pub async fn validate_dpop(
        &self,
        access_token: &str,
        proof: &str,
        method: &str,
        path: &str,
        now: i64,
    ) -> Result<(Claims, DpopProof), DpopFailure> {
        let dpop = self.dpop.as_ref().ok_or(DpopFailure::NotConfigured)?;
        let claims = self
            .validate(access_token, now)
            .await
            .map_err(DpopFailure::Token)?;
        let bound = claims
            .all
            .get("cnf")
            .and_then(|cnf| cnf.get("jkt"))
            .and_then(Value::as_str)
            .ok_or(DpopFailure::Unbound)?;
        if let Some(alg) = proof_alg(proof)
            && !dpop.config.algorithms.contains(&alg)
        {
            return Err(DpopFailure::Proof(ValidationError::AlgorithmNotAllowed(
                alg,
            )));
        }
        let htu = dpop.config.htu(path);
        let checked = dpop
            .proofs
            .validate(proof, method, &htu, Some(access_token), now)
            .map_err(DpopFailure::Proof)?;
        // Thumbprints are of public keys: nothing secret to compare in constant time.
        if checked.jkt != bound {
            return Err(DpopFailure::KeyMismatch);
        }
        dpop.seen
            .record(&checked.jkt, &checked.jti, now)
            .map_err(|refusal| match refusal {
                Refusal::Replayed => DpopFailure::Replayed,
                Refusal::Full { retry_after } => DpopFailure::Busy {
                    retry_after_secs: retry_after,
                },
            })?;
        Ok((claims, checked))
    }
}

/// The `alg` of a proof's header, read before the signature is checked so that algorithms
/// narrowed out by the configuration are refused without verifying anything; `None` when the
/// header does not parse, which [`DpopValidator`] then reports precisely.
fn proof_alg(proof: &str) -> Option<Algorithm> {
    if proof.len() > DEFAULT_MAX_TOKEN_LEN {
        return None;
    }
    let h64 = proof.split('.').next()?;
    let header = header::parse(&b64::decode(h64)?, EmbeddedKey::Required).ok()?;
    Some(header.alg)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::SigningKey;

    fn proof_made_at(key: &SigningKey, iat: i64) -> String {
        let header = json!({ "alg": "ES256", "typ": "dpop+jwt", "jwk": key.public_jwk() });
        let claims = json!({ "jti": "j", "htm": "GET", "htu": "https://api.example.com/a",
                             "iat": iat });
        let input = format!(
            "{}.{}",
            b64::encode(header.to_string()),
            b64::encode(claims.to_string())
        );
        let signature = key.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", b64::encode(signature))
    }

    #[test]
    fn the_replay_window_covers_every_moment_a_proof_is_accepted() {
        let key = SigningKey::generate(Algorithm::Es256).unwrap();
        let iat = 1_900_000_000;
        let proof = proof_made_at(&key, iat);
        let validator = DpopValidator::default();
        let accepted: Vec<i64> = (iat - 600..=iat + 600)
            .filter(|now| {
                validator
                    .validate(&proof, "GET", "https://api.example.com/a", None, *now)
                    .is_ok()
            })
            .collect();
        let (first, last) = (accepted[0], accepted[accepted.len() - 1]);
        // A record made at the first acceptance is still live (expiry >= now) at the last.
        assert!(
            first + REPLAY_WINDOW_SECS >= last,
            "proofs are accepted from {first} to {last}, longer than the replay window"
        );
    }

    #[test]
    fn origins_are_normalised_and_nothing_else_is_accepted() {
        let dpop = DpopConfig::new("http://127.0.0.1:3000").unwrap();
        assert_eq!(dpop.htu("/a?b=c"), "http://127.0.0.1:3000/a");
        for bad in [
            "https://api.example.com/v1",
            "https://api.example.com/?q",
            "https://api.example.com/#f",
            "https://user:pw@api.example.com",
            "http://api.example.com",
            "ftp://127.0.0.1",
            "api.example.com",
        ] {
            assert!(DpopConfig::new(bad).is_err(), "{bad}");
        }
        let narrowed = DpopConfig::new("https://api.example.com")
            .unwrap()
            .allow_only(&[Algorithm::EdDsa, Algorithm::Hs256]);
        assert_eq!(narrowed.algs_param(), "EdDSA Ed25519");
    }
}
