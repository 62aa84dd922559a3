//! A browser's walk through sign-in and consent, kept server-side under an opaque id.
//!
//! An authorization request is checked once, by [`Interactions::begin`]. When the browser
//! must be shown a page, the checked request is stored as an interaction (hashed id, bound to
//! the browser's CSRF cookie, short-lived), and every page post is one
//! [`Interactions::advance`] call that answers the next [`Step`]. The walk ends with the
//! redirect back to the client, and the interaction with it: a form posted twice finishes
//! once. A device's request (RFC 8628) walks the same pages from the verification page and
//! ends on a page of its own: the device learns the answer by polling. A user with a second
//! factor gives it on a page of its own after the password; a user without one enrols there
//! when the client or the server requires it. New stages (upstream login) are new steps here.

mod device;
pub mod record;
mod second_factor;
mod service;
mod sign_in;
mod state;

pub use record::StoredInteraction;
pub use service::{Credentials, Interactions};

use secrecy::{ExposeSecret, SecretString};
use time::Duration;

use crate::client::Scope;
use crate::error::OAuthError;
use crate::random::random_token;
use crate::session::SessionToken;
use crate::store::StoreError;

/// How long an interaction waits for the browser's next post, counted from its last step.
pub const INTERACTION_LIFETIME: Duration = Duration::minutes(15);

/// The opaque id of an interaction: 256 random bits, carried by the page's form. Only its
/// SHA-256 is stored.
pub struct InteractionId(pub(super) SecretString);

impl InteractionId {
    pub(super) fn generate() -> Self {
        Self(SecretString::from(random_token::<32>()))
    }

    /// The value for the form's hidden field.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for InteractionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InteractionId(..)")
    }
}

/// The browser as an interaction sees it.
#[derive(Debug, Clone, Copy)]
pub struct Browser<'a> {
    /// The value of the browser's encrypted CSRF cookie: an interaction started in one
    /// browser cannot be advanced from another.
    pub binding: &'a str,
    /// The session cookie's token, if the browser has one.
    pub session_token: Option<&'a str>,
    /// The client's address as text, for the audit trail.
    pub source_ip: Option<&'a str>,
}

/// The brute-force counters of one login attempt (its account and source), kept by the
/// caller: core reports the outcome, the caller counts (in memory, or in a store shared by
/// every instance).
#[async_trait::async_trait]
pub trait LoginAttempts: Send + Sync {
    /// The password hash was verified (whatever the outcome): the caller may release what it
    /// holds for the verification, such as a slot of its bounded Argon2 concurrency, before
    /// the rest of the step (session, audit, consent) runs.
    fn verified(&self) {}
    /// A failed attempt; true when it locked the account and source out.
    async fn failed(&self) -> bool;
    /// A successful attempt.
    async fn succeeded(&self);
}

/// The brute-force counters of one-time codes, kept by the caller as for passwords (per
/// account and source), asked by core, which alone knows whose code it is. `account` is the
/// username.
#[async_trait::async_trait]
pub trait CodeAttempts: Send + Sync {
    /// How long the account (or the source) is locked out for, if it is.
    async fn retry_after(&self, account: &str) -> Option<std::time::Duration>;
    /// A wrong code.
    async fn failed(&self, account: &str);
    /// A right one.
    async fn succeeded(&self, account: &str);
}

impl std::fmt::Debug for dyn CodeAttempts + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeAttempts")
    }
}

/// What the browser posts. Its `Debug` names the username only: never a password or a code.
pub enum Input<'a> {
    /// The login form (`username`, `password`).
    Password {
        username: &'a str,
        password: &'a str,
        attempts: &'a dyn LoginAttempts,
    },
    /// The second-factor form's `otp`: a code of the user's authenticator app (RFC 6238).
    Code {
        otp: &'a str,
        attempts: &'a dyn CodeAttempts,
    },
    /// The consent form's `decision`.
    Decision(Decision),
}

impl std::fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .finish_non_exhaustive(),
            Self::Code { .. } => f.write_str("Code(..)"),
            Self::Decision(decision) => f.debug_tuple("Decision").field(decision).finish(),
        }
    }
}

impl std::fmt::Debug for dyn LoginAttempts + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginAttempts")
    }
}

/// The user's answer on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

/// What the browser is shown next.
#[derive(Debug)]
pub enum Step {
    /// The login form. `interaction` is `None` for a sign-in with no application waiting.
    Login {
        interaction: Option<InteractionId>,
        client_name: Option<String>,
        /// Pre-filled: the `login_hint`, or what was typed before a failure.
        username: String,
        /// The previous attempt failed.
        failed: bool,
    },
    /// The second-factor page: the code of the user's authenticator app, after enrolling the
    /// key shown in `enrollment` if they have none yet.
    SecondFactor {
        interaction: InteractionId,
        client_name: Option<String>,
        enrollment: Option<Enrollment>,
        /// The previous code was wrong (or already used).
        failed: bool,
    },
    /// The consent page for the signed-in user.
    Consent {
        interaction: InteractionId,
        client_name: String,
        /// For a client described by a metadata document: the host serving it, which vouches
        /// for the client (its name is only the client's own claim).
        client_host: Option<String>,
        username: String,
        scopes: Vec<Scope>,
        after: AfterConsent,
    },
    /// Back to the client: a code, or an error for it (RFC 6749 4.1.2).
    Redirect(String),
    /// A device's request was answered; the user may go back to the device.
    DeviceAnswered(Decision),
    /// A sign-in with no application waiting succeeded.
    SignedIn,
}

/// A key to add to an authenticator app, shown on the second-factor page until a code of it
/// comes back. Only its own page shows it: it is never logged.
pub struct Enrollment {
    /// The key in base32 (RFC 4648), for typing in.
    pub secret: String,
    /// The `otpauth://totp/...` URI apps import.
    pub key_uri: String,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrollment(..)")
    }
}

/// Where the consent page's answer goes, which the page tells the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterConsent {
    /// The browser is sent back to the client, at this host.
    Redirect { host: String },
    /// A device waits for it (RFC 8628): the page repeats the user code and warns the user to
    /// continue only if they started this on their own device and it shows that code (RFC
    /// 8628 3.3.1 and 5.4, remote phishing).
    Device { user_code: String },
}

/// The next step, and the session this step started, if any (its cookie must be set).
#[derive(Debug)]
pub struct Answer {
    pub step: Step,
    pub started: Option<SessionToken>,
}

impl From<Step> for Answer {
    fn from(step: Step) -> Self {
        Self {
            step,
            started: None,
        }
    }
}

/// Why a page post cannot go on. Errors meant for the client are redirects, never these.
#[derive(Debug, thiserror::Error)]
pub enum InteractionError {
    /// The request names no established client and redirect URI (RFC 6749 4.1.2.1): shown
    /// to the user, never redirected.
    #[error("invalid authorization request: {0}")]
    Invalid(OAuthError),
    /// The interaction is unknown, expired, finished, or was started in another browser.
    #[error("the interaction is unknown or expired")]
    Expired,
    /// The account or source is locked out after wrong codes, for this long.
    #[error("too many wrong codes")]
    TooManyAttempts(std::time::Duration),
    /// The store failed; the cause is logged.
    #[error("the store is unavailable")]
    Unavailable,
}

impl From<StoreError> for InteractionError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %crate::error_chain(&e), "interaction store failed");
        Self::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoCounts;

    #[async_trait::async_trait]
    impl CodeAttempts for NoCounts {
        async fn retry_after(&self, _: &str) -> Option<std::time::Duration> {
            None
        }
        async fn failed(&self, _: &str) {}
        async fn succeeded(&self, _: &str) {}
    }

    #[async_trait::async_trait]
    impl LoginAttempts for NoCounts {
        async fn failed(&self) -> bool {
            false
        }
        async fn succeeded(&self) {}
    }

    #[test]
    fn what_the_browser_posts_never_shows_a_password_a_code_or_a_key() {
        let password = Input::Password {
            username: "alice",
            password: "correct horse battery",
            attempts: &NoCounts,
        };
        let code = Input::Code {
            otp: "287082",
            attempts: &NoCounts,
        };
        let enrollment = Enrollment {
            secret: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ".into(),
            key_uri: "otpauth://totp/i:a?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ".into(),
        };
        let shown = format!("{password:?} {code:?} {enrollment:?}");
        assert!(shown.contains("alice"), "{shown}");
        for secret in ["correct horse", "287082", "GEZDGNBV"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}
