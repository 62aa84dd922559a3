//! The registration endpoints' service: RFC 7591 registration under the policy's mode and the
//! operator's initial access tokens, and RFC 7592 read, update and delete of a client by its
//! registration access token.

use std::sync::Arc;

use ostiary_jwt::Algorithm;

use super::metadata::{USER_GRANTS, invalid_metadata, refused};
use super::{ClientMetadata, RegistrationMode, RegistrationPolicy, RegistrationToken};
use crate::admin::{Actor, Admin, ClientUpdate};
use crate::client::{Client, ClientId};
use crate::error::{AdminError, ErrorCode, OAuthError, error_chain};
use crate::secret::{ClientSecret, SecretHash};
use crate::{Clock, Store};

/// A client just registered, with the credentials shown in this answer only.
#[derive(Debug)]
pub struct Registered {
    pub client: Client,
    /// For `client_secret_basic` and `client_secret_post` clients.
    pub client_secret: Option<ClientSecret>,
    /// RFC 7592 1: what the client presents to read, update or delete its registration.
    pub registration_access_token: ClientSecret,
}

/// Registration and self-management of clients (RFC 7591, RFC 7592), audited through the
/// Admin service: `client.created` with actor `registration:<token id>` (or
/// `registration:open`), `client.updated` and `client.deleted` with the client as actor.
pub struct Registrations {
    admin: Admin,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policy: RegistrationPolicy,
}

impl std::fmt::Debug for Registrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrations")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Registrations {
    pub fn new(
        admin: Admin,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        policy: RegistrationPolicy,
    ) -> Self {
        Self {
            admin,
            store,
            clock,
            policy,
        }
    }

    pub fn policy(&self) -> &RegistrationPolicy {
        &self.policy
    }

    /// RFC 7591 3.1: registers a client from its metadata. `initial_access_token` is the
    /// request's Bearer token: required unless registration is open, checked whenever sent,
    /// and spent by one use when the client is stored.
    ///
    /// Errors: `invalid_token` for a missing (where required), unknown, expired or spent
    /// initial access token; `invalid_redirect_uri` and `invalid_client_metadata` for
    /// metadata that break a rule; `temporarily_unavailable` when the store fails.
    pub async fn register(
        &self,
        initial_access_token: Option<&str>,
        metadata: ClientMetadata,
    ) -> Result<Registered, OAuthError> {
        let spending = self.initial_access_token(initial_access_token).await?;
        let registration =
            metadata.into_registration(ClientId::generate(), &self.policy, spending.is_some())?;
        let actor = Actor::Registration(spending.as_ref().map(|t| t.token_id.clone()));
        let (registered, access_token) = self
            .admin
            .register_self(&actor, registration, spending.as_ref())
            .await
            .map_err(|e| match e {
                AdminError::NotFound(_) => spent(),
                other => admin_error(other),
            })?;
        Ok(Registered {
            client: registered.client,
            client_secret: registered.secret,
            registration_access_token: access_token,
        })
    }

    /// The usable initial access token presented, if any; whether one is needed.
    async fn initial_access_token(
        &self,
        presented: Option<&str>,
    ) -> Result<Option<RegistrationToken>, OAuthError> {
        match (self.policy.mode, presented) {
            (RegistrationMode::Off, _) => Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "dynamic client registration is not offered",
            )),
            (_, Some(token)) => {
                let found = self
                    .store
                    .find_registration_token(&SecretHash::of(token))
                    .await?;
                match found {
                    Some(t) if t.is_usable(self.clock.now_seconds()) => Ok(Some(t)),
                    _ => Err(spent()),
                }
            }
            (RegistrationMode::Token, None) => Err(OAuthError::new(
                ErrorCode::InvalidToken,
                "registration needs an initial access token (RFC 7591 3)",
            )),
            (RegistrationMode::Open, None) => Ok(None),
        }
    }

    /// RFC 7592 2.1: the client as registered.
    ///
    /// Errors: `invalid_token` unless `access_token` is the registration access token of
    /// the client `client_id` names.
    pub async fn read(&self, client_id: &str, access_token: &str) -> Result<Client, OAuthError> {
        self.authorized(client_id, access_token).await
    }

    /// RFC 7592 2.2: replaces the client's metadata with `metadata` (what is left out takes
    /// its default), under the rules of registration; a change that takes a scope or a grant
    /// away revokes the client's grants, as `client update` does. The authentication method
    /// and the keys cannot change (a new client is registered instead), nor can a client
    /// gain a grant beyond the code and refresh grants.
    ///
    /// Errors: `invalid_token` as for [`Registrations::read`]; `invalid_client_metadata` when
    /// `client_id` is not the client's, `client_secret` is sent and is not its secret, or a
    /// fixed part changes; `invalid_redirect_uri`.
    pub async fn update(
        &self,
        client_id: &str,
        access_token: &str,
        metadata: ClientMetadata,
    ) -> Result<Client, OAuthError> {
        let client = self.authorized(client_id, access_token).await?;
        if metadata.client_id.as_deref() != Some(client.id.as_str()) {
            return Err(invalid_metadata(
                "client_id must be sent and be this client's (RFC 7592 2.2)",
            ));
        }
        if let Some(secret) = &metadata.client_secret {
            use secrecy::ExposeSecret;
            let own = client
                .secret_hash
                .as_ref()
                .is_some_and(|hash| hash.verify(secret.expose_secret()));
            if !own {
                return Err(invalid_metadata("client_secret is not this client's"));
            }
        }
        let wanted = metadata.into_registration(client.id.clone(), &self.policy, true)?;
        // What an initial access token vouched for may be kept, never gained by an update.
        let gained = wanted
            .grant_types
            .iter()
            .any(|g| !USER_GRANTS.contains(g) && !client.allows_grant(*g));
        if gained {
            return Err(invalid_metadata(
                "grant_types: an update may add authorization_code and refresh_token only",
            ));
        }
        if wanted.auth_method != Some(client.auth_method) {
            return Err(invalid_metadata(
                "token_endpoint_auth_method cannot change: register a new client",
            ));
        }
        if wanted.jwks != client.jwks {
            return Err(invalid_metadata(
                "jwks cannot change here: send the registered keys, or register a new client",
            ));
        }
        let update = ClientUpdate {
            name: Some(wanted.name),
            grant_types: Some(wanted.grant_types),
            redirect_uris: Some(wanted.redirect_uris),
            scopes: Some(wanted.scopes),
            post_logout_redirect_uris: Some(wanted.post_logout_redirect_uris),
            id_token_alg: Some(wanted.id_token_alg.unwrap_or(Algorithm::Rs256)),
            dpop_bound_access_tokens: Some(wanted.dpop_bound_access_tokens),
            require_pushed_authorization_requests: Some(
                wanted.require_pushed_authorization_requests,
            ),
            ..ClientUpdate::default()
        };
        self.admin
            .update_client(&Actor::Client(client.id.clone()), &client.id, update)
            .await
            .map_err(admin_error)
    }

    /// RFC 7592 2.3: deletes the client with its grants, codes and consents; its
    /// registration access token dies with it.
    ///
    /// Errors: `invalid_token` as for [`Registrations::read`].
    pub async fn delete(&self, client_id: &str, access_token: &str) -> Result<(), OAuthError> {
        let client = self.authorized(client_id, access_token).await?;
        self.admin
            .delete_client(&Actor::Client(client.id.clone()), &client.id)
            .await
            .map_err(admin_error)
    }

    /// The client `client_id` names, if `access_token` is its registration access token
    /// (compared in constant time). An unknown client, one an operator registered and a wrong
    /// token are all the same `invalid_token` (RFC 7592 2.1, 2.2, 2.3).
    async fn authorized(&self, client_id: &str, access_token: &str) -> Result<Client, OAuthError> {
        let refused = || {
            OAuthError::new(
                ErrorCode::InvalidToken,
                "the registration access token is not valid for this client",
            )
        };
        let id = ClientId::parse(client_id).map_err(|_| refused())?;
        let hash = self
            .store
            .find_registration_access_token(&id)
            .await?
            .ok_or_else(refused)?;
        if !hash.verify(access_token) {
            return Err(refused());
        }
        self.store.find_client(&id).await?.ok_or_else(refused)
    }
}

fn spent() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidToken,
        "the initial access token is unknown, expired or spent",
    )
}

/// An Admin failure as the registering client sees it.
fn admin_error(e: AdminError) -> OAuthError {
    match e {
        AdminError::Invalid(invalid) => refused(invalid),
        // The client was deleted between the check of its token and the change.
        AdminError::NotFound(_) => OAuthError::new(
            ErrorCode::InvalidToken,
            "the registration access token is not valid for this client",
        ),
        AdminError::Store(e) => e.into(),
        other => {
            tracing::error!(error = %error_chain(&other), "registration failed");
            OAuthError::server_error()
        }
    }
}
