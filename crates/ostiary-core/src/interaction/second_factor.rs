//! The second-factor page within an interaction: the code of the user's authenticator app
//! after the password, or, for a user without a factor whom a client or the server requires
//! to have one, the enrolment of a new key confirmed by its first code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::service::{Interactions, Loaded, Walk};
use super::state::{Stage, State};
use super::{Answer, Browser, CodeAttempts, Enrollment, InteractionError, InteractionId, Step};
use crate::audit::{AuditEvent, AuditEventType};
use crate::mfa::{MAX_CODE_FAILURES, OneTimeCode, TotpSecret, Verified};
use crate::secret::SecretHash;
use crate::user::{User, UserId};

impl Interactions {
    /// Keeps the interaction at the second-factor page of `user`, and shows it: with a new
    /// key to enrol when the user has none.
    pub(super) async fn show_second_factor(
        &self,
        existing: Option<(InteractionId, SecretHash)>,
        state: State,
        browser: &Browser<'_>,
        user: UserId,
        client_name: Option<String>,
    ) -> Result<Step, InteractionError> {
        self.second_factor_page(existing, state, browser, user, client_name, false)
            .await
    }

    async fn second_factor_page(
        &self,
        existing: Option<(InteractionId, SecretHash)>,
        mut state: State,
        browser: &Browser<'_>,
        user_id: UserId,
        client_name: Option<String>,
        failed: bool,
    ) -> Result<Step, InteractionError> {
        let user = self
            .store
            .find_user(&user_id)
            .await?
            .ok_or(InteractionError::Expired)?;
        let owner = user_id.to_string();
        if state.user.as_deref() != Some(owner.as_str()) {
            // Another user than the page was last shown to: nothing of theirs carries over.
            state.enrolling = None;
            state.code_failures = 0;
        }
        state.stage = Stage::SecondFactor;
        state.user = Some(owner);
        let enrollment = if self.factors.has_totp(&user_id).await? {
            state.enrolling = None;
            None
        } else {
            // The same key until a code of it comes back: the user may have added it already.
            let secret = match state.enrolling(browser.binding) {
                Some(secret) => secret,
                None => {
                    let secret = TotpSecret::generate();
                    state.set_enrolling(&secret, browser.binding)?;
                    secret
                }
            };
            Some(Enrollment {
                secret: secret.to_base32(),
                key_uri: self.factors.key_uri(&secret, user.username.as_str()),
            })
        };
        let interaction = self.save(existing, &state, browser).await?;
        Ok(Step::SecondFactor {
            interaction,
            client_name,
            enrollment,
            failed,
        })
    }

    /// A code posted on the second-factor page. Right: the user's session starts (or goes on,
    /// now with the factor) and the walk goes on. Wrong: the page again, until
    /// [`MAX_CODE_FAILURES`] send the user back to the login form. A user's codes are checked
    /// one at a time, each failure counted before the next check asks whether the account is
    /// locked: parallel posts cannot all pass that question first.
    pub(super) async fn enter_code(
        &self,
        mut loaded: Loaded,
        browser: &Browser<'_>,
        otp: &str,
        attempts: &dyn CodeAttempts,
    ) -> Result<Answer, InteractionError> {
        let (user, password_checked) = self.code_owner(&loaded, browser).await?;
        let _turn = self.code_checks.turn(user.id).await;
        let account = user.username.as_str();
        if let Some(wait) = attempts.retry_after(account).await {
            return Err(InteractionError::TooManyAttempts(wait));
        }
        let enrolling = loaded.state.enrolling(browser.binding);
        let verified = match (OneTimeCode::parse(otp), &enrolling) {
            (None, _) => Verified::Refused,
            (Some(code), Some(secret)) => {
                if self.factors.enroll(&user.id, secret, Some(&code)).await? {
                    Verified::Accepted
                } else {
                    Verified::Refused
                }
            }
            (Some(code), None) => self.factors.verify(&user.id, &code).await?,
        };
        match verified {
            Verified::Accepted => {}
            // The factor was removed while the page was open: start again.
            Verified::NotEnrolled => return Err(InteractionError::Expired),
            Verified::Refused => {
                attempts.failed(account).await;
                self.record_factor(AuditEventType::MfaFailed, &user, browser, true)
                    .await;
                return self.code_refused(loaded, browser, user.id).await;
            }
        }
        attempts.succeeded(account).await;
        if enrolling.is_some() {
            self.record_factor(AuditEventType::MfaEnrolled, &user, browser, false)
                .await;
        }
        self.record_factor(AuditEventType::MfaSucceeded, &user, browser, false)
            .await;
        let (token, session) = if password_checked {
            self.record_login(&user, browser).await;
            self.sessions
                .start(&user, browser.session_token, true)
                .await?
        } else {
            // The password was given earlier, in the session this code completes.
            self.sessions
                .step_up(&user, browser.session_token)
                .await?
                .ok_or(InteractionError::Expired)?
        };
        loaded.state.password_checked_for = None;
        loaded.state.enrolling = None;
        loaded.state.code_failures = 0;
        let step = self.signed_in(Some(loaded), browser, &session).await?;
        Ok(Answer {
            step,
            started: Some(token),
        })
    }

    /// The user a second-factor page waits for, if this browser may answer it, and whether
    /// this walk checked their password: otherwise their own session must be signed in.
    async fn code_owner(
        &self,
        loaded: &Loaded,
        browser: &Browser<'_>,
    ) -> Result<(User, bool), InteractionError> {
        let state = &loaded.state;
        let Some(owner) = state
            .user
            .as_deref()
            .filter(|_| state.stage == Stage::SecondFactor)
        else {
            return Err(InteractionError::Expired);
        };
        let user_id = UserId::parse(owner).map_err(|_| InteractionError::Expired)?;
        let password_checked = state.password_checked_for.as_deref() == Some(owner);
        if !password_checked {
            let session = self.session(browser).await;
            if session.map(|s| s.user_id) != Some(user_id) {
                return Err(InteractionError::Expired);
            }
        }
        let user = self
            .store
            .find_user(&user_id)
            .await?
            .filter(|user| !user.disabled)
            .ok_or(InteractionError::Expired)?;
        Ok((user, password_checked))
    }

    /// The page after a wrong code: the same page, or, after too many, the login form.
    async fn code_refused(
        &self,
        loaded: Loaded,
        browser: &Browser<'_>,
        user: UserId,
    ) -> Result<Answer, InteractionError> {
        let Loaded {
            id,
            id_hash,
            mut state,
            walk,
        } = loaded;
        state.code_failures = state.code_failures.saturating_add(1);
        let client_name = walk.client_name();
        if state.code_failures < MAX_CODE_FAILURES {
            let existing = Some((id, id_hash));
            return Ok(self
                .second_factor_page(existing, state, browser, user, client_name, true)
                .await?
                .into());
        }
        let step = match walk {
            // No application waits: the plain login form, and the walk is over.
            Walk::SignIn => {
                self.store.delete_interaction(&id_hash).await?;
                Step::Login {
                    interaction: None,
                    client_name: None,
                    username: String::new(),
                    failed: false,
                }
            }
            Walk::Authorize(_) | Walk::Device(_) => {
                self.show_login(
                    Some((id, id_hash)),
                    state,
                    browser,
                    client_name.unwrap_or_default(),
                    String::new(),
                )
                .await?
            }
        };
        Ok(step.into())
    }

    async fn record_factor(
        &self,
        event_type: AuditEventType,
        user: &User,
        browser: &Browser<'_>,
        failed: bool,
    ) {
        let mut event = AuditEvent::new(
            self.clock.now_seconds(),
            event_type,
            format!("user:{}", user.id),
        )
        .subject(user.id.to_string())
        .source_ip(browser.source_ip.map(str::to_owned));
        if failed {
            event = event.failed("wrong_or_used_code");
        }
        self.audit.record(event).await;
    }
}

/// Code checks in progress, one queue per user: a check holds its user's turn from the lock's
/// question to the failure's count, so a user's codes are checked one after another on this
/// instance. Entries go when their last turn ends: the map holds users being checked only.
#[derive(Debug, Default)]
pub(super) struct CodeChecks(Mutex<HashMap<UserId, Arc<tokio::sync::Mutex<()>>>>);

/// A user's turn to have a code checked; the next waits until it is dropped.
pub(super) struct Turn<'a> {
    checks: &'a CodeChecks,
    user: UserId,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl CodeChecks {
    pub(super) async fn turn(&self, user: UserId) -> Turn<'_> {
        let queue = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(user)
            .or_default()
            .clone();
        Turn {
            checks: self,
            user,
            held: Some(queue.lock_owned().await),
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.held.take());
        let mut queues = self.checks.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Only the map holds it now: nobody waits.
        if queues
            .get(&self.user)
            .is_some_and(|queue| Arc::strong_count(queue) == 1)
        {
            queues.remove(&self.user);
        }
    }
}
