//! The Admin service: every administrative operation (clients, users, keys, incident
//! response) as one typed call that records its own audit event.
//!
//! Front ends (the `ostiary` CLI today; an admin API and dynamic registration later) parse
//! their input into the types of this crate, say who acts with an [`Actor`], call one
//! operation and render its result. None of them writes an audit event itself, so an
//! operation is audited the same way whichever front end asked for it.

mod client_update;
mod clients;
mod documents;
mod keys;
mod mfa;
mod registrations;
mod tokens;
mod users;

use std::sync::Arc;

pub use client_update::ClientUpdate;
pub use clients::{RotatedSecret, delete_client, register_client, rotate_secret};
pub use mfa::{EnrolledTotp, SecondFactorStatus};
pub use tokens::{ReplacedKeys, RevokedAll};
pub use users::{CreateUser, create_user, disable_user};

use crate::Clock;
use crate::audit::{AuditEvent, AuditEventType, AuditQuery, AuditSink};
use crate::client::ClientId;
use crate::error::AdminError;
use crate::keys::KeyManager;
use crate::mfa::SecondFactors;
use crate::password::PasswordHasher;
use crate::store::Store;

/// Who asks for an operation: it becomes the `actor` of the audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An operator at the `ostiary` command line (`cli`).
    Cli,
    /// A client acting through an API, such as an admin API or its own registration (RFC
    /// 7592) (`client:<id>`, as the token endpoint's events name clients).
    Client(ClientId),
    /// Someone registering a client at the registration endpoint (RFC 7591): with the id of
    /// the initial access token they presented (`registration:<token id>`), or none under open
    /// registration (`registration:open`).
    Registration(Option<String>),
    /// The server itself, storing the client a fetched client ID metadata document describes
    /// (`metadata_document`).
    MetadataDocument,
}

impl Actor {
    /// The `actor` field of the events this actor causes.
    pub fn audit_name(&self) -> String {
        match self {
            Self::Cli => "cli".to_owned(),
            Self::Client(id) => format!("client:{id}"),
            Self::Registration(Some(token_id)) => format!("registration:{token_id}"),
            Self::Registration(None) => "registration:open".to_owned(),
            Self::MetadataDocument => "metadata_document".to_owned(),
        }
    }
}

/// The administrative operations over the store, each recording its audit event.
///
/// Built from the store, an audit sink and a clock; the password hasher (for creating users)
/// and the key manager (for rotating signing keys) are added when the front end has them, so
/// that listing clients never needs the root secret. An operation that needs a part the
/// service was built without fails with [`AdminError::Unavailable`] before it changes
/// anything.
pub struct Admin {
    store: Arc<dyn Store>,
    audit: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    hasher: Option<PasswordHasher>,
    keys: Option<KeyManager>,
    factors: Option<Arc<SecondFactors>>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("audit", &self.audit)
            .field("clock", &self.clock)
            .field("hasher", &self.hasher.is_some())
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// An Admin over `store` whose events go to `audit`, timed by `clock`.
    pub fn new(store: Arc<dyn Store>, audit: Arc<dyn AuditSink>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            audit,
            clock,
            hasher: None,
            keys: None,
            factors: None,
        }
    }

    /// Adds the second-factor service that enrolling a user's key (sealed under the root
    /// secret) needs.
    pub fn with_factors(mut self, factors: Arc<SecondFactors>) -> Self {
        self.factors = Some(factors);
        self
    }

    /// Adds the password hasher [`Admin::create_user`] needs.
    pub fn with_hasher(mut self, hasher: PasswordHasher) -> Self {
        self.hasher = Some(hasher);
        self
    }

    /// Adds the key manager that rotating keys (alone or with
    /// [`Admin::revoke_everything`]) needs.
    pub fn with_keys(mut self, keys: KeyManager) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The newest `query.limit` security events matching `query`, oldest first, each with
    /// its id (reading records nothing).
    pub async fn audit_events(
        &self,
        query: &AuditQuery,
    ) -> Result<Vec<(i64, AuditEvent)>, AdminError> {
        Ok(self.store.list_audit_events(query).await?)
    }

    /// The id of the newest event (0 when none): where [`Admin::audit_events_after`] starts.
    pub async fn latest_audit_id(&self) -> Result<i64, AdminError> {
        Ok(self.store.latest_audit_id().await?)
    }

    /// Up to `limit` events with an id above `after`, oldest first, with their ids.
    pub async fn audit_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, AuditEvent)>, AdminError> {
        Ok(self.store.audit_events_after(after, limit).await?)
    }

    /// Records a successful operation of `by`: the event is built from one stamped now, to the
    /// second (the precision events are stored with).
    async fn record(
        &self,
        by: &Actor,
        event: AuditEventType,
        build: impl FnOnce(AuditEvent) -> AuditEvent,
    ) {
        let event = build(AuditEvent::new(
            self.clock.now_seconds(),
            event,
            by.audit_name(),
        ));
        self.audit.record(event).await;
    }

    fn hasher(&self) -> Result<&PasswordHasher, AdminError> {
        self.hasher
            .as_ref()
            .ok_or(AdminError::Unavailable("password hashing"))
    }

    fn factors(&self) -> Result<&SecondFactors, AdminError> {
        self.factors
            .as_deref()
            .ok_or(AdminError::Unavailable("second factors"))
    }

    fn keys(&self) -> Result<&KeyManager, AdminError> {
        self.keys
            .as_ref()
            .ok_or(AdminError::Unavailable("signing key management"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_name_themselves_as_the_audit_trail_always_has() {
        assert_eq!(Actor::Cli.audit_name(), "cli");
        let id = ClientId::parse("ops-console").unwrap();
        assert_eq!(Actor::Client(id).audit_name(), "client:ops-console");
        let token = Actor::Registration(Some("Ab3-x_Yz9QwE".into()));
        assert_eq!(token.audit_name(), "registration:Ab3-x_Yz9QwE");
        assert_eq!(Actor::Registration(None).audit_name(), "registration:open");
        assert_eq!(Actor::MetadataDocument.audit_name(), "metadata_document");
    }
}
