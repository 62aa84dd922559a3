//! `SecondFactors`: enrolling, checking and removing users' TOTP factors over the store.

use std::sync::Arc;

use ostiary_jwt::{KeySealer, SealError};

use super::StoredTotp;
use super::totp::{self, OneTimeCode, TotpSecret};
use crate::Clock;
use crate::store::{Store, StoreError};
use crate::user::UserId;

const SEALING_PURPOSE: &[u8] = b"ostiary totp secret";

/// The outcome of a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The code is right and of a later step than the last one accepted, which it is now.
    Accepted,
    /// A wrong code, or one no later than the last code accepted (RFC 6238 5.2: a second use
    /// is refused, and so is an older code seen over a shoulder).
    Refused,
    /// The user has no factor (removed meanwhile, or its key no longer opens).
    NotEnrolled,
}

/// The service over users' second factors.
pub struct SecondFactors {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sealer: KeySealer,
    /// Sealers of earlier root secrets (`OAUTH2_JWT_SECRET_PREVIOUS`): they only open.
    previous: Vec<KeySealer>,
    /// The issuer as authenticator apps label the account (the issuer URL's host).
    issuer_label: String,
}

impl std::fmt::Debug for SecondFactors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecondFactors")
            .field("issuer_label", &self.issuer_label)
            .finish_non_exhaustive()
    }
}

impl SecondFactors {
    /// Keys are sealed under `root_secret` (`OAUTH2_JWT_SECRET`) and opened under it or any
    /// of `previous`; `issuer` is the issuer URL, whose host labels the account in apps.
    pub fn new<'a>(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        root_secret: &[u8],
        previous: impl IntoIterator<Item = &'a [u8]>,
        issuer: &str,
    ) -> Result<Self, SealError> {
        let previous = previous
            .into_iter()
            .map(|secret| KeySealer::for_purpose(secret, SEALING_PURPOSE))
            .collect::<Result<_, _>>()?;
        let issuer_label = url::Url::parse(issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| issuer.to_owned());
        Ok(Self {
            store,
            clock,
            sealer: KeySealer::for_purpose(root_secret, SEALING_PURPOSE)?,
            previous,
            issuer_label,
        })
    }

    /// The key URI (`otpauth://totp/...`) of `secret` for the account `username`.
    pub fn key_uri(&self, secret: &TotpSecret, username: &str) -> String {
        totp::key_uri(secret, &self.issuer_label, username)
    }

    /// Whether the user has a factor.
    pub async fn has_totp(&self, user: &UserId) -> Result<bool, StoreError> {
        Ok(self.store.find_totp(user).await?.is_some())
    }

    /// Checks `code` against the user's factor and, if right, uses its step up.
    pub async fn verify(&self, user: &UserId, code: &OneTimeCode) -> Result<Verified, StoreError> {
        let Some(stored) = self.store.find_totp(user).await? else {
            return Ok(Verified::NotEnrolled);
        };
        let Some(secret) = self.open(&stored) else {
            tracing::error!(user = %user, "a TOTP key does not open under the root secrets");
            return Ok(Verified::NotEnrolled);
        };
        let Some(step) = self.step_of(&secret, code) else {
            return Ok(Verified::Refused);
        };
        if self.store.use_totp_step(user, step).await? {
            Ok(Verified::Accepted)
        } else {
            Ok(Verified::Refused)
        }
    }

    /// Enrols `secret` as the user's factor once `code` shows their app has it (`None`: the
    /// operator enrols it and hands the key over). False when the code is wrong, or the user
    /// already has a factor (two enrolments racing: the first one stands).
    pub async fn enroll(
        &self,
        user: &UserId,
        secret: &TotpSecret,
        code: Option<&OneTimeCode>,
    ) -> Result<bool, StoreError> {
        let last_step = match code {
            Some(code) => match self.step_of(secret, code) {
                Some(step) => step,
                None => return Ok(false),
            },
            None => 0,
        };
        let sealed_secret = self
            .sealer
            .seal(user.to_string().as_bytes(), secret.expose_bytes())
            .map_err(|_| StoreError::Corrupt("totp sealing"))?;
        self.store
            .insert_totp(&StoredTotp {
                user_id: *user,
                sealed_secret,
                last_step,
                created_at: self.clock.now_seconds(),
            })
            .await
    }

    /// Re-seals every factor opened by an earlier root secret under the current one (part of
    /// `ostiary keys reseal`); how many. A factor no secret opens is left for `user
    /// mfa-reset`.
    pub async fn reseal(&self) -> Result<u64, StoreError> {
        let mut moved = 0;
        for stored in self.store.list_totp().await? {
            let context = stored.user_id.to_string();
            if self
                .sealer
                .open(context.as_bytes(), &stored.sealed_secret)
                .is_ok()
            {
                continue;
            }
            let Some(secret) = self.open(&stored) else {
                continue;
            };
            let sealed = self
                .sealer
                .seal(context.as_bytes(), secret.expose_bytes())
                .map_err(|_| StoreError::Corrupt("totp sealing"))?;
            if self
                .store
                .reseal_totp(&stored.user_id, &stored.sealed_secret, &sealed)
                .await?
            {
                moved += 1;
            }
        }
        Ok(moved)
    }

    fn open(&self, stored: &StoredTotp) -> Option<TotpSecret> {
        let context = stored.user_id.to_string();
        std::iter::once(&self.sealer)
            .chain(&self.previous)
            .find_map(|sealer| sealer.open(context.as_bytes(), &stored.sealed_secret).ok())
            .and_then(|bytes| TotpSecret::from_bytes(&bytes))
    }

    /// The time step `code` is of, if it is `secret`'s code now or within the allowed drift.
    fn step_of(&self, secret: &TotpSecret, code: &OneTimeCode) -> Option<i64> {
        let now = self.clock.now_seconds().unix_timestamp();
        secret
            .matching_step(code, now)
            .and_then(|step| i64::try_from(step).ok())
    }
}
