//! Signing keys: their stored form, management (rotate, revoke, ensure one is active) and the
//! in-memory key ring every instance refreshes from the shared database.

mod manager;
mod ring;
mod verified;

pub use manager::{KeyManager, KeyManagerError, Resealed};
pub use ring::{ActiveKey, KeyRing, KeySnapshot};

use ostiary_jwt::{Algorithm, Jwk};
use time::OffsetDateTime;

/// active: signs and verifies. retired: verifies and stays published until every token it
/// signed has expired. revoked: gone at once (incident response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Active,
    Retired,
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Retired, Self::Revoked]
            .into_iter()
            .find(|state| state.as_str() == s)
    }
}

/// A key as the database holds it: the private part sealed (AES-256-GCM) under the root
/// secret, the public part as a JWK.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    pub alg: Algorithm,
    pub state: KeyState,
    /// Empty once revoked.
    pub sealed_private_key: Vec<u8>,
    /// The sealing from before a change of the root secret began, kept until the change is
    /// finished (see [`KeyManager::reseal`]); empty otherwise.
    pub previous_sealed_private_key: Vec<u8>,
    pub public_jwk: Jwk,
    pub created_at: OffsetDateTime,
    pub retired_at: Option<OffsetDateTime>,
    pub publish_until: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("publish_until", &self.publish_until)
            .finish_non_exhaustive()
    }
}

impl StoredKey {
    /// Published and trusted for verification at `now`.
    pub fn verifies_at(&self, now: OffsetDateTime) -> bool {
        match self.state {
            KeyState::Active => true,
            KeyState::Retired => self.publish_until.is_some_and(|until| until > now),
            KeyState::Revoked => false,
        }
    }

    /// The authenticated context its private part is sealed under: it cannot move rows.
    pub fn sealing_context(kid: &str, alg: Algorithm) -> Vec<u8> {
        format!("{kid}|{alg}").into_bytes()
    }
}
