//! Login sessions: kept server-side; the browser holds only a random token whose SHA-256 is
//! the key here.

mod service;

pub use service::Sessions;

use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};

use crate::secret::SecretHash;
use crate::user::UserId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the cookie's token: a database leak yields no usable session.
    pub id_hash: SecretHash,
    /// Public identifier, the `sid` claim of ID and logout tokens.
    pub sid: String,
    pub user_id: UserId,
    /// When the user authenticated (`auth_time`).
    pub auth_time: OffsetDateTime,
    /// The login gave a second factor after the password (a TOTP code, RFC 8176 `otp`).
    pub mfa: bool,
    /// Last use, for the idle lifetime.
    pub last_seen: OffsetDateTime,
    /// The absolute lifetime's end.
    pub expires_at: OffsetDateTime,
}

/// A session with its user's standing, read together: what resuming it from a cookie needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedSession {
    pub session: Session,
    /// The session's user is disabled (`ostiary user disable`): the session is over.
    pub user_disabled: bool,
}

/// How long a session lasts: idle (since last use) and absolute (since login).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    pub idle: Duration,
    pub absolute: Duration,
}

/// The session cookie's value: 256 random bits, shown to the browser only.
pub struct SessionToken(pub(crate) SecretString);

impl SessionToken {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(..)")
    }
}
