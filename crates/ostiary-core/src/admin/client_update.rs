//! Changing a registered client's settings (`ostiary client update`) under the rules a
//! registration meets: the id, the authentication method, the keys and the secret stay.

use time::Duration;

use crate::audit::AuditEventType;
use crate::client::{Audience, Client, ClientId, GrantType, RedirectUri, Scope};
use crate::error::AdminError;
use crate::validation::InvalidInput;
use ostiary_jwt::Algorithm;

use super::clients::{check_grant_rules, check_id_token_alg, check_lifetime, check_name, dedup};
use super::{Actor, Admin};

/// What to change; each `Some` replaces what is registered (a list as a whole).
#[derive(Debug, Default)]
pub struct ClientUpdate {
    pub name: Option<String>,
    pub grant_types: Option<Vec<GrantType>>,
    pub redirect_uris: Option<Vec<RedirectUri>>,
    pub scopes: Option<Vec<Scope>>,
    pub audiences: Option<Vec<Audience>>,
    pub introspect_audiences: Option<Vec<Audience>>,
    pub post_logout_redirect_uris: Option<Vec<RedirectUri>>,
    pub skip_consent: Option<bool>,
    /// `Some(None)`: back to the server's default lifetime.
    pub access_token_lifetime: Option<Option<Duration>>,
    pub id_token_alg: Option<Algorithm>,
    pub dpop_bound_access_tokens: Option<bool>,
    pub require_pushed_authorization_requests: Option<bool>,
}

impl Admin {
    /// Changes a client's settings (`client.updated`, with the client as subject), checked as
    /// a registration is; running servers see the change once their cached record expires
    /// (`OAUTH2_CLIENT_CACHE_SECS`). Returns the client as it now is.
    ///
    /// Errors: `NotFound` for an unknown client, `Invalid` for settings that break a rule (no
    /// grant type, authorization_code without a redirect URI, client_credentials for a public
    /// client...), `Store`.
    pub async fn update_client(
        &self,
        by: &Actor,
        id: &ClientId,
        update: ClientUpdate,
    ) -> Result<Client, AdminError> {
        let mut client = self.find_client(id).await?;
        apply(&mut client, update)?;
        if !self.store.update_client_settings(&client).await? {
            return Err(AdminError::NotFound(format!("client {id} not found")));
        }
        self.record(by, AuditEventType::ClientUpdated, |e| {
            e.client(id.as_str()).subject(id.as_str())
        })
        .await;
        Ok(client)
    }
}

fn apply(client: &mut Client, update: ClientUpdate) -> Result<(), InvalidInput> {
    if let Some(name) = update.name {
        client.name = check_name(&name)?;
    }
    if let Some(grants) = update.grant_types {
        if grants.is_empty() {
            return Err(InvalidInput::new("grant_type", "at least one is needed"));
        }
        client.grant_types = dedup(grants);
    }
    let lists = [
        (update.redirect_uris, &mut client.redirect_uris),
        (
            update.post_logout_redirect_uris,
            &mut client.post_logout_redirect_uris,
        ),
    ];
    for (given, registered) in lists {
        if let Some(uris) = given {
            *registered = dedup(uris);
        }
    }
    if let Some(scopes) = update.scopes {
        client.scopes = dedup(scopes);
    }
    for (given, registered) in [
        (update.audiences, &mut client.audiences),
        (
            update.introspect_audiences,
            &mut client.introspect_audiences,
        ),
    ] {
        if let Some(audiences) = given {
            *registered = dedup(audiences);
        }
    }
    if let Some(skip) = update.skip_consent {
        client.skip_consent = skip;
    }
    if let Some(lifetime) = update.access_token_lifetime {
        client.access_token_lifetime = check_lifetime(lifetime)?;
    }
    if let Some(alg) = update.id_token_alg {
        client.id_token_alg = check_id_token_alg(Some(alg))?;
    }
    if let Some(dpop) = update.dpop_bound_access_tokens {
        client.dpop_bound_access_tokens = dpop;
    }
    if let Some(par) = update.require_pushed_authorization_requests {
        client.require_pushed_authorization_requests = par;
    }
    check_grant_rules(
        client.is_public(),
        &client.grant_types,
        &client.redirect_uris,
    )
}
