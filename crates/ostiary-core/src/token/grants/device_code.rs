//! The device authorization grant's polling (RFC 8628 3.4 and 3.5): the device polls with its
//! device code until the user has answered, no faster than its interval, and gets the user's
//! first tokens once.

use time::Duration;

use super::user_tokens::NewGrant;
use super::{GrantError, Subject, invalid_grant};
use crate::client::{Client, GrantType};
use crate::device::{DeviceAuthorization, DeviceStatus, SLOW_DOWN_STEP};
use crate::error::{ErrorCode, OAuthError};
use crate::random::random_token;
use crate::secret::SecretHash;
use crate::token::Confirmation;
use crate::token::service::{TokenResponse, TokenService};

/// Polls are counted in whole seconds, and a device that waits its interval may still be
/// seen a little early after network jitter: a poll up to this much early is on time.
const POLL_TOLERANCE: Duration = Duration::seconds(1);

impl TokenService {
    /// RFC 8628 3.4: the device code is redeemed by its client only, once, after the user
    /// approved. Until then, each poll on time is answered `authorization_pending`; a poll
    /// earlier than the interval is `slow_down` and adds 5 seconds to the interval (RFC 8628
    /// 3.5). A denial is `access_denied`, an expired code `expired_token`, and an unknown,
    /// spent or another client's code `invalid_grant`. `resources` narrows the access token's
    /// audience within the authorized ones (RFC 8707 2.2).
    pub(super) async fn device_code(
        &self,
        client: &Client,
        device_code: &str,
        resources: &[String],
        dpop: Option<&Confirmation>,
    ) -> Result<(TokenResponse, Subject), GrantError> {
        client.require_grant(GrantType::DeviceCode)?;
        let hash = SecretHash::of(device_code);
        let Some(device) = self.store.find_device_authorization(&hash).await? else {
            return Err(invalid_grant("the device code is invalid").into());
        };
        if device.client_id != client.id {
            return Err(invalid_grant("the device code was issued to another client").into());
        }
        if self.clock.now_seconds() >= device.expires_at {
            return Err(
                OAuthError::new(ErrorCode::ExpiredToken, "the device code has expired").into(),
            );
        }
        let approval = match device.status {
            DeviceStatus::Pending => {
                // RFC 8628 3.5: slow_down is a kind of authorization_pending; an answered
                // request is told its answer however early the poll.
                self.pace(&hash, &device).await?;
                return Err(OAuthError::new(
                    ErrorCode::AuthorizationPending,
                    "the user has not answered yet",
                )
                .into());
            }
            DeviceStatus::Denied => {
                return Err(OAuthError::new(
                    ErrorCode::AccessDenied,
                    "the user denied the request",
                )
                .into());
            }
            DeviceStatus::Redeemed => {
                return Err(invalid_grant("the device code was already used").into());
            }
            DeviceStatus::Approved(approval) => approval,
        };
        self.check_user(approval.user_id).await?;
        let grant = NewGrant {
            grant_id: random_token::<16>(),
            user_id: approval.user_id,
            sid: approval.sid,
            scopes: &device.scopes,
            resources: &device.resources,
            auth_time: approval.auth_time,
            mfa: approval.mfa,
        };
        let (response, grant, refresh) = self.open_grant(client, grant, resources, None, dpop)?;
        if !self
            .store
            .redeem_device_code(&hash, &grant, refresh.as_ref())
            .await?
        {
            // Another poll redeemed it first, or it was voided meanwhile (logout, revoke-all).
            return Err(invalid_grant("the device code was already used").into());
        }
        Ok((response, Subject::User(grant.user_id)))
    }

    /// Counts a poll of a pending request, or refuses it with `slow_down` when it came before
    /// the interval was over (the interval then grows by 5 seconds, for this and every later
    /// poll). Of two polls racing, the one recorded second is the early one.
    async fn pace(
        &self,
        hash: &SecretHash,
        device: &DeviceAuthorization,
    ) -> Result<(), GrantError> {
        let now = self.clock.now_seconds();
        let early = device
            .last_polled_at
            .is_some_and(|last| now < last + device.interval - POLL_TOLERANCE);
        let interval = if early {
            device.interval + SLOW_DOWN_STEP
        } else {
            device.interval
        };
        let recorded = self
            .store
            .record_device_poll(hash, device.last_polled_at, now, interval.whole_seconds())
            .await?;
        if early || !recorded {
            return Err(OAuthError::new(
                ErrorCode::SlowDown,
                "polling too often; wait 5 seconds more between polls",
            )
            .into());
        }
        Ok(())
    }
}
