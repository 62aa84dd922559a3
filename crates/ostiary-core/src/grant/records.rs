//! What the store keeps of an authorization: codes, grants (refresh token families),
//! refresh tokens and consents. Opaque values are kept only as SHA-256 hashes.

use time::OffsetDateTime;

use crate::client::{ClientId, Scope};
use crate::secret::SecretHash;
use crate::user::UserId;

/// An authorization code (RFC 6749 4.1.2), bound to everything its redemption must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: SecretHash,
    /// The grant its redemption creates; fixed now so a replay can always find and revoke it.
    pub grant_id: String,
    pub client_id: ClientId,
    pub user_id: UserId,
    /// The public id of the login session (`sid`).
    pub sid: String,
    pub redirect_uri: String,
    /// The S256 PKCE challenge (RFC 7636 4.2).
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub scopes: Vec<Scope>,
    /// RFC 8707 resources of the authorization request, already checked against the client.
    pub resources: Vec<String>,
    /// RFC 9449 10: the `dpop_jkt` of the authorization request; the code is redeemed only
    /// with a proof of that key.
    pub dpop_jkt: Option<String>,
    pub auth_time: OffsetDateTime,
    /// The login gave a second factor (the session's `mfa`): the ID token's `amr` says so.
    pub mfa: bool,
    pub expires_at: OffsetDateTime,
    /// Set once, by the one redemption that succeeded.
    pub consumed_at: Option<OffsetDateTime>,
}

/// One authorization of a client by a user: what a redeemed code created, and the family
/// every refresh token rotated from it belongs to (RFC 9700 4.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub grant_id: String,
    pub client_id: ClientId,
    pub user_id: UserId,
    /// The login session it was granted in.
    pub sid: String,
    /// `offline_access` was granted: the grant outlives the login session.
    pub offline: bool,
    pub scopes: Vec<Scope>,
    pub audiences: Vec<String>,
    pub auth_time: OffsetDateTime,
    /// The login gave a second factor: the `amr` of every ID token the grant issues.
    pub mfa: bool,
    pub created_at: OffsetDateTime,
    /// The access token issued with the code, revoked with the grant.
    pub access_jti: String,
    pub access_expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    /// RFC 9449 5: the DPoP key a public client's refresh tokens are bound to; every refresh
    /// must prove it.
    pub dpop_jkt: Option<String>,
}

/// A refresh token as first written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_hash: SecretHash,
    pub grant_id: String,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The access token issued alongside, revoked with the grant.
    pub access_jti: String,
    pub access_expires_at: OffsetDateTime,
}

/// A refresh token as read back, with what its rotation left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRefreshToken {
    pub token: RefreshToken,
    pub rotated_at: Option<OffsetDateTime>,
    /// The response of the rotation, sealed with a key only the presented token yields, so a
    /// retry inside the grace period gets the same answer. `None` once the successor the
    /// rotation issued has been used, or when the rotation named no successor the store
    /// still holds.
    pub rotation_answer: Option<Vec<u8>>,
}

/// An authorization code with its user's standing, read together: what its redemption needs
/// first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedCode {
    pub code: AuthorizationCode,
    /// The code's user is disabled (`ostiary user disable`): the code redeems nothing.
    pub user_disabled: bool,
}

/// A refresh token with its grant and its user's standing, read together: what every use of a
/// refresh token (rotation, introspection, revocation) needs first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFamily {
    pub token: StoredRefreshToken,
    pub grant: Grant,
    /// The grant's user is disabled (`ostiary user disable`): the family is unusable.
    pub user_disabled: bool,
}

/// What a user allowed a client: remembered so the consent page is shown only for new scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub user_id: UserId,
    pub client_id: ClientId,
    pub scopes: Vec<Scope>,
    pub granted_at: OffsetDateTime,
}

/// What `tokens revoke-all` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RevokedEverything {
    pub sessions: u64,
    pub codes: u64,
    pub grants: u64,
}
