//! `Sessions`: starting, resuming and ending login sessions over the store.

use std::sync::Arc;

use secrecy::SecretString;
use time::Duration;

use super::{PresentedSession, Session, SessionSettings, SessionToken};
use crate::Clock;
use crate::random::random_token;
use crate::secret::SecretHash;
use crate::store::{Store, StoreError};
use crate::user::User;

/// Writes of `last_seen` are skipped when the last one is this recent: a busy browser does not
/// turn every page into a database write, and idle expiry is off by at most this much.
const TOUCH_INTERVAL: Duration = Duration::seconds(60);

#[derive(Debug)]
pub struct Sessions {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: SessionSettings,
}

impl Sessions {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: SessionSettings) -> Self {
        Self {
            store,
            clock,
            settings,
        }
    }

    pub fn settings(&self) -> SessionSettings {
        self.settings
    }

    /// A new session for a user who has just authenticated, replacing the browser's
    /// previous one (`previous`: its cookie token). Always a new id: an id known before login
    /// (fixation) is never promoted. The same user re-authenticating keeps the session's
    /// `sid` and grants; another user's session ends with its grants. `mfa`: the login gave a
    /// second factor.
    pub async fn start(
        &self,
        user: &User,
        previous: Option<&str>,
        mfa: bool,
    ) -> Result<(SessionToken, Session), StoreError> {
        let mut sid = None;
        if let Some(previous) = previous {
            let old = self.store.delete_session(&SecretHash::of(previous)).await?;
            match old {
                Some(old) if old.user_id == user.id => sid = Some(old.sid),
                Some(old) => {
                    self.store
                        .revoke_session_grants(&old.sid, self.clock.now_seconds())
                        .await?;
                }
                None => {}
            }
        }
        let token = random_token::<32>();
        let now = self.clock.now_seconds();
        let session = Session {
            id_hash: SecretHash::of(&token),
            sid: sid.unwrap_or_else(random_token::<16>),
            user_id: user.id,
            auth_time: now,
            mfa,
            last_seen: now,
            expires_at: now + self.settings.absolute,
        };
        self.store.insert_session(&session).await?;
        Ok((SessionToken(SecretString::from(token)), session))
    }

    /// A second factor given within `user`'s live session (the browser's cookie token
    /// `previous`): the session goes on under a new token (a login that gains a factor never
    /// keeps its id) with its `sid`, login time and absolute lifetime, now marked `mfa`.
    /// `None` when that session has ended or is another user's: a code alone starts nothing.
    pub async fn step_up(
        &self,
        user: &User,
        previous: Option<&str>,
    ) -> Result<Option<(SessionToken, Session)>, StoreError> {
        let Some(previous) = previous else {
            return Ok(None);
        };
        let Some(old) = self
            .resume(previous)
            .await?
            .filter(|s| s.user_id == user.id)
        else {
            return Ok(None);
        };
        // Of two posts racing, one takes the session over.
        if self.store.delete_session(&old.id_hash).await?.is_none() {
            return Ok(None);
        }
        let token = random_token::<32>();
        let session = Session {
            id_hash: SecretHash::of(&token),
            mfa: true,
            last_seen: self.clock.now_seconds(),
            ..old
        };
        self.store.insert_session(&session).await?;
        Ok(Some((SessionToken(SecretString::from(token)), session)))
    }

    /// The live session a cookie names: within both lifetimes, its user still enabled.
    pub async fn resume(&self, token: &str) -> Result<Option<Session>, StoreError> {
        let id_hash = SecretHash::of(token);
        let Some(PresentedSession {
            session,
            user_disabled,
        }) = self.store.find_presented_session(&id_hash).await?
        else {
            return Ok(None);
        };
        let now = self.clock.now();
        if now >= session.expires_at || now >= session.last_seen + self.settings.idle {
            return Ok(None);
        }
        if user_disabled {
            return Ok(None);
        }
        if now - session.last_seen >= TOUCH_INTERVAL {
            self.store.touch_session(&id_hash, now).await?;
        }
        Ok(Some(session))
    }

    /// The live session a cookie names, if any. A store failure counts as none (logged):
    /// the user is asked to sign in rather than shown an error.
    pub async fn current(&self, token: Option<&str>) -> Option<Session> {
        match self.resume(token?).await {
            Ok(session) => session,
            Err(e) => {
                tracing::error!(error = %crate::error_chain(&e), "session lookup failed");
                None
            }
        }
    }

    /// How many sessions are live now (within both lifetimes).
    pub async fn count_live(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        self.store
            .count_live_sessions(now, now - self.settings.idle)
            .await
    }

    /// Ends a session (logout) and revokes the grants bound to it; offline grants outlive it.
    pub async fn end(&self, token: &str) -> Result<Option<Session>, StoreError> {
        let Some(session) = self.store.delete_session(&SecretHash::of(token)).await? else {
            return Ok(None);
        };
        self.store
            .revoke_session_grants(&session.sid, self.clock.now_seconds())
            .await?;
        Ok(Some(session))
    }
}
