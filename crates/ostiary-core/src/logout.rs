//! OpenID Connect RP-Initiated Logout 1.0: which client a logout request names, whether it
//! may end the browser's session without asking, and where the browser goes afterwards.
//!
//! Only a URI registered for the client that the `id_token_hint` (or `client_id`) names is
//! ever a destination; an unregistered one is refused, never followed. Without an
//! `id_token_hint` naming this very session the user confirms first (section 2): otherwise
//! any site could sign users out by linking to the endpoint.

use std::sync::Arc;

use crate::Clock;
use crate::audit::{AuditEvent, AuditEventType, AuditSink};
use crate::authorize::MAX_STATE_LEN;
use crate::client::{Client, ClientId};
use crate::client_cache::ClientCache;
use crate::keys::KeyRing;
use crate::session::{Session, Sessions};
use crate::store::StoreError;
use crate::token::id_token::verify_id_token_hint;
use crate::validation::has_control_chars;

/// The parameters a confirmation form carries back (RP-Initiated Logout 1.0 section 2).
pub const LOGOUT_PARAMS: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

/// A checked logout request.
#[derive(Debug)]
pub struct LogoutRequest {
    /// The client the request names, from the hint or `client_id`.
    pub client: Option<Arc<Client>>,
    /// The session may end without asking: the hint is an ID token of this very session.
    pub hint_matches_session: bool,
    /// Where the browser goes once signed out: the registered `post_logout_redirect_uri`
    /// with `state` appended.
    pub destination: Option<String>,
}

/// A logout request that cannot be honoured; the text is for the page shown to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidLogout(pub &'static str);

/// Reads logout requests and ends sessions.
#[derive(Debug)]
pub struct Logout {
    sessions: Arc<Sessions>,
    clients: Arc<ClientCache>,
    keys: Arc<KeyRing>,
    issuer: String,
    audit: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
}

impl Logout {
    pub fn new(
        sessions: Arc<Sessions>,
        clients: Arc<ClientCache>,
        keys: Arc<KeyRing>,
        issuer: String,
        audit: Arc<dyn AuditSink>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            sessions,
            clients,
            keys,
            issuer,
            audit,
            clock,
        }
    }

    /// Checks the hint, the client and the destination of a request with these parameters
    /// (an empty one counts as absent), made by a browser with this session. As at the
    /// authorization endpoint, each of [`LOGOUT_PARAMS`] comes once, no value holds a control
    /// character and `state` is at most [`MAX_STATE_LEN`] bytes: the values reach a redirect
    /// and a page.
    pub async fn read(
        &self,
        params: &[(String, String)],
        session: Option<&Session>,
    ) -> Result<LogoutRequest, InvalidLogout> {
        if params.iter().any(|(_, value)| has_control_chars(value)) {
            return Err(InvalidLogout("A parameter contains control characters."));
        }
        if LOGOUT_PARAMS
            .iter()
            .any(|name| params.iter().filter(|(k, _)| k == name).count() > 1)
        {
            return Err(InvalidLogout("A parameter is repeated."));
        }
        if params
            .iter()
            .any(|(k, v)| k == "state" && v.len() > MAX_STATE_LEN)
        {
            return Err(InvalidLogout("state is too long."));
        }
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let uri = param("post_logout_redirect_uri");
        let hint = match param("id_token_hint") {
            Some(hint) => Some(
                verify_id_token_hint(
                    &self.keys,
                    &self.issuer,
                    self.clock.now().unix_timestamp(),
                    hint,
                )
                .ok_or(InvalidLogout(
                    "The id_token_hint is not an ID token issued here.",
                ))?,
            ),
            None => None,
        };
        let hint_matches_session = match (&hint, session) {
            (Some(claims), Some(session)) => {
                claims.sub.as_deref() == Some(session.user_id.to_string().as_str())
                    && claims.str("sid") == Some(session.sid.as_str())
            }
            _ => false,
        };
        let hinted = match &hint {
            Some(claims) => Some(
                claims
                    .aud
                    .first()
                    .cloned()
                    .ok_or(InvalidLogout("The id_token_hint has no audience."))?,
            ),
            None => None,
        };
        let client_id = match (hinted.as_deref(), param("client_id")) {
            (Some(a), Some(b)) if a != b => {
                return Err(InvalidLogout("client_id does not match the id_token_hint."));
            }
            (Some(id), _) | (None, Some(id)) => Some(id.to_owned()),
            (None, None) if uri.is_some() => {
                return Err(InvalidLogout(
                    "post_logout_redirect_uri needs an id_token_hint or a client_id.",
                ));
            }
            (None, None) => None,
        };
        let client = match client_id {
            Some(id) => Some(
                match ClientId::parse_any(&id) {
                    Ok(id) => self.clients.find(&id).await.ok().flatten(),
                    Err(_) => None,
                }
                .ok_or(InvalidLogout("The client is unknown."))?,
            ),
            None => None,
        };
        let destination = match (uri, &client) {
            (Some(uri), Some(client)) => {
                if !client
                    .post_logout_redirect_uris
                    .iter()
                    .any(|r| r.as_str() == uri)
                {
                    return Err(InvalidLogout(
                        "post_logout_redirect_uri is not registered for this client.",
                    ));
                }
                let mut url = url::Url::parse(uri)
                    .map_err(|_| InvalidLogout("post_logout_redirect_uri is not usable."))?;
                if let Some(logout_state) = param("state") {
                    url.query_pairs_mut().append_pair("state", logout_state);
                }
                Some(url.into())
            }
            _ => None,
        };
        Ok(LogoutRequest {
            client,
            hint_matches_session,
            destination,
        })
    }

    /// Ends the session a cookie names (and the grants bound to it), audited once even when
    /// two logouts race.
    pub async fn end(
        &self,
        session_token: &str,
        source_ip: Option<&str>,
    ) -> Result<(), StoreError> {
        if let Some(ended) = self.sessions.end(session_token).await? {
            let event = AuditEvent::new(
                self.clock.now_seconds(),
                AuditEventType::LoggedOut,
                format!("user:{}", ended.user_id),
            )
            .subject(ended.user_id.to_string())
            .source_ip(source_ip.map(str::to_owned));
            self.audit.record(event).await;
        }
        Ok(())
    }
}
