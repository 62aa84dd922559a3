//! Storage traits. The server holds one `Arc<dyn Store>`; ostiary-store implements it for
//! SQLite and PostgreSQL.

use std::fmt::Debug;

use async_trait::async_trait;

use time::OffsetDateTime;

use crate::audit::{AuditEvent, AuditQuery, JournalMark};
use crate::authorize::PushedRequest;
use crate::changes::{ChangeFeed, FailureCountStore};
use crate::client::{Client, ClientId};
use crate::device::{DeviceAuthorization, DeviceStatus};
use crate::grant::{
    AuthorizationCode, Consent, Grant, PresentedCode, RefreshFamily, RefreshToken,
    RevocationReason, RevokedEverything, StoredRefreshToken,
};
use crate::interaction::record::StoredInteraction;
use crate::keys::StoredKey;
use crate::mfa::StoredTotp;
use crate::registration::RegistrationToken;
use crate::secret::SecretHash;
use crate::session::{PresentedSession, Session};
use crate::user::{User, UserId, Username};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key already exists (names the kind of record).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A stored value no longer parses into its domain type.
    #[error("stored {0} is invalid")]
    Corrupt(&'static str),
    /// The database refused a value as invalid (a data exception, such as a NUL in text):
    /// the request is at fault and retrying cannot help. The cause is for logs only.
    #[error("the database refused a value")]
    Unstorable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database failed; the cause is for logs only.
    #[error("database error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Fails with `Conflict` when the client id is taken.
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError>;
    async fn find_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;
    /// All clients, ordered by id.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// True if a client was deleted.
    async fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError>;
    /// Stores a client's settings: name, grant types, redirect and post-logout URIs, scopes,
    /// audiences, consent, lifetime, ID token algorithm, DPoP and PAR requirements (not its
    /// id, authentication method, keys or secrets). With `narrowed_at`, the same transaction
    /// voids the client's unredeemed codes and approved device requests and revokes its
    /// grants (reason `client_narrowed`). True if the client exists.
    async fn update_client_settings(
        &self,
        client: &Client,
        narrowed_at: Option<OffsetDateTime>,
    ) -> Result<bool, StoreError>;
    /// Gives a client that authenticates with a secret this one; with `keep_previous_until`
    /// the secret it had stays valid until then, otherwise no earlier secret does. True if
    /// the client exists and has a secret method.
    async fn update_client_secret(
        &self,
        id: &ClientId,
        hash: &SecretHash,
        keep_previous_until: Option<OffsetDateTime>,
    ) -> Result<bool, StoreError>;
}

/// Clients described by client ID metadata documents (their id is the document's URL): when
/// each stored copy was fetched and until when it is used, shared by every instance.
#[async_trait]
pub trait DocumentClientStore: Send + Sync {
    /// Stores a client with the times of its document's fetch, in one transaction. Fails
    /// with `Conflict` when the client id is taken.
    async fn insert_document_client(
        &self,
        client: &Client,
        fetched_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Until when the stored copy of the client's document is used; `None` for an unknown
    /// client or one not from a document.
    async fn document_expires_at(
        &self,
        id: &ClientId,
    ) -> Result<Option<OffsetDateTime>, StoreError>;
    /// Records a new fetch of an existing client's document; false when the client is gone.
    async fn record_document_fetch(
        &self,
        id: &ClientId,
        fetched_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// Dynamic client registration (RFC 7591, RFC 7592): the operator's initial access tokens
/// and the registration access tokens of the clients that registered themselves (both as
/// SHA-256 hashes only).
#[async_trait]
pub trait RegistrationStore: Send + Sync {
    /// Fails with `Conflict` when the token id or hash is taken.
    async fn insert_registration_token(&self, token: &RegistrationToken) -> Result<(), StoreError>;
    /// Every initial access token not yet purged (spent and expired ones too), oldest first.
    async fn list_registration_tokens(&self) -> Result<Vec<RegistrationToken>, StoreError>;
    /// True if a token was deleted.
    async fn delete_registration_token(&self, token_id: &str) -> Result<bool, StoreError>;
    /// The initial access token with this hash, usable or not.
    async fn find_registration_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<RegistrationToken>, StoreError>;
    /// Stores a client that registered itself, with the hash of its registration access
    /// token, in one transaction that, with `spending`, also counts one use of that initial
    /// access token (by id). False, and nothing written, when that token can no longer be
    /// used at `now` (expired, spent or revoked meanwhile). `Conflict` when the client id is
    /// taken.
    async fn insert_registered_client(
        &self,
        client: &Client,
        access_token_hash: &SecretHash,
        spending: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// The hash of a self-registered client's registration access token; `None` for an
    /// unknown client or one an operator registered.
    async fn find_registration_access_token(
        &self,
        client_id: &ClientId,
    ) -> Result<Option<SecretHash>, StoreError>;
    /// Drops initial access tokens that expired before `now`; returns how many.
    async fn purge_expired_registration_tokens(
        &self,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Fails with `Conflict` when the username is taken.
    async fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    async fn find_user(&self, id: &UserId) -> Result<Option<User>, StoreError>;
    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError>;
    /// True if the user exists.
    async fn set_user_disabled(&self, id: &UserId, disabled: bool) -> Result<bool, StoreError>;
    /// Replaces a user's password hash; true if the user exists.
    async fn set_user_password(
        &self,
        id: &UserId,
        password_hash: &crate::password::PasswordHash,
    ) -> Result<bool, StoreError>;
    /// Every user, by username, at most `limit` after the username `after` (a page).
    async fn list_users(
        &self,
        after: Option<&Username>,
        limit: u32,
    ) -> Result<Vec<User>, StoreError>;
}

/// Users' second factors (`mfa`): one TOTP key per user, sealed by core.
#[async_trait]
pub trait SecondFactorStore: Send + Sync {
    /// Stores a user's factor; false, and nothing changed, when the user already has one.
    async fn insert_totp(&self, totp: &StoredTotp) -> Result<bool, StoreError>;
    async fn find_totp(&self, user_id: &UserId) -> Result<Option<StoredTotp>, StoreError>;
    /// Every factor, for re-sealing under a new root secret.
    async fn list_totp(&self) -> Result<Vec<StoredTotp>, StoreError>;
    /// Removes a user's factor; true if there was one.
    async fn delete_totp(&self, user_id: &UserId) -> Result<bool, StoreError>;
    /// Accepts a code of time step `step` for the user: true, and `last_step` set to it,
    /// only if the user's factor's `last_step` was earlier (one statement: of two instances
    /// racing with one code, one wins).
    async fn use_totp_step(&self, user_id: &UserId, step: i64) -> Result<bool, StoreError>;
    /// Replaces the sealed key of a user's factor if it is still `old` (a compare-and-swap:
    /// a factor reset or re-enrolled meanwhile is left alone); true if replaced.
    async fn reseal_totp(
        &self,
        user_id: &UserId,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every signing key in every state, oldest first.
    async fn list_signing_keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Makes `key` the active key of its algorithm. With `replacing`, that key (which must
    /// still be the active one) is retired in the same transaction and stays published until
    /// `publish_until`. `Conflict` when another process changed the active key first.
    async fn activate_signing_key(
        &self,
        key: &StoredKey,
        replacing: Option<&str>,
        publish_until: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Revokes a key at once and erases its private part. True if the key existed.
    async fn revoke_signing_key(&self, kid: &str, at: OffsetDateTime) -> Result<bool, StoreError>;
    /// Replaces a key's sealed private part `sealed` with `resealed` (the same key under
    /// another root secret), if it is still `sealed`: false, and nothing changed, when another
    /// process re-sealed or erased it first. The first sealing so replaced is kept as
    /// `previous_sealed_private_key` until [`KeyStore::finish_resealing`].
    async fn reseal_signing_key(
        &self,
        kid: &str,
        sealed: &[u8],
        resealed: &[u8],
    ) -> Result<bool, StoreError>;
    /// Forgets a key's previous sealing (the change of root secret is over for it). True if
    /// there was one.
    async fn finish_resealing(&self, kid: &str) -> Result<bool, StoreError>;
    /// Erases the private part (both sealings) of every retired key no longer published at
    /// `now`: it will never sign again. How many were erased. Revoking erases both too.
    async fn erase_unpublished_private_keys(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Records a revoked access token until it would have expired anyway (idempotent),
    /// counted as revoked at the client's request.
    async fn revoke_access_token(
        &self,
        jti: &str,
        client_id: &ClientId,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Whether the access token with this `jti`, issued at `iat` (Unix seconds), is revoked:
    /// one by one, or by the cut-off of `revoke_everything` (every token issued at or before
    /// it). One statement, whichever answers; a backend may give the answer it read last for
    /// the same `jti` and `iat` when it knows that nothing was committed since (SQLite).
    async fn is_access_token_revoked(&self, jti: &str, iat: i64) -> Result<bool, StoreError>;
    /// Running totals of revocations by reason, over every process sharing the database.
    async fn revocation_counts(&self) -> Result<Vec<(RevocationReason, u64)>, StoreError>;
    /// Drops revocations of tokens that have expired; returns how many.
    async fn purge_expired_revocations(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// The audit trail is append-only: there is no way to change an event here, and the only
/// removal is of events past the retention period.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends events in one transaction: all or none. With `copied`, the same transaction
    /// moves the mark of the audit journal segment they were read from, from `copied.from`
    /// to `copied.copied`, so a replay after a crash neither skips nor repeats an event.
    /// Errors: `Conflict` (nothing written) when the store's mark is not at `copied.from`.
    async fn append_audit_events(
        &self,
        events: &[AuditEvent],
        copied: Option<&JournalMark>,
    ) -> Result<(), StoreError>;
    /// The identity of this database for the audit journal: `candidate` (random, from the
    /// caller) if it has none yet, else the one it has.
    async fn audit_journal_database(&self, candidate: &str) -> Result<String, StoreError>;
    /// How many bytes of the journal segment `segment` are in the trail (0 when none).
    async fn audit_journal_copied(&self, segment: &str) -> Result<u64, StoreError>;
    /// Drops the record of a journal segment that was copied whole and deleted.
    async fn forget_audit_journal(&self, segment: &str) -> Result<(), StoreError>;
    /// The newest `query.limit` matching events, oldest first, each with its id (ids grow
    /// with each append; `query.before` pages back from an earlier page's first id).
    async fn list_audit_events(
        &self,
        query: &AuditQuery,
    ) -> Result<Vec<(i64, AuditEvent)>, StoreError>;
    /// The id of the newest event, 0 when there is none: where a follower starts.
    async fn latest_audit_id(&self) -> Result<i64, StoreError>;
    /// Every event with an id above `after`, oldest first, at most `limit`, each with its id
    /// (ids grow with each append): the cursor of `audit list --follow`.
    async fn audit_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, AuditEvent)>, StoreError>;
    /// Deletes up to `limit` of the oldest events recorded before `before` (retention), in
    /// one short statement; how many.
    async fn purge_audit_events(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError>;
    /// The session `id_hash`, expired or not: [`find_presented_session`](Self::find_presented_session)
    /// without the user's standing.
    async fn find_session(&self, id_hash: &SecretHash) -> Result<Option<Session>, StoreError> {
        Ok(self
            .find_presented_session(id_hash)
            .await?
            .map(|p| p.session))
    }
    /// The session `id_hash` with its user's standing, in one read, expired or not; `None`
    /// when no such session is stored.
    async fn find_presented_session(
        &self,
        id_hash: &SecretHash,
    ) -> Result<Option<PresentedSession>, StoreError>;
    /// Records use of the session (for its idle lifetime).
    async fn touch_session(
        &self,
        id_hash: &SecretHash,
        last_seen: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Ends a session; the ended session if it existed.
    async fn delete_session(&self, id_hash: &SecretHash) -> Result<Option<Session>, StoreError>;
    /// A user's sessions within their absolute lifetime (`expires_at > now`), newest login
    /// first, at most `limit`: what an operator sees of where the user is signed in. Idle
    /// expiry is the core's decision, so sessions idle too long are listed too.
    async fn list_user_sessions(
        &self,
        user_id: &UserId,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Session>, StoreError>;
    /// Sessions within their absolute lifetime (`expires_at > now`) and used since
    /// `seen_since`: the live sessions, for metrics.
    async fn count_live_sessions(
        &self,
        now: OffsetDateTime,
        seen_since: OffsetDateTime,
    ) -> Result<u64, StoreError>;
    /// Drops sessions past their absolute lifetime, with their unredeemed codes and device
    /// approvals and (as `revoke_grant` does) their grants that are not offline; how many
    /// sessions.
    async fn purge_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Authorization codes, grants (refresh token families), refresh tokens and consents.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores a new code while its login session (`code.sid`) is stored, in a transaction
    /// which other codes issued at once may share. False, and nothing stored, when the
    /// session is gone: a logout committed since the session was read, which voided the
    /// session's codes before this one existed. Errors: `Conflict` when its hash is taken.
    async fn insert_code(&self, code: &AuthorizationCode) -> Result<bool, StoreError>;
    /// The code `code_hash`: [`find_presented_code`](Self::find_presented_code) without the
    /// user's standing.
    async fn find_code(
        &self,
        code_hash: &SecretHash,
    ) -> Result<Option<AuthorizationCode>, StoreError> {
        Ok(self.find_presented_code(code_hash).await?.map(|p| p.code))
    }
    /// The code `code_hash` with its user's standing, in one read; `None` when no such code
    /// is stored.
    async fn find_presented_code(
        &self,
        code_hash: &SecretHash,
    ) -> Result<Option<PresentedCode>, StoreError>;
    /// Redeems a code: marks it consumed and inserts `grant` (whose id is the code's
    /// `grant_id`), with `refresh` when one is issued, all in one transaction (which other
    /// redemptions may share). False, and nothing written, when the code was already consumed
    /// (by this or another instance) or is unknown.
    async fn redeem_code(
        &self,
        code_hash: &SecretHash,
        at: OffsetDateTime,
        grant: &Grant,
        refresh: Option<&RefreshToken>,
    ) -> Result<bool, StoreError>;
    async fn find_grant(&self, grant_id: &str) -> Result<Option<Grant>, StoreError>;
    /// Whether `user_id` still holds a live (unrevoked) grant of `client_id` from the login
    /// session `sid`: what an ID token of that session stands for, once logout, revocation,
    /// a replay or revoke-all has revoked it.
    async fn has_live_grant(
        &self,
        client_id: &ClientId,
        user_id: &UserId,
        sid: &str,
    ) -> Result<bool, StoreError>;
    /// Binds an unbound grant to the DPoP key `jkt` (RFC 9449 5: a public client's refresh
    /// tokens). False, and nothing changed, when the grant is already bound or gone.
    async fn bind_grant_key(&self, grant_id: &str, jkt: &str) -> Result<bool, StoreError>;
    /// The refresh token `token_hash`: [`find_refresh_family`](Self::find_refresh_family)
    /// without its grant and user.
    async fn find_refresh_token(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<StoredRefreshToken>, StoreError> {
        Ok(self.find_refresh_family(token_hash).await?.map(|f| f.token))
    }
    /// The refresh token `token_hash` with its grant and its user's standing, in one read;
    /// `None` when no such token is stored.
    async fn find_refresh_family(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<RefreshFamily>, StoreError>;
    /// Rotates `old` into `new` in one transaction (which other rotations may share), naming
    /// `new` as the successor of `old` and keeping `answer` on the successor's row. The
    /// answer is read back, for `old`, only while that successor is unused: presenting `new` proves the rotation was received, so the grace of `old` is
    /// over (RFC 9700 4.14.2). False, and nothing written, when `old` was already rotated or
    /// its grant is revoked.
    async fn rotate_refresh_token(
        &self,
        old: &SecretHash,
        at: OffsetDateTime,
        answer: &[u8],
        new: &RefreshToken,
    ) -> Result<bool, StoreError>;
    /// Revokes a grant and, in the same transaction, every unexpired access token issued
    /// under it (they join the revoked access tokens), counted under `reason`. True if it
    /// was live.
    async fn revoke_grant(
        &self,
        grant_id: &str,
        at: OffsetDateTime,
        reason: RevocationReason,
    ) -> Result<bool, StoreError>;
    /// Revokes, as `revoke_grant` does (reason `Logout`), the live grants of a session that
    /// are not offline, and deletes the session's unredeemed codes and approved device
    /// authorizations.
    async fn revoke_session_grants(&self, sid: &str, at: OffsetDateTime)
    -> Result<u64, StoreError>;
    /// Revokes, as `revoke_grant` does, every live grant of a user, or of a user and one client.
    async fn revoke_user_grants(
        &self,
        user_id: &UserId,
        client_id: Option<&ClientId>,
        at: OffsetDateTime,
        reason: RevocationReason,
    ) -> Result<u64, StoreError>;
    /// Ends everything a user's credentials opened, in one transaction (a disabled account, a
    /// password an operator replaced): the user's sessions, unredeemed codes and approved
    /// device authorizations are deleted and every live grant of the user, offline ones too,
    /// revoked as `revoke_grant` does, counted under `reason`. Returns the grants revoked.
    async fn end_user_access(
        &self,
        user_id: &UserId,
        at: OffsetDateTime,
        reason: RevocationReason,
    ) -> Result<u64, StoreError>;
    /// Incident response, in one transaction: every session, every unredeemed code and every
    /// unredeemed device authorization (counted as codes) is deleted, every live grant
    /// revoked as `revoke_grant` does, and every access token issued at or before `at` is
    /// revoked by the cut-off (`is_access_token_revoked`).
    async fn revoke_everything(&self, at: OffsetDateTime) -> Result<RevokedEverything, StoreError>;
    /// Drops codes, device authorizations and refresh tokens that expired before `before`,
    /// and grants left with neither a code nor a refresh token; how many rows in all.
    async fn purge_expired_grants(&self, before: OffsetDateTime) -> Result<u64, StoreError>;

    async fn find_consent(
        &self,
        user_id: &UserId,
        client_id: &ClientId,
    ) -> Result<Option<Consent>, StoreError>;
    /// Inserts or replaces the consent of this user for this client.
    async fn save_consent(&self, consent: &Consent) -> Result<(), StoreError>;
    /// True if there was one.
    async fn delete_consent(
        &self,
        user_id: &UserId,
        client_id: &ClientId,
    ) -> Result<bool, StoreError>;
    /// A user's consents, ordered by client id.
    async fn list_consents(&self, user_id: &UserId) -> Result<Vec<Consent>, StoreError>;
}

/// Browser interactions in progress (sign-in and consent), each stored until it finishes or
/// expires.
#[async_trait]
pub trait InteractionStore: Send + Sync {
    async fn insert_interaction(&self, interaction: &StoredInteraction) -> Result<(), StoreError>;
    /// The interaction with this id hash, expired or not (core decides what expiry means).
    async fn find_interaction(
        &self,
        id_hash: &SecretHash,
    ) -> Result<Option<StoredInteraction>, StoreError>;
    /// Replaces the state of an interaction that still exists; false if it does not.
    async fn update_interaction(&self, interaction: &StoredInteraction)
    -> Result<bool, StoreError>;
    /// Removes an interaction; true for the one caller that removed it, so a form posted
    /// twice finishes once.
    async fn delete_interaction(&self, id_hash: &SecretHash) -> Result<bool, StoreError>;
    /// Drops interactions that expired before `now`; how many.
    async fn purge_expired_interactions(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// The key under which `ReplayStore` remembers a one-time value: the SHA-256 of what it is
/// (`purpose`, e.g. `dpop_proof`), what it is bound to (a client id, a key thumbprint) and the
/// value itself, so values of different kinds or issuers never collide.
pub fn one_time_key(purpose: &str, bound_to: &str, value: &str) -> SecretHash {
    SecretHash::of(&format!("{purpose}\0{bound_to}\0{value}"))
}

/// One-time values (the `jti` of client assertions and DPoP proofs) remembered for as long as
/// they could be accepted, so a replay is refused by every instance sharing the database.
#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// Records `key` (the SHA-256 of the value and what it is bound to) until `expires_at`.
    /// True for its first use; false, and nothing changed, when it is already recorded and
    /// not yet expired at `now`: a replay.
    async fn use_once(
        &self,
        key: &SecretHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Drops values that expired before `now`; how many.
    async fn purge_expired_replay_keys(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Pushed authorization requests (RFC 9126), each used at most once.
#[async_trait]
pub trait PushedRequestStore: Send + Sync {
    async fn insert_pushed_request(&self, request: &PushedRequest) -> Result<(), StoreError>;
    /// Removes and returns the request with this id hash if `client_id` pushed it (expired
    /// or not: core decides); `None`, and nothing removed, otherwise. One caller gets it.
    async fn take_pushed_request(
        &self,
        id_hash: &SecretHash,
        client_id: &ClientId,
    ) -> Result<Option<PushedRequest>, StoreError>;
    /// Drops requests that expired before `now`; how many.
    async fn purge_expired_pushed_requests(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Device authorizations (RFC 8628), found by the hash of either code. Expired ones are
/// purged with the expired codes (`GrantStore::purge_expired_grants`); `revoke_everything`,
/// `revoke_session_grants` and `purge_expired_sessions` void the unredeemed ones as they do
/// codes.
#[async_trait]
pub trait DeviceAuthorizationStore: Send + Sync {
    /// Fails with `Conflict` when the user code's hash is already stored.
    async fn insert_device_authorization(
        &self,
        device: &DeviceAuthorization,
    ) -> Result<(), StoreError>;
    /// The authorization with this device code hash, in any status, expired or not.
    async fn find_device_authorization(
        &self,
        device_code_hash: &SecretHash,
    ) -> Result<Option<DeviceAuthorization>, StoreError>;
    /// The authorization with this user code hash, in any status, expired or not.
    async fn find_device_authorization_by_user_code(
        &self,
        user_code_hash: &SecretHash,
    ) -> Result<Option<DeviceAuthorization>, StoreError>;
    /// Records a poll at `at` with the interval `interval_secs` from now on, if the last
    /// recorded poll is still `seen` (compare-and-set). False, and nothing changed, when
    /// another poll was recorded in between, or the authorization is gone.
    async fn record_device_poll(
        &self,
        device_code_hash: &SecretHash,
        seen: Option<OffsetDateTime>,
        at: OffsetDateTime,
        interval_secs: i64,
    ) -> Result<bool, StoreError>;
    /// Moves a pending authorization that has not expired at `at` to `status` (approved or
    /// denied). False, and nothing changed, when it is not pending any more, expired or gone,
    /// or when an approval's session (`sid`) is no longer stored: a logout that ended it first
    /// would otherwise leave behind an approval that outlives it.
    async fn settle_device_authorization(
        &self,
        device_code_hash: &SecretHash,
        status: &DeviceStatus,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Redeems an approved authorization: marks it redeemed and inserts `grant`, with
    /// `refresh` when one is issued, in one transaction. False, and nothing written, when it
    /// is not approved (already redeemed by this or another instance, or voided).
    async fn redeem_device_code(
        &self,
        device_code_hash: &SecretHash,
        grant: &Grant,
        refresh: Option<&RefreshToken>,
    ) -> Result<bool, StoreError>;
}

/// Connection pool occupancy, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// Everything the server persists.
#[async_trait]
pub trait Store:
    ClientStore
    + UserStore
    + SecondFactorStore
    + KeyStore
    + TokenStore
    + AuditStore
    + SessionStore
    + GrantStore
    + InteractionStore
    + ReplayStore
    + PushedRequestStore
    + DeviceAuthorizationStore
    + RegistrationStore
    + DocumentClientStore
    + crate::bff::BffSessionStore
    + Debug
{
    /// Readiness: the database answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;

    fn pool_stats(&self) -> PoolStats;

    /// The changes other instances and the CLI make, where the backend can announce them
    /// (PostgreSQL); `None` where it cannot (SQLite serves one instance). Connects on first
    /// use.
    fn change_feed(&self) -> Option<Box<dyn ChangeFeed>> {
        None
    }

    /// Whether `change_feed` offers a feed (without making one).
    fn announces_changes(&self) -> bool {
        false
    }

    /// How many instances serve from this database now: those listening for its change
    /// announcements (PostgreSQL); 1 where only one can (SQLite). At least 1.
    async fn live_instances(&self) -> Result<u32, StoreError> {
        Ok(1)
    }

    /// Failed-authentication counters shared by every instance, where several instances may
    /// share the database (PostgreSQL); `None` where limits are kept in memory (SQLite).
    fn shared_failures(&self) -> Option<&dyn FailureCountStore> {
        None
    }
}
