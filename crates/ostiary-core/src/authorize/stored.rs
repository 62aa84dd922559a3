//! A checked authorization request in the form an interaction keeps it between page posts:
//! everything but the client, which is looked up again by id. The request was checked once;
//! on the way back only what depends on the client's registration is compared with the
//! registration as it is now (a client deleted or narrowed meanwhile ends the interaction).

use serde::{Deserialize, Serialize};

use super::{AuthorizationRequest, Prompt};
use crate::client::{ClientId, Scope};
use crate::client_cache::ClientCache;
use crate::pkce::CodeChallenge;
use crate::store::StoreError;

/// The serialisable fields of an [`AuthorizationRequest`], as JSON inside an interaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRequest {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    scopes: Vec<String>,
    code_challenge: String,
    nonce: Option<String>,
    prompt: Prompt,
    max_age: Option<i64>,
    resources: Vec<String>,
    login_hint: Option<String>,
    id_token_hint_subject: Option<String>,
    #[serde(default)]
    dpop_jkt: Option<String>,
}

impl From<&AuthorizationRequest> for StoredRequest {
    fn from(r: &AuthorizationRequest) -> Self {
        Self {
            client_id: r.client.id.as_str().to_owned(),
            redirect_uri: r.redirect_uri.clone(),
            state: r.state.clone(),
            scopes: r.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            code_challenge: r.code_challenge.as_str().to_owned(),
            nonce: r.nonce.clone(),
            prompt: r.prompt,
            max_age: r.max_age,
            resources: r.resources.clone(),
            login_hint: r.login_hint.clone(),
            id_token_hint_subject: r.id_token_hint_subject.clone(),
            dpop_jkt: r.dpop_jkt.clone(),
        }
    }
}

impl StoredRequest {
    /// The request again, with its client as it is now. `Ok(None)` when the client is gone,
    /// no longer registered for what the request asked, or a stored value no longer parses
    /// (then the interaction cannot continue).
    pub async fn restore(
        self,
        clients: &ClientCache,
        userinfo_audience: &str,
    ) -> Result<Option<AuthorizationRequest>, StoreError> {
        let Ok(client_id) = ClientId::parse_any(&self.client_id) else {
            return Ok(None);
        };
        let Some(client) = clients.find(&client_id).await? else {
            return Ok(None);
        };
        let scopes: Result<Vec<Scope>, _> = self.scopes.iter().map(|s| Scope::parse(s)).collect();
        let (Ok(scopes), Ok(code_challenge)) = (
            scopes,
            CodeChallenge::parse(&self.code_challenge, Some("S256")),
        ) else {
            return Ok(None);
        };
        if !super::request::still_registered(
            &client,
            &self.redirect_uri,
            &scopes,
            &self.resources,
            userinfo_audience,
        ) {
            return Ok(None);
        }
        Ok(Some(AuthorizationRequest {
            client,
            redirect_uri: self.redirect_uri,
            state: self.state,
            scopes,
            code_challenge,
            nonce: self.nonce,
            prompt: self.prompt,
            max_age: self.max_age,
            resources: self.resources,
            login_hint: self.login_hint,
            id_token_hint_subject: self.id_token_hint_subject,
            id_token_hint: None,
            dpop_jkt: self.dpop_jkt,
        }))
    }
}
