//! Incident response: revoking everything issued until now, and optionally every signing key.

use crate::audit::AuditEventType;
use crate::error::AdminError;
use crate::grant::RevokedEverything;
use crate::keys::StoredKey;

use super::{Actor, Admin};

/// What [`Admin::revoke_everything`] ended.
#[derive(Debug)]
pub struct RevokedAll {
    /// Sessions, codes and grants removed or revoked.
    pub revoked: RevokedEverything,
    /// The signing keys replaced, when asked for.
    pub keys: Option<ReplacedKeys>,
}

/// Signing keys replaced in an incident: new active keys, and the kids revoked.
#[derive(Debug)]
pub struct ReplacedKeys {
    pub created: Vec<StoredKey>,
    pub revoked: Vec<String>,
}

impl Admin {
    /// Every session ends, every unredeemed code is void, every grant is revoked and every
    /// access token issued until now is inactive (`tokens.revoked_all`). With `rotate_keys`,
    /// every algorithm with an active key then gets a new one (`key.rotated` each) and every
    /// other key is revoked (`key.revoked` each), so resources validating offline reject
    /// what the old keys signed.
    ///
    /// Errors: `Unavailable` when `rotate_keys` is asked of an Admin built without a key
    /// manager (checked before anything is revoked), `Store`, `Keys`.
    pub async fn revoke_everything(
        &self,
        by: &Actor,
        rotate_keys: bool,
    ) -> Result<RevokedAll, AdminError> {
        let manager = if rotate_keys {
            Some(self.keys()?)
        } else {
            None
        };
        let revoked = self
            .store
            .revoke_everything(self.clock.now_seconds())
            .await?;
        self.record(by, AuditEventType::RevokedAll, |e| e).await;
        let keys = match manager {
            Some(manager) => {
                let (created, revoked) = manager.replace_all().await?;
                for key in &created {
                    self.record(by, AuditEventType::KeyRotated, |e| {
                        e.subject(key.kid.clone())
                    })
                    .await;
                }
                for kid in &revoked {
                    self.record(by, AuditEventType::KeyRevoked, |e| e.subject(kid.clone()))
                        .await;
                }
                Some(ReplacedKeys { created, revoked })
            }
            None => None,
        };
        Ok(RevokedAll { revoked, keys })
    }
}
