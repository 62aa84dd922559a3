//! Storage traits. The server holds one `Arc<dyn Store>`; ostiary-store implements it for
//! SQLite and PostgreSQL.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::client::{Client, ClientId};
use crate::secret::SecretHash;
use crate::user::{User, UserId, Username};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key already exists (names the kind of record).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A stored value no longer parses into its domain type.
    #[error("stored {0} is invalid")]
    Corrupt(&'static str),
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
    /// True if the client exists (and now has this secret).
    async fn update_client_secret(
        &self,
        id: &ClientId,
        hash: &SecretHash,
    ) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Fails with `Conflict` when the username is taken.
    async fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    async fn find_user(&self, id: &UserId) -> Result<Option<User>, StoreError>;
    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError>;
    /// True if the user exists.
    async fn set_user_disabled(&self, id: &UserId, disabled: bool) -> Result<bool, StoreError>;
}

/// Everything the server persists.
#[async_trait]
pub trait Store: ClientStore + UserStore + Debug {
    /// Readiness: the database answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;
}
