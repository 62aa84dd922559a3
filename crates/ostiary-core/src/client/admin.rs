//! Registering, re-keying and deleting clients: the code path the CLI and the tests share.

use crate::Clock;
use crate::client::{
    Audience, Client, ClientId, GrantType, RedirectUri, Scope, TokenEndpointAuthMethod,
};
use crate::error::AdminError;
use crate::secret::ClientSecret;
use crate::store::{ClientStore, StoreError};
use crate::validation::{InvalidInput, has_control_chars};
use ostiary_jwt::Algorithm;
use time::Duration;

/// What an operator asks for; every field already parsed into its domain type.
#[derive(Debug, Clone, Default)]
pub struct ClientRegistration {
    pub name: String,
    pub client_id: Option<ClientId>,
    pub public: bool,
    pub grant_types: Vec<GrantType>,
    pub redirect_uris: Vec<RedirectUri>,
    pub scopes: Vec<Scope>,
    pub audiences: Vec<Audience>,
    pub introspect_audiences: Vec<Audience>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub auth_method: Option<TokenEndpointAuthMethod>,
    pub skip_consent: bool,
    pub access_token_lifetime: Option<Duration>,
    /// RS256 when not given; HS256 is refused (ID tokens are verified by the public JWKS).
    pub id_token_alg: Option<Algorithm>,
}

/// A stored client and, for confidential clients, its secret: shown once, never again.
#[derive(Debug)]
pub struct RegisteredClient {
    pub client: Client,
    pub secret: Option<ClientSecret>,
}

const MAX_NAME_LEN: usize = 200;

pub async fn register_client(
    store: &dyn ClientStore,
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
    } = registration;

    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || has_control_chars(&name) {
        return Err(InvalidInput::new(
            "name",
            format!("must be 1 to {MAX_NAME_LEN} printable characters"),
        )
        .into());
    }

    let auth_method = match (public, auth_method) {
        (true, None | Some(TokenEndpointAuthMethod::None)) => TokenEndpointAuthMethod::None,
        (true, Some(other)) => {
            return Err(InvalidInput::new(
                "token_endpoint_auth_method",
                format!("a public client has no secret, so it cannot use {other}"),
            )
            .into());
        }
        (false, method) => method.unwrap_or(TokenEndpointAuthMethod::ClientSecretBasic),
    };
    let is_public = auth_method == TokenEndpointAuthMethod::None;

    let redirect_uris = dedup(redirect_uris);
    let grant_types = match dedup(grant_types) {
        given if !given.is_empty() => given,
        _ if is_public || !redirect_uris.is_empty() => {
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        }
        _ => vec![GrantType::ClientCredentials],
    };
    check_grant_rules(is_public, &grant_types, &redirect_uris)?;

    let secret = (!is_public).then(ClientSecret::generate);
    let client = Client {
        id: client_id.unwrap_or_else(ClientId::generate),
        name,
        secret_hash: secret.as_ref().map(ClientSecret::hash),
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
        created_at: clock.now_seconds(),
    };
    store.insert_client(&client).await.map_err(|e| match e {
        StoreError::Conflict(_) => AdminError::Invalid(InvalidInput::new(
            "client_id",
            format!("{} is already registered", client.id),
        )),
        other => other.into(),
    })?;
    Ok(RegisteredClient { client, secret })
}

fn check_id_token_alg(alg: Option<Algorithm>) -> Result<Algorithm, InvalidInput> {
    match alg.unwrap_or(Algorithm::Rs256) {
        Algorithm::Hs256 => Err(InvalidInput::new(
            "id_token_alg",
            "HS256 is not offered: relying parties verify ID tokens with the published keys",
        )),
        alg => Ok(alg),
    }
}

/// The longest access token lifetime a client may have: also how long a retired signing key
/// stays published.
pub const MAX_ACCESS_TOKEN_LIFETIME: Duration = Duration::days(1);

fn check_lifetime(lifetime: Option<Duration>) -> Result<Option<Duration>, InvalidInput> {
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

fn check_grant_rules(
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
    if grants.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(InvalidInput::new(
            "redirect_uri",
            "authorization_code needs at least one --redirect-uri",
        ));
    }
    // Only the authorization code grant issues refresh tokens to redeem.
    if grants.contains(&GrantType::RefreshToken) && !grants.contains(&GrantType::AuthorizationCode)
    {
        return Err(InvalidInput::new(
            "grant_type",
            "refresh_token is only useful with authorization_code",
        ));
    }
    Ok(())
}

/// Replaces a confidential client's secret; the old one stops working once cached client
/// records expire (`OAUTH2_CLIENT_CACHE_SECS`).
pub async fn rotate_secret(
    store: &dyn ClientStore,
    id: &ClientId,
) -> Result<ClientSecret, AdminError> {
    let client = store
        .find_client(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("client {id} not found")))?;
    if client.is_public() {
        return Err(InvalidInput::new(
            "client_id",
            format!("{id} is a public client and has no secret"),
        )
        .into());
    }
    let secret = ClientSecret::generate();
    if !store.update_client_secret(id, &secret.hash()).await? {
        return Err(AdminError::NotFound(format!("client {id} not found")));
    }
    Ok(secret)
}

pub async fn delete_client(store: &dyn ClientStore, id: &ClientId) -> Result<(), AdminError> {
    if store.delete_client(id).await? {
        Ok(())
    } else {
        Err(AdminError::NotFound(format!("client {id} not found")))
    }
}

fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}
