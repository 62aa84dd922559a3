//! Creating, rotating and revoking signing keys; the code path of `ostiary keys` and of the
//! server's automatic rotation alike.

use std::sync::Arc;

use ostiary_jwt::{Algorithm, KeySealer, SigningKey};
use time::Duration;

use super::{KeyState, StoredKey};
use crate::Clock;
use crate::store::{KeyStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KeyManagerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Crypto(String),
    #[error("no signing key {0}")]
    NotFound(String),
    #[error(
        "signing key {0} cannot be opened with OAUTH2_JWT_SECRET or any of OAUTH2_JWT_SECRET_PREVIOUS; give the secret it was sealed under as OAUTH2_JWT_SECRET_PREVIOUS, or run `ostiary keys rotate` to replace it"
    )]
    Unopenable(String),
}

/// What [`KeyManager::reseal`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Resealed {
    /// Keys found sealed under a previous secret and now sealed under the current one.
    pub resealed: Vec<String>,
    /// Keys with a private part that no configured secret opens (left as they are).
    pub unopenable: Vec<String>,
    /// Keys whose sealing from before the change was dropped: the change is over for them.
    pub finished: Vec<String>,
    /// Private parts erased: retired keys no longer published.
    pub erased: u64,
    /// Users' TOTP keys moved from a previous secret to the current one (by
    /// `Admin::reseal_keys`, which has the second-factor service; the key manager leaves 0).
    pub second_factors_resealed: u64,
}

pub struct KeyManager {
    store: Arc<dyn KeyStore>,
    sealer: KeySealer,
    /// Sealers of earlier root secrets (`OAUTH2_JWT_SECRET_PREVIOUS`): they only open.
    previous: Vec<KeySealer>,
    clock: Arc<dyn Clock>,
    /// How long a retired key stays published: the longest lifetime of any token it signed.
    publish_window: Duration,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManager")
            .field("publish_window", &self.publish_window)
            .finish_non_exhaustive()
    }
}

impl KeyManager {
    pub fn new(
        store: Arc<dyn KeyStore>,
        root_secret: &[u8],
        clock: Arc<dyn Clock>,
        publish_window: Duration,
    ) -> Result<Self, KeyManagerError> {
        let sealer =
            KeySealer::new(root_secret).map_err(|e| KeyManagerError::Crypto(e.to_string()))?;
        Ok(Self {
            store,
            sealer,
            previous: Vec::new(),
            clock,
            publish_window,
        })
    }

    /// Also opens keys sealed under these earlier root secrets (a rolling change of
    /// `OAUTH2_JWT_SECRET`); [`KeyManager::reseal`] moves them to the current one.
    pub fn with_previous_secrets<'a>(
        mut self,
        secrets: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self, KeyManagerError> {
        for secret in secrets {
            self.previous
                .push(KeySealer::new(secret).map_err(|e| KeyManagerError::Crypto(e.to_string()))?);
        }
        Ok(self)
    }

    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    pub async fn list(&self) -> Result<Vec<StoredKey>, KeyManagerError> {
        Ok(self.store.list_signing_keys().await?)
    }

    /// A new active key for `alg`; the previous active key of `alg` is retired.
    pub async fn rotate(&self, alg: Algorithm) -> Result<StoredKey, KeyManagerError> {
        let current = self.active_kid(alg).await?;
        self.activate_new(alg, current.as_deref()).await
    }

    /// Makes sure each algorithm has an active key, given the current `keys`. Safe to race
    /// with other instances: the loser of a race finds the winner's key. Returns whether it
    /// created any.
    pub async fn ensure_active_among(
        &self,
        keys: &[StoredKey],
        algs: &[Algorithm],
    ) -> Result<bool, KeyManagerError> {
        let mut created = false;
        for &alg in algs {
            if !keys
                .iter()
                .any(|k| k.alg == alg && k.state == KeyState::Active)
            {
                match self.activate_new(alg, None).await {
                    Ok(_) => created = true,
                    Err(KeyManagerError::Store(StoreError::Conflict(_))) => created = true,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(created)
    }

    pub async fn ensure_active(&self, algs: &[Algorithm]) -> Result<(), KeyManagerError> {
        let keys = self.list().await?;
        self.ensure_active_among(&keys, algs).await.map(|_| ())
    }

    /// Rotates `alg` when its active key is older than `max_age`. Returns whether it did.
    pub async fn rotate_if_older_than(
        &self,
        alg: Algorithm,
        max_age: Duration,
    ) -> Result<bool, KeyManagerError> {
        let now = self.clock.now();
        let keys = self.store.list_signing_keys().await?;
        let Some(active) = keys
            .iter()
            .find(|k| k.alg == alg && k.state == KeyState::Active)
        else {
            return Ok(false);
        };
        if now - active.created_at < max_age {
            return Ok(false);
        }
        match self.activate_new(alg, Some(&active.kid)).await {
            Ok(_) => Ok(true),
            // Another instance rotated first.
            Err(KeyManagerError::Store(StoreError::Conflict(_))) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Incident response (`tokens revoke-all --rotate-keys`): every algorithm with an active
    /// key gets a new one, then every other key is revoked at once (its private part erased,
    /// gone from the JWKS), so resources validating offline reject what the old keys signed
    /// once they re-read the key set. Returns the new keys and the kids revoked.
    pub async fn replace_all(&self) -> Result<(Vec<StoredKey>, Vec<String>), KeyManagerError> {
        let before = self.store.list_signing_keys().await?;
        let mut created = Vec::new();
        for key in before.iter().filter(|k| k.state == KeyState::Active) {
            created.push(self.activate_new(key.alg, Some(&key.kid)).await?);
        }
        let mut revoked = Vec::new();
        for key in before.iter().filter(|k| k.state != KeyState::Revoked) {
            if self
                .store
                .revoke_signing_key(&key.kid, self.clock.now_seconds())
                .await?
            {
                revoked.push(key.kid.clone());
            }
        }
        Ok((created, revoked))
    }

    pub async fn revoke(&self, kid: &str) -> Result<(), KeyManagerError> {
        if self
            .store
            .revoke_signing_key(kid, self.clock.now_seconds())
            .await?
        {
            Ok(())
        } else {
            Err(KeyManagerError::NotFound(kid.to_owned()))
        }
    }

    /// Opens the private part of an active key, sealed under the current root secret or a
    /// previous one.
    pub fn open(&self, key: &StoredKey) -> Result<SigningKey, KeyManagerError> {
        let unopenable = || KeyManagerError::Unopenable(key.kid.clone());
        let pkcs8 = self.unseal(key).ok_or_else(unopenable)?.1;
        let signing = SigningKey::from_pkcs8(key.alg, &pkcs8).map_err(|_| unopenable())?;
        if signing.kid() != key.kid {
            return Err(unopenable());
        }
        Ok(signing)
    }

    /// The private part of `key` (PKCS#8) and whether the current secret opened its current
    /// sealing; `None` when no configured secret opens either sealing.
    fn unseal(&self, key: &StoredKey) -> Option<(bool, Vec<u8>)> {
        let context = StoredKey::sealing_context(&key.kid, key.alg);
        if let Ok(pkcs8) = self.sealer.open(&context, &key.sealed_private_key) {
            return Some((true, pkcs8));
        }
        [&key.sealed_private_key, &key.previous_sealed_private_key]
            .into_iter()
            .filter(|sealed| !sealed.is_empty())
            .find_map(|sealed| {
                std::iter::once(&self.sealer)
                    .chain(&self.previous)
                    .find_map(|sealer| sealer.open(&context, sealed).ok())
            })
            .map(|pkcs8| (false, pkcs8))
    }

    /// Whether earlier root secrets were given (a change of `OAUTH2_JWT_SECRET` in progress).
    pub fn has_previous_secrets(&self) -> bool {
        !self.previous.is_empty()
    }

    /// Erases the private parts of retired keys no longer published; how many.
    pub async fn erase_unpublished(&self) -> Result<u64, KeyManagerError> {
        Ok(self
            .store
            .erase_unpublished_private_keys(self.clock.now_seconds())
            .await?)
    }

    /// Seals every key not yet sealed under the current root secret under it (opening it
    /// with a previous secret), and erases the private parts of retired keys no longer
    /// published. Idempotent, and safe while other instances do the same (each key is
    /// replaced by compare-and-set). Keys no configured secret opens are reported and left
    /// alone.
    ///
    /// A key's sealing from before the change is kept (so a mistyped new secret that
    /// re-sealed the keys locks nobody out: the others still open the old sealing), until a
    /// manager given no previous secret finds the key sealed under its own: the change is
    /// then over for that key, and the old sealing goes (`finished`).
    pub async fn reseal(&self) -> Result<Resealed, KeyManagerError> {
        let mut done = Resealed {
            erased: self.erase_unpublished().await?,
            ..Resealed::default()
        };
        for key in self.store.list_signing_keys().await? {
            if key.sealed_private_key.is_empty() && key.previous_sealed_private_key.is_empty() {
                continue;
            }
            match self.unseal(&key) {
                Some((true, _)) => {
                    if !key.previous_sealed_private_key.is_empty()
                        && self.previous.is_empty()
                        && self.store.finish_resealing(&key.kid).await?
                    {
                        done.finished.push(key.kid);
                    }
                }
                Some((false, pkcs8)) => {
                    let context = StoredKey::sealing_context(&key.kid, key.alg);
                    let resealed = self
                        .sealer
                        .seal(&context, &pkcs8)
                        .map_err(|e| KeyManagerError::Crypto(e.to_string()))?;
                    if self
                        .store
                        .reseal_signing_key(&key.kid, &key.sealed_private_key, &resealed)
                        .await?
                    {
                        done.resealed.push(key.kid);
                    }
                }
                None => done.unopenable.push(key.kid),
            }
        }
        Ok(done)
    }

    async fn active_kid(&self, alg: Algorithm) -> Result<Option<String>, KeyManagerError> {
        Ok(self
            .store
            .list_signing_keys()
            .await?
            .into_iter()
            .find(|k| k.alg == alg && k.state == KeyState::Active)
            .map(|k| k.kid))
    }

    async fn activate_new(
        &self,
        alg: Algorithm,
        replacing: Option<&str>,
    ) -> Result<StoredKey, KeyManagerError> {
        let crypto = |e: ostiary_jwt::KeyError| KeyManagerError::Crypto(e.to_string());
        let signing = SigningKey::generate(alg).map_err(crypto)?;
        let pkcs8 = signing.to_pkcs8().map_err(crypto)?;
        let sealed = self
            .sealer
            .seal(&StoredKey::sealing_context(signing.kid(), alg), &pkcs8)
            .map_err(|e| KeyManagerError::Crypto(e.to_string()))?;
        let public_jwk = signing
            .public_jwk()
            .cloned()
            .ok_or_else(|| KeyManagerError::Crypto("asymmetric key without public JWK".into()))?;
        let now = self.clock.now_seconds();
        let key = StoredKey {
            kid: signing.kid().to_owned(),
            alg,
            state: KeyState::Active,
            sealed_private_key: sealed,
            previous_sealed_private_key: Vec::new(),
            public_jwk,
            created_at: now,
            retired_at: None,
            publish_until: None,
            revoked_at: None,
        };
        self.store
            .activate_signing_key(&key, replacing, now + self.publish_window)
            .await?;
        Ok(key)
    }
}
