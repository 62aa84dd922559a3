//! Second factors: a time-based one-time password (RFC 6238) a user enrols once and gives
//! after their password, its key sealed at rest under the root secret.
//!
//! A user with a factor always gives it at login: their session starts only after the code.
//! A user without one is asked to enrol when a client requires it (`--require-mfa`) or the
//! server does (`OAUTH2_REQUIRE_MFA`). Each code counts once (RFC 6238 5.2), on every
//! instance: the step of the last code accepted is kept with the key, and only a later one's
//! code is accepted, in one statement.

mod service;
mod totp;

pub use service::{SecondFactors, Verified};
pub use totp::{OneTimeCode, TotpSecret, key_uri};

use time::OffsetDateTime;

use crate::user::UserId;

/// Wrong codes one interaction takes before the login form is shown again. What bounds
/// guessing is the brute-force lock (per account and source), which counts every wrong code,
/// one check at a time per user: this only sends a user who keeps failing back to start.
pub const MAX_CODE_FAILURES: u8 = 5;

/// A user's TOTP factor as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTotp {
    pub user_id: UserId,
    /// The key, sealed (AES-256-GCM, under a key derived from the root secret) with the user
    /// id as authenticated context: a row copied to another user does not open.
    pub sealed_secret: Vec<u8>,
    /// The time step (RFC 6238 `T`) of the last code accepted; only a code of a later step
    /// is accepted next, so neither a code nor an older one counts twice (RFC 6238 5.2).
    pub last_step: i64,
    pub created_at: OffsetDateTime,
}
