//! Signing keys: listing, rotating and revoking them.

use ostiary_jwt::Algorithm;

use crate::audit::AuditEventType;
use crate::error::AdminError;
use crate::keys::{Resealed, StoredKey};
use crate::validation::InvalidInput;

use super::{Actor, Admin};

impl Admin {
    /// Every signing key in every state, oldest first (reading records nothing; no private
    /// part is opened, so this needs no key manager).
    pub async fn list_keys(&self) -> Result<Vec<StoredKey>, AdminError> {
        Ok(self.store.list_signing_keys().await?)
    }

    /// A new active key for `alg` (`key.rotated`, with its kid as subject); the previous
    /// active key of `alg` is retired and stays published until every token it signed has
    /// expired.
    ///
    /// Errors: `Invalid` for HS256 (derived from the root secret, never stored),
    /// `Unavailable` when built without a key manager, `Keys`.
    pub async fn rotate_key(&self, by: &Actor, alg: Algorithm) -> Result<StoredKey, AdminError> {
        if alg == Algorithm::Hs256 {
            return Err(InvalidInput::new(
                "alg",
                "HS256 keys derive from OAUTH2_JWT_SECRET and are not rotated here",
            )
            .into());
        }
        let key = self.keys()?.rotate(alg).await?;
        self.record(by, AuditEventType::KeyRotated, |e| {
            e.subject(key.kid.clone())
        })
        .await;
        Ok(key)
    }

    /// `ostiary keys reseal`: seals every key still sealed under a previous root secret
    /// (`OAUTH2_JWT_SECRET_PREVIOUS`) under the current one (`key.resealed` for each), and
    /// erases the private parts of retired keys past publication. Users' TOTP keys move
    /// too when the Admin has the second-factor service.
    ///
    /// Errors: `Unavailable` when built without a key manager, `Keys`, `Store`.
    pub async fn reseal_keys(&self, by: &Actor) -> Result<Resealed, AdminError> {
        let mut done = self.keys()?.reseal().await?;
        if let Some(factors) = &self.factors {
            done.second_factors_resealed = factors.reseal().await?;
        }
        for kid in &done.resealed {
            self.record(by, AuditEventType::KeyResealed, |e| e.subject(kid.clone()))
                .await;
        }
        Ok(done)
    }

    /// Revokes a key at once (`key.revoked`): its private part is erased and tokens it signed
    /// stop validating (incident response). Needs no key manager.
    ///
    /// Errors: `NotFound` for an unknown kid, `Store`.
    pub async fn revoke_key(&self, by: &Actor, kid: &str) -> Result<(), AdminError> {
        if !self
            .store
            .revoke_signing_key(kid, self.clock.now_seconds())
            .await?
        {
            return Err(AdminError::NotFound(format!("no signing key {kid}")));
        }
        self.record(by, AuditEventType::KeyRevoked, |e| e.subject(kid))
            .await;
        Ok(())
    }
}
