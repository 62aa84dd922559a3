//! The in-memory key ring: the current signing keys and verification key set, rebuilt from
//! the database whenever the set of usable keys changes, so instances sharing one database
//! converge within one refresh interval and revocation takes effect without a restart.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ostiary_jwt::{Algorithm, JwkSet, KeySet, Profile, SigningKey, Validator};

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
    introspection_validator: Validator,
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
        &self.introspection_validator
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
        let snapshot = build(&manager, &keys, &issuer, &required, hs256.as_ref())?;
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
    /// CLI, a retired key's window closing). Returns whether the snapshot changed.
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
        let snapshot = build(
            &self.manager,
            &keys,
            &self.issuer,
            &self.required,
            self.hs256.as_ref(),
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
) -> Result<KeySnapshot, KeyManagerError> {
    let now = manager.clock().now();
    let usable: Vec<_> = keys.iter().filter(|k| k.verifies_at(now)).collect();
    let mut signing = HashMap::new();
    let mut verifying = Vec::new();
    let mut jwks = JwkSet::default();
    for key in &usable {
        if key.state == KeyState::Active && required.contains(&key.alg) {
            let opened = manager.open(key)?;
            verifying.push(opened.verifying_key().clone());
            signing.insert(key.alg, Arc::new(opened));
        } else {
            match ostiary_jwt::VerifyingKey::from_jwk(&key.public_jwk) {
                Ok(vk) => verifying.push(vk),
                Err(e) => {
                    tracing::error!(kid = %key.kid, error = %e, "published key does not load; left out");
                    continue;
                }
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
        introspection_validator: Validator::new(
            Profile::AccessToken,
            issuer,
            "",
            KeySet::new(verifying),
        )
        .audience_checked_by_caller(),
        fingerprint: fingerprint(usable.into_iter()),
    })
}
