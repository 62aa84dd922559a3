//! The backend-for-frontend's sessions: what it keeps per signed-in browser and the store
//! operations it needs. The BFF itself (HTTP, sealing, the upstream calls) is in the server.

use time::OffsetDateTime;

use crate::secret::SecretHash;

/// One browser's session at the BFF. The browser holds only the random session id; the
/// store holds its SHA-256 and the tokens, sealed by the BFF (AES-256-GCM, bound to the id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BffSession {
    /// SHA-256 of the session id in the cookie.
    pub id_hash: SecretHash,
    /// The ID token's `sub`, for back-channel logout by subject.
    pub sub: String,
    /// The ID token's `sid` (OpenID Connect Front-/Back-Channel Logout), when the server
    /// sent one: a logout token naming it ends this session.
    pub sid: Option<String>,
    /// The tokens, sealed; only the BFF opens them.
    pub sealed: Vec<u8>,
    /// Raised by every token update, so two updates of one session cannot both land.
    pub version: i64,
    /// Until when a caller holds the right to refresh (see `claim_bff_refresh`); others
    /// wait for its tokens instead of asking.
    pub refresh_claimed_until: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    /// The session ends here whatever happens (its absolute lifetime).
    pub expires_at: OffsetDateTime,
}

/// Storage of [`BffSession`]s.
#[async_trait::async_trait]
pub trait BffSessionStore: Send + Sync {
    /// Fails with `Conflict` when the id hash is taken.
    async fn insert_bff_session(&self, session: &BffSession) -> Result<(), crate::StoreError>;
    /// The session with this id hash, expired or not (the caller decides).
    async fn find_bff_session(
        &self,
        id_hash: &SecretHash,
    ) -> Result<Option<BffSession>, crate::StoreError>;
    /// Claims the right to refresh the session's tokens until `until`, if it is still at
    /// `version` and nobody holds an unexpired claim at `now`. True if claimed: one caller
    /// across every instance presents the refresh token, since presenting a rotated one twice
    /// revokes its whole family.
    async fn claim_bff_refresh(
        &self,
        id_hash: &SecretHash,
        version: i64,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, crate::StoreError>;
    /// Gives up a claim without changing the tokens (the refresh failed and may be retried).
    async fn release_bff_refresh(
        &self,
        id_hash: &SecretHash,
        version: i64,
    ) -> Result<(), crate::StoreError>;
    /// Stores new sealed tokens if the session is still at `version`, raises the version and
    /// drops any refresh claim. True if stored.
    async fn update_bff_session(
        &self,
        id_hash: &SecretHash,
        version: i64,
        sealed: &[u8],
    ) -> Result<bool, crate::StoreError>;
    /// Ends one session. True if it existed.
    async fn delete_bff_session(&self, id_hash: &SecretHash) -> Result<bool, crate::StoreError>;
    /// Ends every session of an upstream session (`sid`); how many.
    async fn delete_bff_sessions_by_sid(&self, sid: &str) -> Result<u64, crate::StoreError>;
    /// Ends every session of a subject; how many.
    async fn delete_bff_sessions_by_sub(&self, sub: &str) -> Result<u64, crate::StoreError>;
    /// Drops sessions that ended before `now`; how many.
    async fn purge_expired_bff_sessions(
        &self,
        now: OffsetDateTime,
    ) -> Result<u64, crate::StoreError>;
}
