//! Changing a registered client's settings (`ostiary client update`) under the rules a
//! registration meets: the id, the authentication method, the keys and the secret stay.

use time::Duration;

use crate::audit::AuditEventType;
use crate::client::{Audience, Client, ClientId, GrantType, RedirectUri, Scope};
use crate::error::AdminError;
use crate::validation::InvalidInput;
use ostiary_jwt::Algorithm;

use super::clients::{
    check_grant_rules, check_id_token_alg, check_impersonation, check_lifetime, check_name, dedup,
};
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
    pub require_mfa: Option<bool>,
    pub impersonation: Option<bool>,
}

impl ClientUpdate {
    /// True when it changes nothing.
    pub fn is_empty(&self) -> bool {
        let Self {
            name,
            grant_types,
            redirect_uris,
            scopes,
            audiences,
            introspect_audiences,
            post_logout_redirect_uris,
            skip_consent,
            access_token_lifetime,
            id_token_alg,
            dpop_bound_access_tokens,
            require_pushed_authorization_requests,
            require_mfa,
            impersonation,
        } = self;
        name.is_none()
            && grant_types.is_none()
            && redirect_uris.is_none()
            && scopes.is_none()
            && audiences.is_none()
            && introspect_audiences.is_none()
            && post_logout_redirect_uris.is_none()
            && skip_consent.is_none()
            && access_token_lifetime.is_none()
            && id_token_alg.is_none()
            && dpop_bound_access_tokens.is_none()
            && require_pushed_authorization_requests.is_none()
            && require_mfa.is_none()
            && impersonation.is_none()
    }
}

impl Admin {
    /// Changes a client's settings (`client.updated`, with the client as subject), checked as
    /// a registration is; running servers see the change once their cached record expires
    /// (`OAUTH2_CLIENT_CACHE_SECS`). An update that takes a scope, an audience or a grant of
    /// users away also revokes the client's grants and unredeemed codes (reason
    /// `client_narrowed`): they would go on carrying what was taken. Returns the client.
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
        if update.is_empty() {
            return Err(InvalidInput::new("update", "nothing to change").into());
        }
        let before = self.find_client(id).await?;
        let mut client = before.clone();
        apply(&mut client, update)?;
        // Grants carry the scopes and audiences they were given: once the client may no
        // longer have some of them, what it holds is revoked rather than left wider.
        let narrowed_at = narrowed(&before, &client).then(|| self.clock.now_seconds());
        if !self
            .store
            .update_client_settings(&client, narrowed_at)
            .await?
        {
            return Err(AdminError::NotFound(format!("client {id} not found")));
        }
        self.record(by, AuditEventType::ClientUpdated, |e| {
            e.client(id.as_str()).subject(id.as_str())
        })
        .await;
        Ok(client)
    }
}

/// Whether `after` lost a scope, an audience or a grant of users that `before` had.
fn narrowed(before: &Client, after: &Client) -> bool {
    let user_grants = |c: &Client| -> Vec<GrantType> {
        c.grant_types
            .iter()
            .copied()
            // Neither holds a grant of a user's: losing them leaves nothing to revoke.
            .filter(|g| !matches!(g, GrantType::ClientCredentials | GrantType::TokenExchange))
            .collect()
    };
    lost(&before.scopes, &after.scopes)
        || lost(&before.audiences, &after.audiences)
        || lost(&user_grants(before), &user_grants(after))
}

/// Whether some of `old` is not in `new`.
fn lost<T: PartialEq>(old: &[T], new: &[T]) -> bool {
    old.iter().any(|x| !new.contains(x))
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
    if let Some(mfa) = update.require_mfa {
        client.require_mfa = mfa;
    }
    if let Some(impersonation) = update.impersonation {
        client.impersonation = impersonation;
    }
    check_impersonation(client.impersonation, &client.grant_types)?;
    check_grant_rules(
        client.is_public(),
        &client.grant_types,
        &client.redirect_uris,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client {
            id: ClientId::parse("web").unwrap(),
            name: "Web".into(),
            secret_hash: None,
            previous_secret: None,
            auth_method: crate::client::TokenEndpointAuthMethod::None,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            redirect_uris: Vec::new(),
            scopes: vec![
                Scope::parse("openid").unwrap(),
                Scope::parse("admin").unwrap(),
            ],
            audiences: vec!["https://api.example.com".parse().unwrap()],
            introspect_audiences: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            skip_consent: false,
            access_token_lifetime: None,
            id_token_alg: Algorithm::Rs256,
            jwks: None,
            dpop_bound_access_tokens: false,
            require_pushed_authorization_requests: false,
            require_mfa: false,
            impersonation: false,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn taking_a_scope_audience_or_user_grant_away_narrows_adding_does_not() {
        let before = client();
        let mut wider = before.clone();
        wider.scopes.push(Scope::parse("profile").unwrap());
        wider.grant_types.push(GrantType::ClientCredentials);
        assert!(!narrowed(&before, &wider));
        let mut fewer_scopes = before.clone();
        fewer_scopes.scopes.pop();
        assert!(narrowed(&before, &fewer_scopes));
        let mut no_audience = before.clone();
        no_audience.audiences.clear();
        assert!(narrowed(&before, &no_audience));
        let mut no_refresh = before.clone();
        no_refresh.grant_types.pop();
        assert!(narrowed(&before, &no_refresh));
        let mut machine_grant_gone = wider.clone();
        machine_grant_gone
            .grant_types
            .retain(|g| *g != GrantType::ClientCredentials);
        assert!(
            !narrowed(&wider, &machine_grant_gone),
            "client_credentials issues no grant to revoke"
        );
    }
}
