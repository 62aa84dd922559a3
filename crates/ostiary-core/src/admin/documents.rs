//! Storing the client a fetched metadata document describes: created on its first fetch,
//! brought in line with the document on each later one.

use time::OffsetDateTime;

use crate::audit::AuditEventType;
use crate::client::{Client, ClientRegistration};
use crate::error::AdminError;
use crate::store::StoreError;
use crate::validation::InvalidInput;

use super::clients::new_client;
use super::{Actor, Admin, ClientUpdate};

impl Admin {
    /// Stores the client of a metadata document fetched at `fetched_at` and good until
    /// `expires_at`, checked as every registration is; returns it as stored. The first time,
    /// `client.created` is recorded with actor `metadata_document`. Later, changed settings
    /// are applied as `client update` applies them (`client.updated`; a change that takes a
    /// scope, an audience or a grant away revokes what the client holds), and a change of
    /// authentication method or keys replaces the client (`client.deleted`, then
    /// `client.created`): its grants, codes and consents were given to another kind of
    /// client.
    ///
    /// Errors: `Invalid` for a registration that breaks a rule or whose id is not a metadata
    /// document URL, `Store`.
    pub async fn store_document_client(
        &self,
        registration: ClientRegistration,
        fetched_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Client, AdminError> {
        let wanted = new_client(&*self.clock, registration)?.client;
        let id = wanted.id.clone();
        if !id.is_metadata_document() {
            return Err(InvalidInput::new("client_id", "not a metadata document URL").into());
        }
        let by = Actor::MetadataDocument;
        let stored = match self.store.find_client(&id).await? {
            Some(stored)
                if stored.auth_method != wanted.auth_method || stored.jwks != wanted.jwks =>
            {
                self.delete_client(&by, &id).await?;
                None
            }
            stored => stored,
        };
        let Some(stored) = stored else {
            match self
                .store
                .insert_document_client(&wanted, fetched_at, expires_at)
                .await
            {
                Ok(()) => {}
                // Another instance stored it meanwhile, from the same document.
                Err(StoreError::Conflict(_)) => {
                    return self.find_client(&id).await;
                }
                Err(e) => return Err(e.into()),
            }
            self.record(&by, AuditEventType::ClientCreated, |e| {
                e.client(id.as_str()).subject(id.as_str())
            })
            .await;
            return Ok(wanted);
        };
        let update = changes(&stored, wanted);
        let client = if update.is_empty() {
            stored
        } else {
            self.update_client(&by, &id, update).await?
        };
        if !self
            .store
            .record_document_fetch(&id, fetched_at, expires_at)
            .await?
        {
            return Err(AdminError::NotFound(format!("client {id} not found")));
        }
        Ok(client)
    }
}

/// What `wanted` changes in `stored`'s settings (nothing the document does not describe:
/// lifetimes, introspection and first-party status stay the operator's defaults).
fn changes(stored: &Client, wanted: Client) -> ClientUpdate {
    fn changed<T: PartialEq>(before: &T, after: T) -> Option<T> {
        (*before != after).then_some(after)
    }
    ClientUpdate {
        name: changed(&stored.name, wanted.name),
        grant_types: changed(&stored.grant_types, wanted.grant_types),
        redirect_uris: changed(&stored.redirect_uris, wanted.redirect_uris),
        scopes: changed(&stored.scopes, wanted.scopes),
        audiences: changed(&stored.audiences, wanted.audiences),
        post_logout_redirect_uris: changed(
            &stored.post_logout_redirect_uris,
            wanted.post_logout_redirect_uris,
        ),
        id_token_alg: changed(&stored.id_token_alg, wanted.id_token_alg),
        dpop_bound_access_tokens: changed(
            &stored.dpop_bound_access_tokens,
            wanted.dpop_bound_access_tokens,
        ),
        require_pushed_authorization_requests: changed(
            &stored.require_pushed_authorization_requests,
            wanted.require_pushed_authorization_requests,
        ),
        ..ClientUpdate::default()
    }
}
