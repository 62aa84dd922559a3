//! The in-memory key ring: the current signing keys and verification key set, rebuilt from
//! the database whenever the set of usable keys changes, so instances sharing one database
//! converge within one refresh interval and revocation takes effect without a restart.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ostiary_jwt::{
    Algorithm, Claims, JwkSet, KeySet, Profile, SigningKey, ValidationError, Validator,
};

use super::verified::VerifiedTokens;
use super::{KeyManager, KeyManagerError, KeyState};

/// An active key as metrics and operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveKey {
    pub kid: String,
    pub alg: Algorithm,
    pub created_at: time::OffsetDateTime,
}

#[derive(Debug)]
pub struct KeySnapshot {
    signing: HashMap<Algorithm, Arc<SigningKey>>,
    active: Vec<ActiveKey>,
    jwks_json: String,
    /// The introspection validator, with the tokens it accepted (dropped with this snapshot).
    verified: VerifiedTokens,
    fingerprint: Vec<(String, KeyState)>,
}

impl KeySnapshot {
    pub fn signing_key(&self, alg: Algorithm) -> Option<&SigningKey> {
        self.signing.get(&alg).map(|k| &**k)
    }

    /// The JWKS document (public keys of active and still-published retired keys, never
    /// HS256), serialized once per key change.
    pub fn jwks_json(&self) -> &str {
        &self.jwks_json
    }

    /// Validates this issuer's access tokens without an audience check: for introspection
    /// and revocation only, which decide per caller what it may learn. Anything that accepts
    /// tokens for itself must check the audience.
    pub fn introspection_validator(&self) -> &Validator {
        self.verified.validator()
    }

    /// This issuer's access token `token` validated at `now` (Unix seconds) by the
    /// [`introspection_validator`](Self::introspection_validator), without the signature
    /// check when this snapshot verified the same token before (see `keys/verified.rs`).
    /// The audience, revocation and client are the caller's to check, as for the validator.
    pub fn validate_access_token(&self, token: &str, now: i64) -> Result<Claims, ValidationError> {
        self.verified.validate(token, now)
    }
}

#[derive(Debug)]
pub struct KeyRing {
    manager: KeyManager,
    issuer: String,
    /// Algorithms that must always have an active key.
    required: Vec<Algorithm>,
    /// Configured HS256 key, if the operator chose symmetric access tokens.
    hs256: Option<Arc<SigningKey>>,
    current: RwLock<Arc<KeySnapshot>>,
}

impl KeyRing {
    /// Ensures active keys exist for `required` and loads them. Fails if an active key
    /// cannot be opened (the root secret changed): starting without it would be worse.
    pub async fn load(
        manager: KeyManager,
        issuer: String,
        required: Vec<Algorithm>,
        hs256: Option<SigningKey>,
    ) -> Result<Self, KeyManagerError> {
        let hs256 = hs256.map(Arc::new);
        let mut keys = manager.list().await?;
        if manager.ensure_active_among(&keys, &required).await? {
            keys = manager.list().await?;
        }
        let snapshot = build(&manager, &keys, &issuer, &required, hs256.as_ref(), None)?;
        Ok(Self {
            manager,
            issuer,
            required,
            hs256,
            current: RwLock::new(Arc::new(snapshot)),
        })
    }

    pub fn active_keys(&self) -> Vec<ActiveKey> {
        self.current().active.clone()
    }

    pub fn current(&self) -> Arc<KeySnapshot> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn manager(&self) -> &KeyManager {
        &self.manager
    }

    /// Reloads when the usable keys changed (rotation or revocation by any instance or the
    /// CLI, a retired key's window closing). Returns whether the snapshot changed. A new
    /// active key this instance's root secret cannot open (another instance made it under a
    /// new secret) is verified by its public part, and signing goes on with the key held
    /// until that one is revoked or no longer published.
    pub async fn refresh(&self) -> Result<bool, KeyManagerError> {
        let mut keys = self.manager.list().await?;
        if self
            .manager
            .ensure_active_among(&keys, &self.required)
            .await?
        {
            keys = self.manager.list().await?;
        }
        let now = self.manager.clock().now();
        let fingerprint = fingerprint(keys.iter().filter(|k| k.verifies_at(now)));
        if fingerprint == self.current().fingerprint {
            return Ok(false);
        }
        let held = self.current();
        let snapshot = build(
            &self.manager,
            &keys,
            &self.issuer,
            &self.required,
            self.hs256.as_ref(),
            Some(&held),
        )?;
        match self.current.write() {
            Ok(mut guard) => *guard = Arc::new(snapshot),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(snapshot),
        }
        Ok(true)
    }
}

fn fingerprint<'a>(keys: impl Iterator<Item = &'a super::StoredKey>) -> Vec<(String, KeyState)> {
    let mut fingerprint: Vec<_> = keys.map(|k| (k.kid.clone(), k.state)).collect();
    fingerprint.sort_by(|a, b| a.0.cmp(&b.0));
    fingerprint
}

/// Private parts are opened only for the algorithms this instance signs with; every other
/// usable key verifies from its public JWK. A key that fails either way is left out (and
/// logged) rather than blocking the refresh, unless this instance needs it to sign.
fn build(
    manager: &KeyManager,
    keys: &[super::StoredKey],
    issuer: &str,
    required: &[Algorithm],
    hs256: Option<&Arc<SigningKey>>,
    held: Option<&KeySnapshot>,
) -> Result<KeySnapshot, KeyManagerError> {
    let now = manager.clock().now();
    let usable: Vec<_> = keys.iter().filter(|k| k.verifies_at(now)).collect();
    let mut signing = HashMap::new();
    let mut verifying = Vec::new();
    let mut jwks = JwkSet::default();
    for key in &usable {
        if key.state == KeyState::Active && required.contains(&key.alg) {
            match (manager.open(key), held) {
                (Ok(opened), _) => {
                    verifying.push(opened.verifying_key().clone());
                    signing.insert(key.alg, Arc::new(opened));
                    jwks.keys.push(key.public_jwk.clone());
                    continue;
                }
                // At start a key that does not open stops the server.
                (Err(e), None) => return Err(e),
                // A running instance whose secret does not open a new key (made under
                // another root secret during a change) keeps signing with the key it holds
                // while that one is still published, never with one revoked or gone; it
                // still verifies the new key's tokens by its public part.
                (Err(e), Some(held)) => {
                    let kept = held
                        .signing
                        .get(&key.alg)
                        .filter(|k| usable.iter().any(|u| u.kid == k.kid()));
                    tracing::error!(kid = %key.kid, kept = kept.map(|k| k.kid()), error = %e, "the new active signing key does not open with this instance's OAUTH2_JWT_SECRET");
                    if let Some(kept) = kept {
                        signing.insert(key.alg, Arc::clone(kept));
                    }
                }
            }
        }
        match ostiary_jwt::VerifyingKey::from_jwk(&key.public_jwk) {
            Ok(vk) => verifying.push(vk),
            Err(e) => {
                tracing::error!(kid = %key.kid, error = %e, "published key does not load; left out");
                continue;
            }
        }
        jwks.keys.push(key.public_jwk.clone());
    }
    if let Some(hs) = hs256 {
        verifying.push(hs.verifying_key().clone());
        signing.insert(Algorithm::Hs256, Arc::clone(hs));
    }
    let jwks_json = serde_json::to_string(&jwks).unwrap_or_else(|_| r#"{"keys":[]}"#.into());
    let active = usable
        .iter()
        .filter(|k| k.state == KeyState::Active)
        .map(|k| ActiveKey {
            kid: k.kid.clone(),
            alg: k.alg,
            created_at: k.created_at,
        })
        .collect();
    Ok(KeySnapshot {
        signing,
        active,
        jwks_json,
        verified: VerifiedTokens::new(
            Validator::new(Profile::AccessToken, issuer, "", KeySet::new(verifying))
                .audience_checked_by_caller(),
        ),
        fingerprint: fingerprint(usable.into_iter()),
    })
}
