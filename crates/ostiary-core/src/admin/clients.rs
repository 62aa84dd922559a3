//! Clients: registering (with the rules a registration must meet), listing, re-keying and
//! deleting them.

use crate::Clock;
use crate::audit::AuditEventType;
use crate::client::{
    Client, ClientId, ClientJwks, ClientRegistration, GrantType, MAX_ACCESS_TOKEN_LIFETIME,
    MAX_SECRET_OVERLAP, RedirectUri, RegisteredClient, TokenEndpointAuthMethod,
};
use crate::error::AdminError;
use crate::secret::ClientSecret;
use crate::store::{ClientStore, StoreError};
use crate::validation::{InvalidInput, has_control_chars};
use ostiary_jwt::Algorithm;
use time::{Duration, OffsetDateTime};

use super::{Actor, Admin};

impl Admin {
    /// Registers a client (`client.created`, with the client as subject). The secret of a
    /// confidential client is in the result only: it is shown once and stored as a hash.
    ///
    /// Errors: `Invalid` for a registration that breaks a rule (or a taken client id), `Store`.
    pub async fn create_client(
        &self,
        by: &Actor,
        registration: ClientRegistration,
    ) -> Result<RegisteredClient, AdminError> {
        let registered = register_client(&*self.store, &*self.clock, registration).await?;
        let id = registered.client.id.as_str();
        self.record(by, AuditEventType::ClientCreated, |e| {
            e.client(id).subject(id)
        })
        .await;
        Ok(registered)
    }

    /// Every client, ordered by id (reading records nothing).
    pub async fn list_clients(&self) -> Result<Vec<Client>, AdminError> {
        Ok(self.store.list_clients().await?)
    }

    /// One client (reading records nothing).
    ///
    /// Errors: `NotFound` for an unknown client, `Store`.
    pub async fn find_client(&self, id: &ClientId) -> Result<Client, AdminError> {
        self.store
            .find_client(id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("client {id} not found")))
    }

    /// Deletes a client with its codes, grants and consents (`client.deleted`).
    ///
    /// Errors: `NotFound` for an unknown client, `Store`.
    pub async fn delete_client(&self, by: &Actor, id: &ClientId) -> Result<(), AdminError> {
        delete_client(&*self.store, id).await?;
        self.record(by, AuditEventType::ClientDeleted, |e| {
            e.client(id.as_str()).subject(id.as_str())
        })
        .await;
        Ok(())
    }

    /// Gives a confidential client a new secret (`client.secret_rotated`). Without
    /// `keep_old` the old one stops working once cached client records expire
    /// (`OAUTH2_CLIENT_CACHE_SECS`); with it, both work until the overlap ends (at most
    /// [`MAX_SECRET_OVERLAP`], 7 days), so the client's running instances can be redeployed
    /// without failing. Any secret kept from an earlier rotation is dropped.
    ///
    /// Errors: `NotFound` for an unknown client, `Invalid` for one without a secret (public or
    /// `private_key_jwt`) or an overlap outside 1 second to 7 days, `Store`.
    pub async fn rotate_client_secret(
        &self,
        by: &Actor,
        id: &ClientId,
        keep_old: Option<Duration>,
    ) -> Result<RotatedSecret, AdminError> {
        let rotated = rotate_secret(&*self.store, &*self.clock, id, keep_old).await?;
        self.record(by, AuditEventType::ClientSecretRotated, |e| {
            e.client(id.as_str()).subject(id.as_str())
        })
        .await;
        Ok(rotated)
    }
}

const MAX_NAME_LEN: usize = 200;

/// Checks a registration and stores the client, recording no event: the step under
/// [`Admin::create_client`], which test fixtures also use to seed clients.
///
/// Errors: `Invalid` for a registration that breaks a rule or a taken client id, `Store`.
pub async fn register_client(
    store: &dyn ClientStore,
    clock: &dyn Clock,
    registration: ClientRegistration,
) -> Result<RegisteredClient, AdminError> {
    // A URL id names a metadata document: a client registered under it would stand in for
    // whoever serves that document.
    if registration
        .client_id
        .as_ref()
        .is_some_and(ClientId::is_metadata_document)
    {
        return Err(InvalidInput::new(
            "client_id",
            "a URL is reserved for client ID metadata documents",
        )
        .into());
    }
    let registered = new_client(clock, registration)?;
    store
        .insert_client(&registered.client)
        .await
        .map_err(|e| taken(e, &registered.client.id))?;
    Ok(registered)
}

/// A taken client id as the registration's fault; any other store error as it is.
pub(super) fn taken(e: StoreError, id: &ClientId) -> AdminError {
    match e {
        StoreError::Conflict(_) => AdminError::Invalid(InvalidInput::new(
            "client_id",
            format!("{id} is already registered"),
        )),
        other => other.into(),
    }
}

/// The client a registration makes once it meets every rule, with its new secret if it has
/// one; nothing stored yet.
///
/// Errors: `Invalid` for a registration that breaks a rule.
pub(super) fn new_client(
    clock: &dyn Clock,
    registration: ClientRegistration,
) -> Result<RegisteredClient, AdminError> {
    let ClientRegistration {
        name,
        client_id,
        public,
        grant_types,
        redirect_uris,
        scopes,
        audiences,
        introspect_audiences,
        post_logout_redirect_uris,
        auth_method,
        skip_consent,
        access_token_lifetime,
        id_token_alg,
        jwks,
        dpop_bound_access_tokens,
        require_pushed_authorization_requests,
        require_mfa,
        impersonation,
    } = registration;

    let name = check_name(&name)?;

    let auth_method = match (public, auth_method) {
        (true, None | Some(TokenEndpointAuthMethod::None)) => TokenEndpointAuthMethod::None,
        (true, Some(other)) => {
            return Err(InvalidInput::new(
                "token_endpoint_auth_method",
                format!("a public client has no secret, so it cannot use {other}"),
            )
            .into());
        }
        (false, Some(method)) => method,
        // Keys given: the client means to sign assertions with them.
        (false, None) if jwks.is_some() => TokenEndpointAuthMethod::PrivateKeyJwt,
        (false, None) => TokenEndpointAuthMethod::ClientSecretBasic,
    };
    let is_public = auth_method == TokenEndpointAuthMethod::None;
    check_jwks(auth_method, jwks.as_ref())?;

    let redirect_uris = dedup(redirect_uris);
    let grant_types = match dedup(grant_types) {
        given if given.is_empty() => default_grant_types(is_public, &redirect_uris),
        given => given,
    };
    check_grant_rules(is_public, &grant_types, &redirect_uris)?;
    check_impersonation(impersonation, &grant_types)?;

    let secret = auth_method.uses_secret().then(ClientSecret::generate);
    let client = Client {
        id: client_id.unwrap_or_else(ClientId::generate),
        name,
        secret_hash: secret.as_ref().map(ClientSecret::hash),
        previous_secret: None,
        auth_method,
        grant_types,
        redirect_uris,
        scopes: dedup(scopes),
        audiences: dedup(audiences),
        introspect_audiences: dedup(introspect_audiences),
        post_logout_redirect_uris: dedup(post_logout_redirect_uris),
        skip_consent,
        access_token_lifetime: check_lifetime(access_token_lifetime)?,
        id_token_alg: check_id_token_alg(id_token_alg)?,
        jwks,
        dpop_bound_access_tokens,
        require_pushed_authorization_requests,
        require_mfa,
        impersonation,
        created_at: clock.now_seconds(),
    };
    Ok(RegisteredClient { client, secret })
}

/// Impersonation is a kind of token exchange: without the grant it would mean nothing, and a
/// flag that means nothing hides a mistake.
pub(super) fn check_impersonation(
    impersonation: bool,
    grants: &[GrantType],
) -> Result<(), InvalidInput> {
    if impersonation && !grants.contains(&GrantType::TokenExchange) {
        return Err(InvalidInput::new(
            "impersonation",
            "impersonation needs the urn:ietf:params:oauth:grant-type:token-exchange grant",
        ));
    }
    Ok(())
}

/// The grants of a registration that names none: the code and refresh grants for a public
/// client or one with redirect URIs, `client_credentials` otherwise.
fn default_grant_types(is_public: bool, redirect_uris: &[RedirectUri]) -> Vec<GrantType> {
    if is_public || !redirect_uris.is_empty() {
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    } else {
        vec![GrantType::ClientCredentials]
    }
}

/// The client's display name, trimmed: 1 to 200 printable characters.
pub(super) fn check_name(name: &str) -> Result<String, InvalidInput> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || has_control_chars(&name) {
        return Err(InvalidInput::new(
            "name",
            format!("must be 1 to {MAX_NAME_LEN} printable characters"),
        ));
    }
    Ok(name)
}

/// `private_key_jwt` needs keys to check assertions with. Clients of the other methods may
/// register keys too, for the request objects they sign (RFC 9101).
fn check_jwks(
    method: TokenEndpointAuthMethod,
    jwks: Option<&ClientJwks>,
) -> Result<(), InvalidInput> {
    if method == TokenEndpointAuthMethod::PrivateKeyJwt && jwks.is_none() {
        return Err(InvalidInput::new(
            "jwks",
            "private_key_jwt needs the client's public keys: --jwks or --jwks-uri",
        ));
    }
    Ok(())
}

pub(super) fn check_id_token_alg(alg: Option<Algorithm>) -> Result<Algorithm, InvalidInput> {
    match alg.unwrap_or(Algorithm::Rs256) {
        Algorithm::Hs256 => Err(InvalidInput::new(
            "id_token_alg",
            "HS256 is not offered: relying parties verify ID tokens with the published keys",
        )),
        alg => Ok(alg),
    }
}

pub(super) fn check_lifetime(lifetime: Option<Duration>) -> Result<Option<Duration>, InvalidInput> {
    match lifetime {
        Some(l) if l < Duration::seconds(1) || l > MAX_ACCESS_TOKEN_LIFETIME => {
            Err(InvalidInput::new(
                "access_token_lifetime",
                "must be between 1 second and 1 day",
            ))
        }
        other => Ok(other),
    }
}

pub(super) fn check_grant_rules(
    is_public: bool,
    grants: &[GrantType],
    redirect_uris: &[RedirectUri],
) -> Result<(), InvalidInput> {
    if is_public && grants.contains(&GrantType::ClientCredentials) {
        return Err(InvalidInput::new(
            "grant_type",
            "client_credentials needs a confidential client; a public client has no secret",
        ));
    }
    // Whoever holds a public client's id could exchange the tokens it received.
    if is_public && grants.contains(&GrantType::TokenExchange) {
        return Err(InvalidInput::new(
            "grant_type",
            "token exchange needs a confidential client; a public client proves nothing",
        ));
    }
    if grants.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(InvalidInput::new(
            "redirect_uri",
            "authorization_code needs at least one --redirect-uri",
        ));
    }
    // Only the grants of users issue refresh tokens to redeem.
    if grants.contains(&GrantType::RefreshToken)
        && !grants.contains(&GrantType::AuthorizationCode)
        && !grants.contains(&GrantType::DeviceCode)
    {
        return Err(InvalidInput::new(
            "grant_type",
            "refresh_token is only useful with authorization_code or the device_code grant",
        ));
    }
    Ok(())
}

/// Replaces a confidential client's secret, recording no event: the step under
/// [`Admin::rotate_client_secret`].
///
/// Errors: `NotFound` for an unknown client, `Invalid` for one without a secret (public or
/// `private_key_jwt`), `Store`.
pub async fn rotate_secret(
    store: &dyn ClientStore,
    clock: &dyn Clock,
    id: &ClientId,
    keep_old: Option<Duration>,
) -> Result<RotatedSecret, AdminError> {
    let client = store
        .find_client(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("client {id} not found")))?;
    if !client.auth_method.uses_secret() {
        return Err(InvalidInput::new(
            "client_id",
            format!(
                "{id} authenticates with {} and has no secret",
                client.auth_method
            ),
        )
        .into());
    }
    let previous_expires_at = match keep_old {
        None => None,
        Some(overlap) if overlap.is_positive() && overlap <= MAX_SECRET_OVERLAP => {
            Some(clock.now_seconds() + overlap)
        }
        Some(_) => {
            return Err(InvalidInput::new(
                "keep_old",
                "the old secret may be kept between 1 second and 7 days",
            )
            .into());
        }
    };
    let secret = ClientSecret::generate();
    if !store
        .update_client_secret(id, &secret.hash(), previous_expires_at)
        .await?
    {
        return Err(AdminError::NotFound(format!("client {id} not found")));
    }
    Ok(RotatedSecret {
        secret,
        previous_expires_at,
    })
}

/// A new client secret (shown once) and when the one it replaced stops working (`None`: at
/// once).
#[derive(Debug)]
pub struct RotatedSecret {
    pub secret: ClientSecret,
    pub previous_expires_at: Option<OffsetDateTime>,
}

/// Deletes a client, recording no event: the step under [`Admin::delete_client`].
///
/// Errors: `NotFound` for an unknown client, `Store`.
pub async fn delete_client(store: &dyn ClientStore, id: &ClientId) -> Result<(), AdminError> {
    if store.delete_client(id).await? {
        Ok(())
    } else {
        Err(AdminError::NotFound(format!("client {id} not found")))
    }
}

pub(super) fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}
