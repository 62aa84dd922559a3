//! Users: creating, listing, disabling and enabling accounts, setting passwords, and the
//! consents they gave.

use crate::Clock;
use crate::audit::AuditEventType;
use crate::client::ClientId;
use crate::error::AdminError;
use crate::grant::{Consent, RevocationReason};
use crate::password::{Password, PasswordHasher};
use crate::session::Session;
use crate::store::{Store, StoreError, UserStore};
use crate::user::{Email, User, UserId, Username};
use crate::validation::InvalidInput;

use super::{Actor, Admin};

/// The most sessions [`Admin::list_sessions`] lists: a user signed in on more devices than
/// this is a case for `disable`, not for reading.
const MAX_LISTED_SESSIONS: u32 = 1000;

/// A new account as an operator asks for it: the password already through its policy.
#[derive(Debug)]
pub struct CreateUser {
    pub username: Username,
    pub email: Option<Email>,
    pub password: Password,
}

impl Admin {
    /// Creates an account (`user.created`, with the user id as subject). Hashing is
    /// deliberately slow (Argon2id): keep this off the async executor's hot path.
    ///
    /// Errors: `Unavailable` when built without a hasher, `Invalid` for a taken username,
    /// `Store`.
    pub async fn create_user(&self, by: &Actor, request: CreateUser) -> Result<User, AdminError> {
        let CreateUser {
            username,
            email,
            password,
        } = request;
        let user = create_user(
            &*self.store,
            self.hasher()?,
            &*self.clock,
            username,
            email,
            password,
        )
        .await?;
        self.record(by, AuditEventType::UserCreated, |e| {
            e.subject(user.id.to_string())
        })
        .await;
        Ok(user)
    }

    /// Disables an account (`user.disabled`): it can no longer log in, its sessions end and
    /// its grants (refresh tokens, with the access tokens issued under them) are revoked at
    /// once. Returns the user as it now is.
    ///
    /// Errors: `NotFound` for an unknown username, `Store`.
    pub async fn disable_user(&self, by: &Actor, username: &Username) -> Result<User, AdminError> {
        let user = disable_user(&*self.store, &*self.clock, username).await?;
        self.record(by, AuditEventType::UserDisabled, |e| {
            e.subject(user.id.to_string())
        })
        .await;
        Ok(user)
    }

    /// Enables a disabled account again (`user.enabled`): it may log in; its ended sessions
    /// and revoked grants stay ended. Returns the user as it now is.
    ///
    /// Errors: `NotFound` for an unknown username, `Store`.
    pub async fn enable_user(&self, by: &Actor, username: &Username) -> Result<User, AdminError> {
        let mut user = self.find_user(username).await?;
        if !self.store.set_user_disabled(&user.id, false).await? {
            return Err(not_found(username));
        }
        user.disabled = false;
        self.record(by, AuditEventType::UserEnabled, |e| {
            e.subject(user.id.to_string())
        })
        .await;
        Ok(user)
    }

    /// Sets a user's password (`user.password_set`) and ends what the old one opened: the
    /// user's sessions end and their grants (refresh tokens, with the access tokens issued
    /// under them) are revoked, as after a compromise. Hashing is deliberately slow.
    ///
    /// Errors: `Unavailable` when built without a hasher, `Invalid` for a password that
    /// cannot be hashed, `NotFound` for an unknown username, `Store`.
    pub async fn set_password(
        &self,
        by: &Actor,
        username: &Username,
        password: Password,
    ) -> Result<User, AdminError> {
        let mut user = self.find_user(username).await?;
        user.password_hash = hash(self.hasher()?, &password)?;
        if !self
            .store
            .set_user_password(&user.id, &user.password_hash)
            .await?
        {
            return Err(not_found(username));
        }
        end_sessions_and_grants(
            &*self.store,
            &*self.clock,
            &user.id,
            RevocationReason::PasswordSet,
        )
        .await?;
        self.record(by, AuditEventType::UserPasswordSet, |e| {
            e.subject(user.id.to_string())
        })
        .await;
        Ok(user)
    }

    /// Users by username, at most `limit` after `after` (reading records nothing).
    ///
    /// Errors: `Store`.
    pub async fn list_users(
        &self,
        after: Option<&Username>,
        limit: u32,
    ) -> Result<Vec<User>, AdminError> {
        Ok(self.store.list_users(after, limit).await?)
    }

    /// One user (reading records nothing).
    ///
    /// Errors: `NotFound` for an unknown username, `Store`.
    pub async fn show_user(&self, username: &Username) -> Result<User, AdminError> {
        self.find_user(username).await
    }

    /// A user and the consents they gave, ordered by client id (reading records nothing).
    ///
    /// Errors: `NotFound` for an unknown username, `Store`.
    pub async fn list_consents(
        &self,
        username: &Username,
    ) -> Result<(User, Vec<Consent>), AdminError> {
        let user = self.find_user(username).await?;
        let consents = self.store.list_consents(&user.id).await?;
        Ok((user, consents))
    }

    /// A user and their sessions within their absolute lifetime, newest login first, at
    /// most `MAX_LISTED_SESSIONS`, 1000 (reading records nothing).
    ///
    /// Errors: `NotFound` for an unknown username, `Store`.
    pub async fn list_sessions(
        &self,
        username: &Username,
    ) -> Result<(User, Vec<Session>), AdminError> {
        let user = self.find_user(username).await?;
        let sessions = self
            .store
            .list_user_sessions(&user.id, self.clock.now_seconds(), MAX_LISTED_SESSIONS)
            .await?;
        Ok((user, sessions))
    }

    /// Withdraws what a user allowed a client and revokes the grants that client holds for the
    /// user (`consent.revoked`, with the user id as subject and the client). Returns the user.
    ///
    /// Errors: `NotFound` for an unknown username, or when the user had no consent for the
    /// client (its grants are revoked all the same), `Store`.
    pub async fn revoke_consent(
        &self,
        by: &Actor,
        username: &Username,
        client: &ClientId,
    ) -> Result<User, AdminError> {
        let user = self.find_user(username).await?;
        if !revoke_consent(&*self.store, &*self.clock, &user.id, client).await? {
            return Err(AdminError::NotFound(format!(
                "user {} has no consent for client {client}",
                username.as_str()
            )));
        }
        self.record(by, AuditEventType::ConsentRevoked, |e| {
            e.subject(user.id.to_string()).client(client.as_str())
        })
        .await;
        Ok(user)
    }

    pub(super) async fn find_user(&self, username: &Username) -> Result<User, AdminError> {
        self.store
            .find_user_by_username(username)
            .await?
            .ok_or_else(|| not_found(username))
    }
}

fn not_found(username: &Username) -> AdminError {
    AdminError::NotFound(format!("user {} not found", username.as_str()))
}

fn hash(
    hasher: &PasswordHasher,
    password: &Password,
) -> Result<crate::password::PasswordHash, AdminError> {
    hasher.hash(password).map_err(|e| {
        AdminError::Invalid(InvalidInput::new(
            "password",
            format!("could not be hashed: {e}"),
        ))
    })
}

/// Ends what the user's credentials opened: sessions, unredeemed codes, approved device
/// authorizations, and grants (refresh tokens and the access tokens issued under them).
async fn end_sessions_and_grants(
    store: &dyn Store,
    clock: &dyn Clock,
    user_id: &UserId,
    reason: RevocationReason,
) -> Result<(), AdminError> {
    store
        .end_user_access(user_id, clock.now_seconds(), reason)
        .await?;
    Ok(())
}

/// Creates an account, recording no event: the step under [`Admin::create_user`], which test
/// fixtures also use to seed users. Hashing is deliberately slow: run this off the async
/// executor's hot path.
///
/// Errors: `Invalid` for a password that cannot be hashed or a taken username, `Store`.
pub async fn create_user(
    store: &dyn UserStore,
    hasher: &PasswordHasher,
    clock: &dyn Clock,
    username: Username,
    email: Option<Email>,
    password: Password,
) -> Result<User, AdminError> {
    let password_hash = hash(hasher, &password)?;
    let user = User {
        id: UserId::generate(),
        username,
        email,
        password_hash,
        disabled: false,
        created_at: clock.now_seconds(),
    };
    store.insert_user(&user).await.map_err(|e| match e {
        StoreError::Conflict(_) => AdminError::Invalid(InvalidInput::new(
            "username",
            format!("{} is already taken", user.username.as_str()),
        )),
        other => other.into(),
    })?;
    Ok(user)
}

/// Disables an account, ends its sessions and revokes its grants, recording no event: the
/// step under [`Admin::disable_user`].
///
/// Errors: `NotFound` for an unknown username, `Store`.
pub async fn disable_user(
    store: &dyn Store,
    clock: &dyn Clock,
    username: &Username,
) -> Result<User, AdminError> {
    let mut user = store
        .find_user_by_username(username)
        .await?
        .ok_or_else(|| not_found(username))?;
    if !store.set_user_disabled(&user.id, true).await? {
        return Err(not_found(username));
    }
    end_sessions_and_grants(store, clock, &user.id, RevocationReason::UserDisabled).await?;
    user.disabled = true;
    Ok(user)
}

/// Forgets what a user allowed a client and revokes the grants that client holds for the
/// user. True if there was a consent.
async fn revoke_consent(
    store: &dyn Store,
    clock: &dyn Clock,
    user: &UserId,
    client: &ClientId,
) -> Result<bool, StoreError> {
    let existed = store.delete_consent(user, client).await?;
    store
        .revoke_user_grants(
            user,
            Some(client),
            clock.now_seconds(),
            RevocationReason::ConsentWithdrawn,
        )
        .await?;
    Ok(existed)
}
