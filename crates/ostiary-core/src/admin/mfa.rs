//! Users' second factors: what a user has, an operator enrolling a TOTP key for them, and the
//! reset after a lost authenticator.

use time::OffsetDateTime;

use crate::audit::AuditEventType;
use crate::error::AdminError;
use crate::grant::RevocationReason;
use crate::mfa::TotpSecret;
use crate::user::{User, Username};
use crate::validation::InvalidInput;

use super::{Actor, Admin};

/// A user's second factors (`ostiary user mfa U`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactorStatus {
    pub user: User,
    /// When the user's TOTP key was enrolled; `None`: they have none.
    pub totp_enrolled_at: Option<OffsetDateTime>,
}

/// A key an operator enrolled for a user, to hand over once: its base32 form and the
/// `otpauth://` URI apps import. Never logged.
pub struct EnrolledTotp {
    pub status: SecondFactorStatus,
    pub secret: String,
    pub key_uri: String,
}

impl std::fmt::Debug for EnrolledTotp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolledTotp")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// A user's second factors (reading records nothing).
    ///
    /// Errors: `NotFound` for an unknown username, `Store`.
    pub async fn second_factors(
        &self,
        username: &Username,
    ) -> Result<SecondFactorStatus, AdminError> {
        let user = self.find_user(username).await?;
        let totp_enrolled_at = self.store.find_totp(&user.id).await?.map(|t| t.created_at);
        Ok(SecondFactorStatus {
            user,
            totp_enrolled_at,
        })
    }

    /// Enrols a new TOTP key for a user (`mfa.enrolled`), for an operator to hand over: from
    /// now on the user gives its codes at every login.
    ///
    /// Errors: `Unavailable` when built without the second-factor service, `NotFound` for an
    /// unknown username, `Invalid` when the user already has a key (reset it first), `Store`.
    pub async fn enroll_totp(
        &self,
        by: &Actor,
        username: &Username,
    ) -> Result<EnrolledTotp, AdminError> {
        let factors = self.factors()?;
        let user = self.find_user(username).await?;
        let secret = TotpSecret::generate();
        if !factors.enroll(&user.id, &secret, None).await? {
            return Err(InvalidInput::new(
                "totp",
                "the user already has a TOTP key; remove it first with `user mfa-reset`",
            )
            .into());
        }
        self.record(by, AuditEventType::MfaEnrolled, |e| {
            e.subject(user.id.to_string())
        })
        .await;
        let key_uri = factors.key_uri(&secret, user.username.as_str());
        Ok(EnrolledTotp {
            secret: secret.to_base32(),
            key_uri,
            status: self.second_factors(username).await?,
        })
    }

    /// Removes a user's second factors (`mfa.reset`) and ends what a login with them opened:
    /// the user's sessions end and their grants are revoked, as after a compromise (a lost
    /// authenticator may be in someone else's hands). Their next login enrols afresh where a
    /// factor is required. Returns whether there was a factor to remove.
    ///
    /// Errors: `NotFound` for an unknown username, `Store`.
    pub async fn reset_second_factors(
        &self,
        by: &Actor,
        username: &Username,
    ) -> Result<bool, AdminError> {
        let user = self.find_user(username).await?;
        let removed = self.store.delete_totp(&user.id).await?;
        self.store
            .end_user_access(
                &user.id,
                self.clock.now_seconds(),
                RevocationReason::MfaReset,
            )
            .await?;
        self.record(by, AuditEventType::MfaReset, |e| {
            e.subject(user.id.to_string())
        })
        .await;
        Ok(removed)
    }
}
