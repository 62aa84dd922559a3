//! The authorization endpoint's decisions: who must log in, who must consent, and the
//! authorization codes issued once both are settled.

mod pushed;
mod request;
mod request_object;
mod response;
mod stored;

pub use pushed::{PUSHED_REQUEST_LIFETIME, Pushed, PushedRequest, REQUEST_URI_PREFIX};
pub use request::{AuthorizationRequest, AuthorizeError, MAX_NONCE_LEN, MAX_STATE_LEN, Prompt};
pub use request_object::MAX_REQUEST_OBJECT_LIFETIME_SECS;
pub use response::redirect_url;
pub use stored::StoredRequest;

use std::sync::Arc;

use time::Duration;

use crate::Clock;
use crate::client::{Client, ClientKeys};
use crate::client_cache::ClientCache;
use crate::error::{ErrorCode, OAuthError};
use crate::grant::{AuthorizationCode, Consent};
use crate::keys::KeyRing;
use crate::random::random_token;
use crate::secret::SecretHash;
use crate::session::Session;
use crate::store::Store;
use crate::token::id_token::verify_id_token_hint;
use crate::token::userinfo_audience;
use crate::user::UserId;

/// RFC 9700 4.2.1 and the OAuth 2.1 draft: codes are short-lived.
pub const CODE_LIFETIME: Duration = Duration::seconds(60);

/// Whether the parameter `name` is present.
fn has(params: &[(String, String)], name: &str) -> bool {
    params.iter().any(|(k, _)| k == name)
}

/// What the user agent is shown next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Login,
    /// The signed-in user must give (or first enrol) a second factor: the client or the
    /// server requires one and the session's login gave none.
    SecondFactor,
    Consent,
    /// Back to the client, with a code or an error.
    Redirect(String),
}

#[derive(Debug)]
pub struct Authorizer {
    store: Arc<dyn Store>,
    clients: Arc<ClientCache>,
    /// Verifies request objects (RFC 9101) with the clients' registered keys.
    client_keys: Arc<ClientKeys>,
    clock: Arc<dyn Clock>,
    /// Verifies `id_token_hint`s: ID tokens this server signed.
    keys: Arc<KeyRing>,
    issuer: String,
    /// The audience of access tokens meant for userinfo, a resource an OpenID Connect request
    /// may name.
    userinfo_audience: String,
    /// `OAUTH2_REQUIRE_PAR`: every request must have been pushed (RFC 9126 5).
    require_pushed: bool,
    /// `OAUTH2_REQUIRE_MFA`: every login behind a code must have given a second factor.
    require_mfa: bool,
}

impl Authorizer {
    pub fn new(
        store: Arc<dyn Store>,
        clients: Arc<ClientCache>,
        client_keys: Arc<ClientKeys>,
        clock: Arc<dyn Clock>,
        keys: Arc<KeyRing>,
        issuer: String,
    ) -> Self {
        Self {
            userinfo_audience: userinfo_audience(&issuer),
            store,
            clients,
            client_keys,
            clock,
            keys,
            issuer,
            require_pushed: false,
            require_mfa: false,
        }
    }

    /// Every user must give a second factor before a client gets a code for them
    /// (`OAUTH2_REQUIRE_MFA`; per client: `--require-mfa`).
    pub fn requiring_second_factors(mut self, required: bool) -> Self {
        self.require_mfa = required;
        self
    }

    /// Whether `session`'s login lacks the second factor `client` (or the server) requires.
    pub fn lacks_second_factor(&self, client: &Client, session: &Session) -> bool {
        (self.require_mfa || client.require_mfa) && !session.mfa
    }

    /// Every client must push its authorization requests (RFC 9126 5,
    /// `require_pushed_authorization_requests`).
    pub fn requiring_pushed_requests(mut self, required: bool) -> Self {
        self.require_pushed = required;
        self
    }

    /// Parses and checks an authorization request, including its `id_token_hint` (an ID
    /// token of this server, expired ones allowed: OpenID Connect Core 3.1.2.1). A request
    /// with a `request_uri` is the pushed request it names (RFC 9126 4), taken for good; one
    /// with a `request` is the request object's claims (RFC 9101 6.3).
    pub async fn parse(
        &self,
        params: Vec<(String, String)>,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        let pushed = has(&params, "request_uri");
        let params = if pushed {
            self.take_pushed(&params).await?
        } else {
            params
        };
        let params = if has(&params, "request") {
            self.open_request_object(&params).await?
        } else {
            params
        };
        self.check(params, pushed).await
    }

    /// Checks a request's parameters; `pushed` says they came through the PAR endpoint,
    /// which a client (or the server) may require.
    async fn check(
        &self,
        params: Vec<(String, String)>,
        pushed: bool,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        let mut request =
            request::parse_request(params, &self.clients, &self.userinfo_audience).await?;
        if !pushed && (self.require_pushed || request.client.require_pushed_authorization_requests)
        {
            return Err(AuthorizeError::Redirect {
                redirect_uri: request.redirect_uri,
                state: request.state,
                error: OAuthError::new(
                    ErrorCode::InvalidRequest,
                    "authorization requests must be pushed to the PAR endpoint first",
                ),
            });
        }
        if let Some(hint) = request.id_token_hint.take() {
            let error = |error: OAuthError| AuthorizeError::Redirect {
                redirect_uri: request.redirect_uri.clone(),
                state: request.state.clone(),
                error,
            };
            let now = self.clock.now().unix_timestamp();
            let subject = verify_id_token_hint(&self.keys, &self.issuer, now, &hint)
                .and_then(|claims| claims.sub)
                .ok_or_else(|| {
                    error(OAuthError::new(
                        ErrorCode::InvalidRequest,
                        "id_token_hint is not a valid ID token of this server",
                    ))
                })?;
            if request.login_hint.is_none()
                && let Ok(user_id) = UserId::parse(&subject)
            {
                let user = self
                    .store
                    .find_user(&user_id)
                    .await
                    .map_err(|e| error(e.into()))?;
                request.login_hint = user.map(|u| u.username.as_str().to_owned());
            }
            request.id_token_hint_subject = Some(subject);
        }
        Ok(request)
    }

    /// A request an interaction kept, with its client as it is now (`Ok(None)`: the client
    /// is gone or no longer registered for it).
    pub async fn restore(
        &self,
        stored: StoredRequest,
    ) -> Result<Option<AuthorizationRequest>, OAuthError> {
        Ok(stored
            .restore(&self.clients, &self.userinfo_audience)
            .await?)
    }

    /// The URL an error goes back to the client at (`None`: show a page instead).
    pub fn error_url(&self, error: &AuthorizeError) -> Option<String> {
        match error {
            AuthorizeError::Page(_) => None,
            AuthorizeError::Redirect {
                redirect_uri,
                state,
                error,
            } => redirect_url(redirect_uri, &self.issuer, state.as_deref(), Err(error)),
        }
    }

    fn reply(&self, request: &AuthorizationRequest, outcome: Result<&str, &OAuthError>) -> Next {
        match redirect_url(
            &request.redirect_uri,
            &self.issuer,
            request.state.as_deref(),
            outcome,
        ) {
            Some(url) => Next::Redirect(url),
            // Registration parsed the URI: this cannot happen; never redirect blindly.
            None => Next::Login,
        }
    }

    fn refuse(&self, request: &AuthorizationRequest, code: ErrorCode, why: &'static str) -> Next {
        self.reply(request, Err(&OAuthError::new(code, why)))
    }

    /// What happens next for this request, given the browser's session (if any) and whether
    /// the user has just logged in within this very request.
    pub async fn decide(
        &self,
        request: &AuthorizationRequest,
        session: Option<&Session>,
        just_logged_in: bool,
    ) -> Result<Next, OAuthError> {
        let now = self.clock.now();
        let Some(session) = session else {
            return Ok(if request.prompt.none {
                self.refuse(
                    request,
                    ErrorCode::LoginRequired,
                    "the user is not logged in",
                )
            } else {
                Next::Login
            });
        };
        if let Some(subject) = &request.id_token_hint_subject
            && *subject != session.user_id.to_string()
        {
            // Core 3.1.2.1: the client asked for another user than the one signed in.
            return Ok(if request.prompt.none {
                self.refuse(
                    request,
                    ErrorCode::LoginRequired,
                    "the signed-in user is not the one id_token_hint names",
                )
            } else {
                Next::Login
            });
        }
        if !just_logged_in {
            let too_old = request
                .max_age
                .is_some_and(|max| max == 0 || (now - session.auth_time).whole_seconds() > max);
            if request.prompt.login || too_old {
                return Ok(if request.prompt.none {
                    self.refuse(
                        request,
                        ErrorCode::LoginRequired,
                        "the login is older than max_age",
                    )
                } else {
                    Next::Login
                });
            }
        }
        if self.lacks_second_factor(&request.client, session) {
            return Ok(if request.prompt.none {
                self.refuse(
                    request,
                    ErrorCode::InteractionRequired,
                    "the client requires a second factor the login did not give",
                )
            } else {
                Next::SecondFactor
            });
        }
        if self.needs_consent(request, session).await? {
            return Ok(if request.prompt.none {
                self.refuse(
                    request,
                    ErrorCode::ConsentRequired,
                    "the user has not consented to this request",
                )
            } else {
                Next::Consent
            });
        }
        self.issue_code(request, session).await
    }

    async fn needs_consent(
        &self,
        request: &AuthorizationRequest,
        session: &Session,
    ) -> Result<bool, OAuthError> {
        if request.client.skip_consent {
            return Ok(false);
        }
        if request.prompt.consent {
            return Ok(true);
        }
        let consent = self
            .store
            .find_consent(&session.user_id, &request.client.id)
            .await?;
        Ok(!consent.is_some_and(|c| request.scopes.iter().all(|s| c.scopes.contains(s))))
    }

    /// The user approved on the consent page: remembered (with what was approved before),
    /// then a code.
    pub async fn approve(
        &self,
        request: &AuthorizationRequest,
        session: &Session,
    ) -> Result<Next, OAuthError> {
        // Nothing is remembered for a login that cannot have the code yet.
        if self.lacks_second_factor(&request.client, session) {
            return Ok(Next::SecondFactor);
        }
        let previous = self
            .store
            .find_consent(&session.user_id, &request.client.id)
            .await?;
        let mut scopes = previous.map(|c| c.scopes).unwrap_or_default();
        for scope in &request.scopes {
            if !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
        scopes.sort();
        self.store
            .save_consent(&Consent {
                user_id: session.user_id,
                client_id: request.client.id.clone(),
                scopes,
                granted_at: self.clock.now_seconds(),
            })
            .await?;
        self.issue_code(request, session).await
    }

    /// The user denied on the consent page.
    pub fn deny(&self, request: &AuthorizationRequest) -> Next {
        self.refuse(
            request,
            ErrorCode::AccessDenied,
            "the user denied the request",
        )
    }

    async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        session: &Session,
    ) -> Result<Next, OAuthError> {
        // The one place codes are made: whatever page led here, a session without the second
        // factor the client requires never gets one.
        if self.lacks_second_factor(&request.client, session) {
            return Ok(Next::SecondFactor);
        }
        let code = random_token::<32>();
        let now = self.clock.now_seconds();
        let record = AuthorizationCode {
            code_hash: SecretHash::of(&code),
            grant_id: random_token::<16>(),
            client_id: request.client.id.clone(),
            user_id: session.user_id,
            sid: session.sid.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.as_str().to_owned(),
            nonce: request.nonce.clone(),
            scopes: request.scopes.clone(),
            resources: request.resources.clone(),
            dpop_jkt: request.dpop_jkt.clone(),
            auth_time: session.auth_time,
            mfa: session.mfa,
            expires_at: now + CODE_LIFETIME,
            consumed_at: None,
        };
        if !self.store.insert_code(&record).await? {
            // The session ended (a logout) after it was read: its codes were voided, and this
            // one would have outlived it.
            return Ok(if request.prompt.none {
                self.refuse(request, ErrorCode::LoginRequired, "the session has ended")
            } else {
                Next::Login
            });
        }
        Ok(self.reply(request, Ok(&code)))
    }
}
