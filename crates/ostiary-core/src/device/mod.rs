//! The device authorization grant (RFC 8628): a device without a usable browser asks for a
//! device code (which it polls the token endpoint with) and a user code (which the user types
//! at the verification page on a phone or computer, signs in, and approves or denies).
//!
//! Both codes are stored as SHA-256 hashes only. The browser half is an interaction
//! ([`crate::interaction::Interactions::begin_device`]); the polling half is the
//! `device_code` grant of the token service.

mod user_code;

pub use user_code::UserCode;

use std::sync::Arc;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::Clock;
use crate::client::{Client, ClientId, GrantType, Scope};
use crate::client_cache::ClientCache;
use crate::error::OAuthError;
use crate::random::random_token;
use crate::secret::SecretHash;
use crate::store::{Store, StoreError};
use crate::token::{resolve_authorization_scope, resolve_user_audience, userinfo_audience};
use crate::user::UserId;

/// How long a device code and its user code can be used (RFC 8628 3.2 `expires_in`).
pub const DEVICE_CODE_LIFETIME: Duration = Duration::minutes(10);
/// The polling interval first given to the device (RFC 8628 3.2 `interval`, its default).
pub const POLL_INTERVAL: Duration = Duration::seconds(5);
/// RFC 8628 3.5: what each `slow_down` adds to the interval.
pub const SLOW_DOWN_STEP: Duration = Duration::seconds(5);
/// The verification page, under the issuer (the design guide fixes the path).
pub const VERIFICATION_PATH: &str = "/device";

/// Where a device authorization stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Waiting for the user.
    Pending,
    /// The user approved: the next poll on time gets the tokens.
    Approved(DeviceApproval),
    /// The user denied: polls get `access_denied` until the code expires.
    Denied,
    /// The tokens were issued; the device code is spent.
    Redeemed,
}

impl DeviceStatus {
    /// The name the store keeps.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved(_) => "approved",
            Self::Denied => "denied",
            Self::Redeemed => "redeemed",
        }
    }
}

/// Who approved a device, in which login session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceApproval {
    pub user_id: UserId,
    /// The public id of the approving login session (`sid`): logging out of it ends the
    /// device's grant unless it is offline, as for a code.
    pub sid: String,
    pub auth_time: OffsetDateTime,
    /// The approving login gave a second factor.
    pub mfa: bool,
}

/// A device authorization as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    /// SHA-256 of the device code (256 random bits), the primary key.
    pub device_code_hash: SecretHash,
    /// SHA-256 of the user code in its normal form, unique among stored authorizations.
    pub user_code_hash: SecretHash,
    /// The client that asked: the only one that may poll with the device code.
    pub client_id: ClientId,
    pub scopes: Vec<Scope>,
    /// RFC 8707 resources, already checked against the client.
    pub resources: Vec<String>,
    pub expires_at: OffsetDateTime,
    /// The current polling interval, grown by each `slow_down`.
    pub interval: Duration,
    /// The last poll counted; `None` before the first.
    pub last_polled_at: Option<OffsetDateTime>,
    pub status: DeviceStatus,
}

/// The device authorization response (RFC 8628 3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceAuthorizationResponse {
    pub device_code: String,
    /// Shown as `XXXX-XXXX`.
    pub user_code: String,
    pub verification_uri: String,
    /// The verification page with the user code filled in (for a QR code).
    pub verification_uri_complete: String,
    /// Seconds until both codes stop working.
    pub expires_in: i64,
    /// Seconds the device waits between polls.
    pub interval: i64,
}

/// How often a new user code is drawn when the one drawn is already taken.
const USER_CODE_ATTEMPTS: usize = 3;

/// The service behind the device authorization endpoint and the verification page.
#[derive(Debug)]
pub struct DeviceAuthorizations {
    store: Arc<dyn Store>,
    clients: Arc<ClientCache>,
    clock: Arc<dyn Clock>,
    verification_uri: String,
    userinfo_audience: String,
}

impl DeviceAuthorizations {
    pub fn new(
        store: Arc<dyn Store>,
        clients: Arc<ClientCache>,
        clock: Arc<dyn Clock>,
        issuer: &str,
    ) -> Self {
        Self {
            store,
            clients,
            clock,
            verification_uri: format!("{}{VERIFICATION_PATH}", issuer.trim_end_matches('/')),
            userinfo_audience: userinfo_audience(issuer),
        }
    }

    /// RFC 8628 3.1 and 3.2: a new device authorization for the authenticated `client`,
    /// for `scope` (as an authorization request resolves it) and the RFC 8707 `resources`.
    ///
    /// Errors: `unauthorized_client` when the client is not registered for the device grant,
    /// `invalid_scope`, `invalid_target`, and `temporarily_unavailable` when the store fails.
    pub async fn start(
        &self,
        client: &Client,
        scope: Option<&str>,
        resources: &[String],
    ) -> Result<DeviceAuthorizationResponse, OAuthError> {
        client.require_grant(GrantType::DeviceCode)?;
        let scopes = resolve_authorization_scope(scope, &client.scopes)?;
        let openid = scopes.iter().any(|s| s.as_str() == "openid");
        // Checked now, so a bad resource is refused before the user is asked anything.
        resolve_user_audience(resources, client, openid, &self.userinfo_audience)?;
        let device_code = random_token::<32>();
        let now = self.clock.now_seconds();
        let mut attempt = 0;
        let user_code = loop {
            let user_code = UserCode::generate();
            let record = DeviceAuthorization {
                device_code_hash: SecretHash::of(&device_code),
                user_code_hash: user_code.hash(),
                client_id: client.id.clone(),
                scopes: scopes.clone(),
                resources: resources.to_vec(),
                expires_at: now + DEVICE_CODE_LIFETIME,
                interval: POLL_INTERVAL,
                last_polled_at: None,
                status: DeviceStatus::Pending,
            };
            match self.store.insert_device_authorization(&record).await {
                Ok(()) => break user_code,
                Err(StoreError::Conflict(_)) if attempt + 1 < USER_CODE_ATTEMPTS => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        };
        let shown = user_code.display();
        Ok(DeviceAuthorizationResponse {
            device_code,
            verification_uri_complete: format!("{}?user_code={shown}", self.verification_uri),
            user_code: shown,
            verification_uri: self.verification_uri.clone(),
            expires_in: DEVICE_CODE_LIFETIME.whole_seconds(),
            interval: POLL_INTERVAL.whole_seconds(),
        })
    }

    /// The pending authorization `user_code` names, if it has not expired, with its client.
    pub(crate) async fn pending_by_user_code(
        &self,
        user_code: &UserCode,
    ) -> Result<Option<(DeviceAuthorization, Arc<Client>)>, StoreError> {
        let found = self
            .store
            .find_device_authorization_by_user_code(&user_code.hash())
            .await?;
        self.live(found).await
    }

    /// The pending authorization with this device code hash, if it has not expired, with
    /// its client.
    pub(crate) async fn pending(
        &self,
        device_code_hash: &SecretHash,
    ) -> Result<Option<(DeviceAuthorization, Arc<Client>)>, StoreError> {
        let found = self
            .store
            .find_device_authorization(device_code_hash)
            .await?;
        self.live(found).await
    }

    async fn live(
        &self,
        found: Option<DeviceAuthorization>,
    ) -> Result<Option<(DeviceAuthorization, Arc<Client>)>, StoreError> {
        let Some(device) = found.filter(|d| {
            d.status == DeviceStatus::Pending && d.expires_at > self.clock.now_seconds()
        }) else {
            return Ok(None);
        };
        // A client deleted or no longer registered for the grant takes its requests along.
        let client = self
            .clients
            .find(&device.client_id)
            .await?
            .filter(|c| c.allows_grant(GrantType::DeviceCode));
        Ok(client.map(|client| (device, client)))
    }

    /// Records the user's answer: approved by `approval`, or denied (`None`). False when the
    /// authorization is no longer pending or has expired (answered elsewhere meanwhile).
    pub(crate) async fn settle(
        &self,
        device_code_hash: &SecretHash,
        approval: Option<DeviceApproval>,
    ) -> Result<bool, StoreError> {
        let status = approval.map_or(DeviceStatus::Denied, DeviceStatus::Approved);
        self.store
            .settle_device_authorization(device_code_hash, &status, self.clock.now_seconds())
            .await
    }
}
