//! DPoP (RFC 9449) where Ostiary receives proofs (token and userinfo endpoints): each proof is
//! checked with `ostiary-jwt`'s validator, its `jti` is used once across every instance (the
//! store keeps it for the proof window), and server nonces (section 8), when demanded, are
//! derived from a shared key and the time, so every instance issues and accepts the same ones
//! without talking to the others.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_jwt::{Algorithm, DpopProof, DpopValidator, ValidationError, derive_subkey};
use secrecy::{ExposeSecret, SecretBox};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::Clock;
use crate::error::{ErrorCode, OAuthError};
use crate::store::{ReplayStore, one_time_key};
use crate::token::Confirmation;

/// How long one server nonce is issued, in seconds; the previous one is still accepted, so a
/// nonce lives between 5 and 10 minutes.
pub const NONCE_PERIOD_SECS: i64 = 300;
/// How long a proof's `jti` is remembered after its `iat`, in seconds: past the validator's
/// 60 s freshness window and its 30 s leeway either side, with a margin.
const JTI_RETENTION_SECS: i64 = 180;
/// What the replay record of a proof's `jti` is bound to, besides the key.
const REPLAY_PURPOSE: &str = "dpop_proof";

/// The proof algorithms accepted (RFC 9449 5.1 `dpop_signing_alg_values_supported`):
/// asymmetric only, as the validator enforces.
pub const DPOP_SIGNING_ALGS: [Algorithm; 3] = Algorithm::ASYMMETRIC;

/// A refused proof: the error to answer with, and for `use_dpop_nonce` the nonce to send in
/// the `DPoP-Nonce` header (RFC 9449 8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopError {
    pub error: OAuthError,
    pub nonce: Option<String>,
}

impl DpopError {
    fn invalid(why: &'static str) -> Self {
        Self {
            error: OAuthError::new(ErrorCode::InvalidDpopProof, why),
            nonce: None,
        }
    }
}

impl From<OAuthError> for DpopError {
    fn from(error: OAuthError) -> Self {
        Self { error, nonce: None }
    }
}

/// A proof that passed every check but the replay check ([`DpopVerifier::use_once`]).
#[derive(Debug)]
pub struct CheckedProof {
    proof: DpopProof,
    /// The key the request would be bound to.
    pub confirmation: Confirmation,
}

/// Checks DPoP proofs for one server.
pub struct DpopVerifier {
    validator: DpopValidator,
    replays: Arc<dyn ReplayStore>,
    clock: Arc<dyn Clock>,
    /// The key nonces are derived from; `None` when the server demands no nonce.
    nonce_key: Option<SecretBox<[u8; 32]>>,
}

impl std::fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopVerifier")
            .field("nonces", &self.nonce_key.is_some())
            .finish_non_exhaustive()
    }
}

impl DpopVerifier {
    /// With `nonce_key`, every proof must carry a current server nonce (RFC 9449 8); every
    /// instance given the same key accepts the nonces of the others.
    pub fn new(
        replays: Arc<dyn ReplayStore>,
        clock: Arc<dyn Clock>,
        nonce_key: Option<SecretBox<[u8; 32]>>,
    ) -> Self {
        Self {
            validator: DpopValidator::default(),
            replays,
            clock,
            nonce_key,
        }
    }

    /// The nonce proofs must carry now, for the `DPoP-Nonce` header; `None` when the server
    /// demands none.
    pub fn current_nonce(&self) -> Option<String> {
        let key = self.nonce_key.as_ref()?;
        nonce_for(key, self.period(0))
    }

    /// Verifies the proof sent with a request of `method` to `url` (the endpoint's URL as
    /// advertised, without query), and with `access_token` its `ath` (RFC 9449 4.3, 7.1).
    /// Returns the key the request is bound to. [`DpopVerifier::check`] and
    /// [`DpopVerifier::use_once`] in one call, for a request whose sender is already
    /// authenticated (the token endpoint).
    ///
    /// Errors: `invalid_dpop_proof` for a proof that fails a check or was seen before;
    /// `use_dpop_nonce` (with the nonce to use) when a nonce is demanded and the proof's is
    /// missing or stale; `server_error` when the store fails.
    pub async fn verify(
        &self,
        proof: &str,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<Confirmation, DpopError> {
        let checked = self.check(proof, method, url, access_token)?;
        self.use_once(checked).await
    }

    /// Every check of [`DpopVerifier::verify`] but the replay check, which writes: a
    /// resource that checks the access token before recording the proof (userinfo) lets no
    /// one without a valid token write to the store.
    pub fn check(
        &self,
        proof: &str,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<CheckedProof, DpopError> {
        let now = self.clock.now().unix_timestamp();
        let checked = self
            .validator
            .validate(proof, method, url, access_token, now)
            .map_err(|e| DpopError::invalid(describe(&e)))?;
        if let Some(key) = &self.nonce_key {
            let current = [self.period(0), self.period(-1)];
            let fresh = checked.nonce.as_deref().is_some_and(|nonce| {
                current
                    .iter()
                    .filter_map(|p| nonce_for(key, *p))
                    .any(|n| bool::from(n.as_bytes().ct_eq(nonce.as_bytes())))
            });
            if !fresh {
                return Err(DpopError {
                    error: OAuthError::new(
                        ErrorCode::UseDpopNonce,
                        "the proof must carry the nonce in the DPoP-Nonce header",
                    ),
                    nonce: self.current_nonce(),
                });
            }
        }
        Ok(CheckedProof {
            confirmation: Confirmation {
                jkt: checked.jkt.clone(),
            },
            proof: checked,
        })
    }

    /// Records the proof's `jti`, refusing a proof seen before (by any instance sharing the
    /// store); returns the key the request is bound to.
    ///
    /// Errors: `invalid_dpop_proof` for a replay, `server_error` when the store fails.
    pub async fn use_once(&self, checked: CheckedProof) -> Result<Confirmation, DpopError> {
        let CheckedProof {
            proof: checked,
            confirmation,
        } = checked;
        let now = self.clock.now().unix_timestamp();
        let replay_key = one_time_key(REPLAY_PURPOSE, &checked.jkt, &checked.jti);
        let keep_until =
            OffsetDateTime::from_unix_timestamp(checked.iat.max(now) + JTI_RETENTION_SECS)
                .map_err(|_| OAuthError::server_error())?;
        if !self
            .replays
            .use_once(&replay_key, keep_until, self.clock.now_seconds())
            .await
            .map_err(OAuthError::from)?
        {
            return Err(DpopError::invalid("the proof was already used"));
        }
        Ok(confirmation)
    }

    /// The nonce period `offset` periods from now.
    fn period(&self, offset: i64) -> i64 {
        self.clock
            .now()
            .unix_timestamp()
            .div_euclid(NONCE_PERIOD_SECS)
            + offset
    }
}

/// 128 bits of HKDF output for one period: unguessable without the key, the same on every
/// instance holding it.
fn nonce_for(key: &SecretBox<[u8; 32]>, period: i64) -> Option<String> {
    let derived = derive_subkey(key.expose_secret(), &period.to_be_bytes()).ok()?;
    Some(URL_SAFE_NO_PAD.encode(&derived[..16]))
}

/// A fixed description per failed check: nothing of the proof is echoed.
fn describe(error: &ValidationError) -> &'static str {
    match error {
        ValidationError::InvalidClaim("htm") => "the proof is for another HTTP method",
        ValidationError::InvalidClaim("htu") => "the proof is for another URL",
        ValidationError::InvalidClaim("ath") | ValidationError::MissingClaim("ath") => {
            "the proof is not bound to this access token"
        }
        ValidationError::Expired | ValidationError::IssuedInFuture => {
            "the proof is not fresh: check iat and the clock"
        }
        ValidationError::BadSignature => "the proof signature does not verify",
        ValidationError::WrongType => "the proof typ must be dpop+jwt",
        ValidationError::AlgorithmNotAllowed(_)
        | ValidationError::UnsupportedAlgorithm(_)
        | ValidationError::MissingAlgorithm
        | ValidationError::AlgorithmMismatch => "the proof algorithm is not accepted",
        ValidationError::InvalidHeader("jwk") => "the proof jwk must be one public key",
        ValidationError::ForbiddenHeader(_) => {
            "the proof header carries a parameter that is refused (jku, x5u, x5c, crit...)"
        }
        ValidationError::InvalidHeader(_) => "the proof header is invalid",
        _ => "the DPoP proof is invalid",
    }
}
