//! Signing in with a password within an interaction (or with none waiting): the brute-force
//! counters are the caller's, the Argon2 check runs on the blocking pool, and a success starts
//! a session and moves the walk on, or, for a user with a second factor, asks for it first.

use secrecy::{ExposeSecret, SecretString};

use super::service::{Interactions, Loaded, Walk};
use super::state::State;
use super::{Answer, Browser, InteractionError, LoginAttempts, Step};
use crate::audit::{AuditEvent, AuditEventType};
use crate::session::Session;
use crate::user::{User, Username};

impl Interactions {
    pub(super) async fn log_in(
        &self,
        loaded: Option<Loaded>,
        browser: &Browser<'_>,
        username: &str,
        password: &str,
        attempts: &dyn LoginAttempts,
    ) -> Result<Answer, InteractionError> {
        let Some(user) = self
            .check_password(browser, username, password, attempts)
            .await?
        else {
            return Ok(Step::Login {
                client_name: loaded.as_ref().and_then(|l| l.walk.client_name()),
                interaction: loaded.map(|l| l.id),
                username: username.to_owned(),
                failed: true,
            }
            .into());
        };
        if self.factors.has_totp(&user.id).await? {
            // The password alone opens nothing, and clears no counter: a password guessed
            // right must not buy unlimited guesses at the code.
            let (existing, mut state, client_name) = match loaded {
                Some(Loaded {
                    id,
                    id_hash,
                    state,
                    walk,
                }) => (Some((id, id_hash)), state, walk.client_name()),
                None => (None, State::sign_in(), None),
            };
            state.password_checked_for = Some(user.id.to_string());
            state.code_failures = 0;
            let step = self
                .show_second_factor(existing, state, browser, user.id, client_name)
                .await?;
            return Ok(step.into());
        }
        attempts.succeeded().await;
        let (token, session) = self
            .sessions
            .start(&user, browser.session_token, false)
            .await?;
        self.record_login(&user, browser).await;
        let step = self.signed_in(loaded, browser, &session).await?;
        Ok(Answer {
            step,
            started: Some(token),
        })
    }

    pub(super) async fn record_login(&self, user: &User, browser: &Browser<'_>) {
        self.audit
            .record(
                AuditEvent::new(
                    self.clock.now_seconds(),
                    AuditEventType::LoginSucceeded,
                    format!("user:{}", user.id),
                )
                .subject(user.id.to_string())
                .source_ip(browser.source_ip.map(str::to_owned)),
            )
            .await;
    }

    /// Where the walk goes once a login started `session`: on to the application waiting,
    /// or the signed-in message when none is.
    pub(super) async fn signed_in(
        &self,
        loaded: Option<Loaded>,
        browser: &Browser<'_>,
        session: &Session,
    ) -> Result<Step, InteractionError> {
        match loaded {
            None => Ok(Step::SignedIn),
            Some(Loaded {
                id,
                id_hash,
                state,
                walk: Walk::Authorize(request),
            }) => {
                let next = self.authorizer.decide(&request, Some(session), true).await;
                self.proceed(
                    Some((id, id_hash)),
                    Some(state),
                    request,
                    browser,
                    Some(session),
                    next,
                )
                .await
            }
            Some(Loaded {
                id,
                id_hash,
                state,
                walk: Walk::Device(device),
            }) => {
                self.device_step(Some((id, id_hash)), state, device, browser, Some(session))
                    .await
            }
            Some(Loaded {
                id_hash,
                walk: Walk::SignIn,
                ..
            }) => {
                self.store.delete_interaction(&id_hash).await?;
                Ok(Step::SignedIn)
            }
        }
    }

    /// The user, if the password is theirs and the account enabled. Argon2 runs on the
    /// blocking pool; an unknown user costs the same verification. Failures are counted by
    /// `attempts` and audited.
    async fn check_password(
        &self,
        browser: &Browser<'_>,
        username: &str,
        password: &str,
        attempts: &dyn LoginAttempts,
    ) -> Result<Option<User>, InteractionError> {
        let user = match Username::parse(username) {
            Ok(name) => self.store.find_user_by_username(&name).await?,
            Err(_) => None,
        };
        let authenticator = self.authenticator.clone();
        let candidate = user.clone();
        let password = SecretString::from(password.to_owned());
        let ok = tokio::task::spawn_blocking(move || {
            authenticator.check(candidate.as_ref(), password.expose_secret())
        })
        .await
        .unwrap_or(false);
        attempts.verified();
        if ok {
            return Ok(user);
        }
        let locked = attempts.failed().await;
        let mut event = AuditEvent::new(
            self.clock.now_seconds(),
            AuditEventType::LoginFailed,
            "anonymous",
        )
        .source_ip(browser.source_ip.map(str::to_owned))
        .failed(match (user.is_some(), locked) {
            (true, false) => "wrong_password_or_disabled",
            (true, true) => "wrong_password_or_disabled_locked_out",
            (false, false) => "unknown_user",
            (false, true) => "unknown_user_locked_out",
        });
        event.subject = user.map(|u| u.id.to_string());
        self.audit.record(event).await;
        Ok(None)
    }
}
