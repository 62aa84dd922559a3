//! `Interactions`: begins an interaction from an authorization request and advances it by
//! one page post at a time.

use std::sync::Arc;

use secrecy::SecretString;

use super::device::PendingDevice;
use super::second_factor::CodeChecks;
use super::state::{Purpose, Stage, State};
use super::{
    AfterConsent, Answer, Browser, Decision, INTERACTION_LIFETIME, Input, InteractionError,
    InteractionId, Step, StoredInteraction,
};
use crate::Clock;
use crate::audit::{AuditEvent, AuditEventType, AuditSink};
use crate::authorize::{
    AuthorizationRequest, AuthorizeError, Authorizer, Next, Pushed, StoredRequest,
};
use crate::client::{Client, Scope};
use crate::device::DeviceAuthorizations;
use crate::error::OAuthError;
use crate::login::UserAuthenticator;
use crate::mfa::SecondFactors;
use crate::secret::SecretHash;
use crate::session::{Session, Sessions};
use crate::store::Store;
use crate::token::Confirmation;

/// An interaction loaded for a post: its id, its state and what it is for.
pub(super) struct Loaded {
    pub id: InteractionId,
    pub id_hash: SecretHash,
    pub state: State,
    pub walk: Walk,
}

/// What a consent page shows besides the user it asks.
pub(super) struct ConsentPage {
    pub client_name: String,
    /// The metadata document's host, for a client that has one.
    pub client_host: Option<String>,
    pub scopes: Vec<Scope>,
    pub after: AfterConsent,
}

/// What a loaded interaction is for, restored to live values.
pub(super) enum Walk {
    Authorize(AuthorizationRequest),
    Device(PendingDevice),
    /// A sign-in with no application waiting.
    SignIn,
}

impl Walk {
    /// The application waiting, as its pages name it.
    pub(super) fn client_name(&self) -> Option<String> {
        match self {
            Self::Authorize(request) => Some(request.client.name.clone()),
            Self::Device(device) => Some(device.client.name.clone()),
            Self::SignIn => None,
        }
    }
}

/// How users prove who they are at sign-in: their password, then their second factor.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub passwords: Arc<UserAuthenticator>,
    pub second_factors: Arc<SecondFactors>,
}

/// The service that begins and advances interactions.
#[derive(Debug)]
pub struct Interactions {
    pub(super) store: Arc<dyn Store>,
    pub(super) authorizer: Arc<Authorizer>,
    pub(super) devices: Arc<DeviceAuthorizations>,
    pub(super) sessions: Arc<Sessions>,
    pub(super) authenticator: Arc<UserAuthenticator>,
    pub(super) factors: Arc<SecondFactors>,
    /// One code check at a time per user on this instance.
    pub(super) code_checks: CodeChecks,
    pub(super) audit: Arc<dyn AuditSink>,
    pub(super) clock: Arc<dyn Clock>,
}

impl Interactions {
    pub fn new(
        store: Arc<dyn Store>,
        authorizer: Arc<Authorizer>,
        devices: Arc<DeviceAuthorizations>,
        sessions: Arc<Sessions>,
        credentials: Credentials,
        audit: Arc<dyn AuditSink>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            authorizer,
            devices,
            sessions,
            authenticator: credentials.passwords,
            factors: credentials.second_factors,
            code_checks: CodeChecks::default(),
            audit,
            clock,
        }
    }

    pub(super) async fn session(&self, browser: &Browser<'_>) -> Option<Session> {
        self.sessions.current(browser.session_token).await
    }

    /// `POST /par` (RFC 9126): the authenticated `client`'s authorization request, checked
    /// and kept for one use within 60 seconds; see [`Authorizer::push`] for the errors. The
    /// browser's walk starts later, at `/authorize` with the returned `request_uri`.
    pub async fn push(
        &self,
        client: &Client,
        params: Vec<(String, String)>,
        dpop: Option<&Confirmation>,
    ) -> Result<Pushed, OAuthError> {
        self.authorizer.push(client, params, dpop).await
    }

    /// `GET`/`POST /authorize` (RFC 6749 4.1.1, OpenID Connect Core 3.1.2): checks the
    /// request once and answers the first step. An interaction is stored only when a page
    /// is shown; a signed-in user who already consented goes straight back to the client.
    pub async fn begin(
        &self,
        params: Vec<(String, String)>,
        browser: &Browser<'_>,
    ) -> Result<Answer, InteractionError> {
        let request = match self.authorizer.parse(params).await {
            Ok(request) => request,
            Err(AuthorizeError::Page(error)) => return Err(InteractionError::Invalid(error)),
            Err(error) => return Ok(Step::Redirect(self.error_redirect(&error)?).into()),
        };
        let session = self.session(browser).await;
        let next = self
            .authorizer
            .decide(&request, session.as_ref(), false)
            .await;
        self.proceed(None, None, request, browser, session.as_ref(), next)
            .await
            .map(Answer::from)
    }

    /// One page post of the interaction `id` (`None`: the login form with no application
    /// waiting), answering the next step.
    pub async fn advance(
        &self,
        id: Option<&str>,
        browser: &Browser<'_>,
        input: Input<'_>,
    ) -> Result<Answer, InteractionError> {
        let loaded = match id {
            Some(id) => Some(self.load(id, browser).await?),
            None => None,
        };
        match (input, loaded) {
            (
                Input::Password {
                    username,
                    password,
                    attempts,
                },
                loaded,
            ) => {
                self.log_in(loaded, browser, username, password, attempts)
                    .await
            }
            (Input::Code { otp, attempts }, Some(loaded)) => {
                self.enter_code(loaded, browser, otp, attempts).await
            }
            (Input::Decision(decision), Some(loaded)) => {
                self.decide_consent(loaded, browser, decision).await
            }
            (Input::Code { .. } | Input::Decision(_), None) => Err(InteractionError::Expired),
        }
    }

    async fn decide_consent(
        &self,
        loaded: Loaded,
        browser: &Browser<'_>,
        decision: Decision,
    ) -> Result<Answer, InteractionError> {
        let Loaded {
            id,
            id_hash,
            state,
            walk,
        } = loaded;
        let session = self.session(browser).await;
        let consenting = session
            .as_ref()
            .filter(|s| state.stage == Stage::Consent && state.user == Some(s.user_id.to_string()));
        let Some(session) = consenting else {
            // The session ended, or another user signed in, while the page was open: the
            // decision was not theirs to make; decide afresh.
            let existing = Some((id, id_hash));
            let step = match walk {
                Walk::Authorize(request) => {
                    let next = self
                        .authorizer
                        .decide(&request, session.as_ref(), false)
                        .await;
                    self.proceed(
                        existing,
                        Some(state),
                        request,
                        browser,
                        session.as_ref(),
                        next,
                    )
                    .await?
                }
                Walk::Device(device) => {
                    self.device_step(existing, state, device, browser, session.as_ref())
                        .await?
                }
                Walk::SignIn => return Err(InteractionError::Expired),
            };
            return Ok(step.into());
        };
        // Finished before the decision takes effect: of two posts of one form, one counts.
        if !self.store.delete_interaction(&id_hash).await? {
            return Err(InteractionError::Expired);
        }
        match walk {
            Walk::Authorize(request) => {
                self.answer_request(&request, session, browser, decision)
                    .await
            }
            Walk::Device(device) => {
                self.answer_device(&device, session, browser, decision)
                    .await
            }
            Walk::SignIn => Err(InteractionError::Expired),
        }
        .map(Answer::from)
    }

    /// The user's decision on an authorization request: a code or `access_denied`, at the
    /// client's redirect URI.
    async fn answer_request(
        &self,
        request: &AuthorizationRequest,
        session: &Session,
        browser: &Browser<'_>,
        decision: Decision,
    ) -> Result<Step, InteractionError> {
        let next = match decision {
            Decision::Approve => {
                let next = self.authorizer.approve(request, session).await;
                if matches!(next, Ok(Next::Redirect(_))) {
                    let event = AuditEvent::new(
                        self.clock.now_seconds(),
                        AuditEventType::ConsentGranted,
                        format!("user:{}", session.user_id),
                    )
                    .client(request.client.id.as_str())
                    .subject(session.user_id.to_string())
                    .source_ip(browser.source_ip.map(str::to_owned));
                    self.audit.record(event).await;
                }
                next
            }
            Decision::Deny => Ok(self.authorizer.deny(request)),
        };
        match next {
            Ok(Next::Redirect(url)) => Ok(Step::Redirect(url)),
            Ok(_) => Err(InteractionError::Expired),
            Err(error) => Ok(Step::Redirect(self.client_error(request, error)?)),
        }
    }

    /// Turns the authorizer's decision into the step to show, storing the interaction when a
    /// page follows and removing it when the walk ends. `state` is the existing interaction's;
    /// a new one's is made only when a page follows, so a request answered at once by the
    /// redirect costs nothing more.
    pub(super) async fn proceed(
        &self,
        existing: Option<(InteractionId, SecretHash)>,
        state: Option<State>,
        request: AuthorizationRequest,
        browser: &Browser<'_>,
        session: Option<&Session>,
        next: Result<Next, OAuthError>,
    ) -> Result<Step, InteractionError> {
        let next = match next {
            Ok(next) => next,
            Err(error) => Next::Redirect(self.client_error(&request, error)?),
        };
        match (next, session) {
            (Next::Redirect(url), _) => {
                // The walk is over. A login form posted twice may find it already removed by
                // the other post: each answered with its own code, as a fresh request would
                // be. A consent decision is claimed before it takes effect instead.
                if let Some((_, id_hash)) = &existing {
                    self.store.delete_interaction(id_hash).await?;
                }
                Ok(Step::Redirect(url))
            }
            (Next::SecondFactor, Some(session)) => {
                let state = state.unwrap_or_else(|| State::new(&request));
                let client_name = Some(request.client.name.clone());
                self.show_second_factor(existing, state, browser, session.user_id, client_name)
                    .await
            }
            (Next::Consent, Some(session)) => {
                let state = state.unwrap_or_else(|| State::new(&request));
                let page = ConsentPage {
                    client_name: request.client.name.clone(),
                    client_host: request.client.id.document_host(),
                    after: AfterConsent::Redirect {
                        host: redirect_host(&request.redirect_uri),
                    },
                    scopes: request.scopes,
                };
                self.show_consent(existing, state, browser, session, page)
                    .await
            }
            (Next::Login | Next::SecondFactor | Next::Consent, _) => {
                let state = state.unwrap_or_else(|| State::new(&request));
                let username = request.login_hint.unwrap_or_default();
                self.show_login(
                    existing,
                    state,
                    browser,
                    request.client.name.clone(),
                    username,
                )
                .await
            }
        }
    }

    /// Keeps the interaction at the login page, and shows it (pre-filled with `username`).
    pub(super) async fn show_login(
        &self,
        existing: Option<(InteractionId, SecretHash)>,
        mut state: State,
        browser: &Browser<'_>,
        client_name: String,
        username: String,
    ) -> Result<Step, InteractionError> {
        state.stage = Stage::Login;
        state.user = None;
        state.password_checked_for = None;
        state.enrolling = None;
        state.code_failures = 0;
        let interaction = self.save(existing, &state, browser).await?;
        Ok(Step::Login {
            interaction: Some(interaction),
            client_name: Some(client_name),
            username,
            failed: false,
        })
    }

    /// Keeps the interaction at the consent page of `session`'s user (the only one who may
    /// decide), and shows it.
    pub(super) async fn show_consent(
        &self,
        existing: Option<(InteractionId, SecretHash)>,
        mut state: State,
        browser: &Browser<'_>,
        session: &Session,
        page: ConsentPage,
    ) -> Result<Step, InteractionError> {
        state.stage = Stage::Consent;
        state.user = Some(session.user_id.to_string());
        let username = self
            .store
            .find_user(&session.user_id)
            .await?
            .map(|u| u.username.as_str().to_owned())
            .unwrap_or_default();
        let interaction = self.save(existing, &state, browser).await?;
        Ok(Step::Consent {
            interaction,
            client_name: page.client_name,
            client_host: page.client_host,
            username,
            scopes: page.scopes,
            after: page.after,
        })
    }

    /// Stores a new interaction, or the new state of an existing one (its life starts again).
    pub(super) async fn save(
        &self,
        existing: Option<(InteractionId, SecretHash)>,
        state: &State,
        browser: &Browser<'_>,
    ) -> Result<InteractionId, InteractionError> {
        let expires_at = self.clock.now_seconds() + INTERACTION_LIFETIME;
        let state = state.to_json()?;
        match existing {
            Some((id, id_hash)) => {
                let stored = StoredInteraction {
                    id_hash,
                    binding_hash: SecretHash::of(browser.binding),
                    state,
                    expires_at,
                };
                if !self.store.update_interaction(&stored).await? {
                    return Err(InteractionError::Expired);
                }
                Ok(id)
            }
            None => {
                let id = InteractionId::generate();
                let stored = StoredInteraction {
                    id_hash: SecretHash::of(id.expose()),
                    binding_hash: SecretHash::of(browser.binding),
                    state,
                    expires_at,
                };
                self.store.insert_interaction(&stored).await?;
                Ok(id)
            }
        }
    }

    /// The interaction a form names, if it is live and was started in this browser.
    async fn load(&self, id: &str, browser: &Browser<'_>) -> Result<Loaded, InteractionError> {
        let id_hash = SecretHash::of(id);
        let stored = self
            .store
            .find_interaction(&id_hash)
            .await?
            .filter(|s| s.expires_at > self.clock.now() && s.binding_hash.verify(browser.binding))
            .ok_or(InteractionError::Expired)?;
        let state = State::from_json(&stored.state)?;
        let walk = match &state.purpose {
            Purpose::Authorize { request } => Walk::Authorize(
                self.authorizer
                    .restore(StoredRequest::clone(request))
                    .await
                    .map_err(|_| InteractionError::Unavailable)?
                    .ok_or(InteractionError::Expired)?,
            ),
            // Answered on another page, expired, or its client gone: nothing left to decide.
            Purpose::Device { .. } => Walk::Device(
                self.pending_device(&state)
                    .await?
                    .ok_or(InteractionError::Expired)?,
            ),
            Purpose::SignIn { .. } => Walk::SignIn,
        };
        Ok(Loaded {
            id: InteractionId(SecretString::from(id.to_owned())),
            id_hash,
            state,
            walk,
        })
    }

    /// An error for the client, at its redirect URI.
    fn client_error(
        &self,
        request: &AuthorizationRequest,
        error: OAuthError,
    ) -> Result<String, InteractionError> {
        self.error_redirect(&AuthorizeError::Redirect {
            redirect_uri: request.redirect_uri.clone(),
            state: request.state.clone(),
            error,
        })
    }

    fn error_redirect(&self, error: &AuthorizeError) -> Result<String, InteractionError> {
        match (self.authorizer.error_url(error), error) {
            (Some(url), _) => Ok(url),
            (None, AuthorizeError::Page(e) | AuthorizeError::Redirect { error: e, .. }) => {
                Err(InteractionError::Invalid(e.clone()))
            }
        }
    }
}

/// The host the consent page names as where the browser returns.
fn redirect_host(redirect_uri: &str) -> String {
    url::Url::parse(redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| redirect_uri.to_owned())
}
