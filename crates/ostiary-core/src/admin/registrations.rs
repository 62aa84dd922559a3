//! Dynamic registration's administrative side: the operator's initial access tokens (RFC 7591
//! 3), and storing a client that registered itself together with its registration access
//! token (RFC 7592 1).

use time::Duration;

use crate::audit::AuditEventType;
use crate::client::{ClientRegistration, RegisteredClient};
use crate::error::AdminError;
use crate::registration::{
    DEFAULT_REGISTRATION_TOKEN_LIFETIME, MAX_REGISTRATION_TOKEN_LIFETIME,
    MAX_REGISTRATION_TOKEN_USES, RegistrationToken,
};
use crate::secret::ClientSecret;
use crate::validation::InvalidInput;

use super::clients::{new_client, taken};
use super::{Actor, Admin};

impl Admin {
    /// Issues an initial access token (`registration_token.created`, subject the token id)
    /// good for `max_uses` registrations (default 1, at most 1,000,000) until `lifetime` has
    /// passed (default 1 day, at most 365 days). The token is in the result only: it is shown
    /// once and stored as a hash.
    ///
    /// Errors: `Invalid` for a lifetime or a count outside those bounds, `Store`.
    pub async fn create_registration_token(
        &self,
        by: &Actor,
        lifetime: Option<Duration>,
        max_uses: Option<u32>,
    ) -> Result<(RegistrationToken, ClientSecret), AdminError> {
        let lifetime = lifetime.unwrap_or(DEFAULT_REGISTRATION_TOKEN_LIFETIME);
        if !lifetime.is_positive() || lifetime > MAX_REGISTRATION_TOKEN_LIFETIME {
            return Err(
                InvalidInput::new("expires", "must be between 1 second and 365 days").into(),
            );
        }
        let max_uses = max_uses.unwrap_or(1);
        if max_uses == 0 || max_uses > MAX_REGISTRATION_TOKEN_USES {
            return Err(InvalidInput::new("max_uses", "must be between 1 and 1000000").into());
        }
        let now = self.clock.now_seconds();
        let (record, token) = RegistrationToken::issue(now, now + lifetime, max_uses);
        self.store.insert_registration_token(&record).await?;
        self.record(by, AuditEventType::RegistrationTokenCreated, |e| {
            e.subject(&record.token_id)
        })
        .await;
        Ok((record, token))
    }

    /// Every initial access token not yet purged (reading records nothing).
    pub async fn list_registration_tokens(&self) -> Result<Vec<RegistrationToken>, AdminError> {
        Ok(self.store.list_registration_tokens().await?)
    }

    /// Revokes an initial access token at once (`registration_token.revoked`). The clients
    /// registered with it stay.
    ///
    /// Errors: `NotFound` for an unknown token id, `Store`.
    pub async fn revoke_registration_token(
        &self,
        by: &Actor,
        token_id: &str,
    ) -> Result<(), AdminError> {
        if !self.store.delete_registration_token(token_id).await? {
            return Err(AdminError::NotFound(format!(
                "registration token {token_id} not found"
            )));
        }
        self.record(by, AuditEventType::RegistrationTokenRevoked, |e| {
            e.subject(token_id)
        })
        .await;
        Ok(())
    }

    /// Stores a client that registered itself (`client.created`, actor `by`), checked as
    /// every registration is, with a new registration access token (shown once, stored as a
    /// hash); with `spending`, one use of that initial access token is counted in the same
    /// transaction.
    ///
    /// Errors: `Invalid` for a registration that breaks a rule, `NotFound` when `spending`
    /// was spent, expired or revoked meanwhile (nothing stored), `Store`.
    pub async fn register_self(
        &self,
        by: &Actor,
        registration: ClientRegistration,
        spending: Option<&RegistrationToken>,
    ) -> Result<(RegisteredClient, ClientSecret), AdminError> {
        let registered = new_client(&*self.clock, registration)?;
        let access_token = ClientSecret::generate();
        let id = &registered.client.id;
        let stored = self
            .store
            .insert_registered_client(
                &registered.client,
                &access_token.hash(),
                spending.map(|t| t.token_id.as_str()),
                self.clock.now_seconds(),
            )
            .await
            .map_err(|e| taken(e, id))?;
        if !stored {
            return Err(AdminError::NotFound(
                "the initial access token can no longer be used".into(),
            ));
        }
        self.record(by, AuditEventType::ClientCreated, |e| {
            e.client(id.as_str()).subject(id.as_str())
        })
        .await;
        Ok((registered, access_token))
    }
}
