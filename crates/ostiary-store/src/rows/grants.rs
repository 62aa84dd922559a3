//! Row shapes of sessions, interactions, pushed requests, authorization codes, device
//! authorizations, grants, refresh tokens and consents.

use ostiary_core::StoreError;
use ostiary_core::authorize::PushedRequest;
use ostiary_core::client::{ClientId, Scope};
use ostiary_core::device::{DeviceApproval, DeviceAuthorization, DeviceStatus};
use ostiary_core::grant::{
    AuthorizationCode, Consent, Grant, PresentedCode, RefreshFamily, RefreshToken,
    StoredRefreshToken,
};
use ostiary_core::interaction::StoredInteraction;
use ostiary_core::secret::SecretHash;
use ostiary_core::session::{PresentedSession, Session};
use ostiary_core::user::UserId;
use time::OffsetDateTime;

use super::{from_unix, json_list, parse_list};

/// Strings kept as they were written (resources, audiences): checked before they were stored.
fn verbatim(s: &str) -> Result<String, std::convert::Infallible> {
    Ok(s.to_owned())
}

fn hash(bytes: &[u8], record: &'static str) -> Result<SecretHash, StoreError> {
    SecretHash::from_bytes(bytes).ok_or(StoreError::Corrupt(record))
}

fn optional_time(t: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    t.map(from_unix).transpose()
}

fn scopes(scopes: &[Scope]) -> String {
    json_list(scopes.iter().map(Scope::as_str))
}

fn strings(items: &[String]) -> String {
    json_list(items.iter().map(String::as_str))
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub id_hash: Vec<u8>,
    pub sid: String,
    pub user_id: String,
    pub auth_time: i64,
    pub last_seen: i64,
    pub expires_at: i64,
    pub mfa: bool,
}

impl SessionRow {
    pub fn from_session(s: &Session) -> Self {
        Self {
            id_hash: s.id_hash.as_bytes().to_vec(),
            sid: s.sid.clone(),
            user_id: s.user_id.to_string(),
            auth_time: s.auth_time.unix_timestamp(),
            last_seen: s.last_seen.unix_timestamp(),
            expires_at: s.expires_at.unix_timestamp(),
            mfa: s.mfa,
        }
    }

    pub fn into_session(self) -> Result<Session, StoreError> {
        Ok(Session {
            id_hash: hash(&self.id_hash, "session")?,
            sid: self.sid,
            user_id: UserId::parse(&self.user_id).map_err(|_| StoreError::Corrupt("session"))?,
            auth_time: from_unix(self.auth_time)?,
            mfa: self.mfa,
            last_seen: from_unix(self.last_seen)?,
            expires_at: from_unix(self.expires_at)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CodeRow {
    pub code_hash: Vec<u8>,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub sid: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub scopes: String,
    pub resources: String,
    pub auth_time: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub dpop_jkt: Option<String>,
    pub mfa: bool,
}

impl CodeRow {
    pub fn from_code(c: &AuthorizationCode) -> Self {
        Self {
            code_hash: c.code_hash.as_bytes().to_vec(),
            grant_id: c.grant_id.clone(),
            client_id: c.client_id.as_str().to_owned(),
            user_id: c.user_id.to_string(),
            sid: c.sid.clone(),
            redirect_uri: c.redirect_uri.clone(),
            code_challenge: c.code_challenge.clone(),
            nonce: c.nonce.clone(),
            scopes: scopes(&c.scopes),
            resources: strings(&c.resources),
            auth_time: c.auth_time.unix_timestamp(),
            expires_at: c.expires_at.unix_timestamp(),
            consumed_at: c.consumed_at.map(OffsetDateTime::unix_timestamp),
            dpop_jkt: c.dpop_jkt.clone(),
            mfa: c.mfa,
        }
    }

    pub fn into_code(self) -> Result<AuthorizationCode, StoreError> {
        let corrupt = |_| StoreError::Corrupt("authorization code");
        Ok(AuthorizationCode {
            code_hash: hash(&self.code_hash, "authorization code")?,
            grant_id: self.grant_id,
            client_id: ClientId::parse_any(&self.client_id).map_err(corrupt)?,
            user_id: UserId::parse(&self.user_id).map_err(corrupt)?,
            sid: self.sid,
            redirect_uri: self.redirect_uri,
            code_challenge: self.code_challenge,
            nonce: self.nonce,
            scopes: parse_list(&self.scopes, Scope::parse)?,
            resources: parse_list(&self.resources, verbatim)?,
            auth_time: from_unix(self.auth_time)?,
            mfa: self.mfa,
            expires_at: from_unix(self.expires_at)?,
            consumed_at: optional_time(self.consumed_at)?,
            dpop_jkt: self.dpop_jkt,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct GrantRow {
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub sid: String,
    pub offline: bool,
    pub scopes: String,
    pub audiences: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub access_jti: String,
    pub access_expires_at: i64,
    pub revoked_at: Option<i64>,
    pub dpop_jkt: Option<String>,
    pub mfa: bool,
}

impl GrantRow {
    pub fn from_grant(g: &Grant) -> Self {
        Self {
            grant_id: g.grant_id.clone(),
            client_id: g.client_id.as_str().to_owned(),
            user_id: g.user_id.to_string(),
            sid: g.sid.clone(),
            offline: g.offline,
            scopes: scopes(&g.scopes),
            audiences: strings(&g.audiences),
            auth_time: g.auth_time.unix_timestamp(),
            created_at: g.created_at.unix_timestamp(),
            access_jti: g.access_jti.clone(),
            access_expires_at: g.access_expires_at.unix_timestamp(),
            revoked_at: g.revoked_at.map(OffsetDateTime::unix_timestamp),
            dpop_jkt: g.dpop_jkt.clone(),
            mfa: g.mfa,
        }
    }

    pub fn into_grant(self) -> Result<Grant, StoreError> {
        let corrupt = |_| StoreError::Corrupt("grant");
        Ok(Grant {
            grant_id: self.grant_id,
            client_id: ClientId::parse_any(&self.client_id).map_err(corrupt)?,
            user_id: UserId::parse(&self.user_id).map_err(corrupt)?,
            sid: self.sid,
            offline: self.offline,
            scopes: parse_list(&self.scopes, Scope::parse)?,
            audiences: parse_list(&self.audiences, verbatim)?,
            auth_time: from_unix(self.auth_time)?,
            mfa: self.mfa,
            created_at: from_unix(self.created_at)?,
            access_jti: self.access_jti,
            access_expires_at: from_unix(self.access_expires_at)?,
            revoked_at: optional_time(self.revoked_at)?,
            dpop_jkt: self.dpop_jkt,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RefreshTokenRow {
    pub token_hash: Vec<u8>,
    pub grant_id: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub access_jti: String,
    pub access_expires_at: i64,
    pub rotated_at: Option<i64>,
    pub rotation_answer: Option<Vec<u8>>,
}

impl RefreshTokenRow {
    /// A token as first written: not rotated.
    pub fn from_token(t: &RefreshToken) -> Self {
        Self {
            token_hash: t.token_hash.as_bytes().to_vec(),
            grant_id: t.grant_id.clone(),
            issued_at: t.issued_at.unix_timestamp(),
            expires_at: t.expires_at.unix_timestamp(),
            access_jti: t.access_jti.clone(),
            access_expires_at: t.access_expires_at.unix_timestamp(),
            rotated_at: None,
            rotation_answer: None,
        }
    }

    pub fn into_stored(self) -> Result<StoredRefreshToken, StoreError> {
        // A rotation writes both columns at once (the answer is read back only while the
        // successor is unused); an answer without a rotation is not ours.
        if self.rotation_answer.is_some() && self.rotated_at.is_none() {
            return Err(StoreError::Corrupt("refresh token"));
        }
        Ok(StoredRefreshToken {
            token: RefreshToken {
                token_hash: hash(&self.token_hash, "refresh token")?,
                grant_id: self.grant_id,
                issued_at: from_unix(self.issued_at)?,
                expires_at: from_unix(self.expires_at)?,
                access_jti: self.access_jti,
                access_expires_at: from_unix(self.access_expires_at)?,
            },
            rotated_at: optional_time(self.rotated_at)?,
            rotation_answer: self.rotation_answer,
        })
    }
}

/// A session joined with its user's `disabled` flag.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PresentedSessionRow {
    #[sqlx(flatten)]
    pub session: SessionRow,
    pub user_disabled: bool,
}

impl PresentedSessionRow {
    pub fn into_presented(self) -> Result<PresentedSession, StoreError> {
        Ok(PresentedSession {
            session: self.session.into_session()?,
            user_disabled: self.user_disabled,
        })
    }
}

/// An authorization code joined with its user's `disabled` flag.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PresentedCodeRow {
    #[sqlx(flatten)]
    pub code: CodeRow,
    pub user_disabled: bool,
}

impl PresentedCodeRow {
    pub fn into_presented(self) -> Result<PresentedCode, StoreError> {
        Ok(PresentedCode {
            code: self.code.into_code()?,
            user_disabled: self.user_disabled,
        })
    }
}

/// A refresh token joined with its grant and its user's `disabled` flag; the token's
/// `access_jti` and `access_expires_at` come renamed (`token_...`), as the grant has its own.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RefreshFamilyRow {
    #[sqlx(flatten)]
    pub grant: GrantRow,
    pub token_hash: Vec<u8>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub token_access_jti: String,
    pub token_access_expires_at: i64,
    pub rotated_at: Option<i64>,
    pub rotation_answer: Option<Vec<u8>>,
    pub user_disabled: bool,
}

impl RefreshFamilyRow {
    pub fn into_family(self) -> Result<RefreshFamily, StoreError> {
        let token = RefreshTokenRow {
            token_hash: self.token_hash,
            grant_id: self.grant.grant_id.clone(),
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            access_jti: self.token_access_jti,
            access_expires_at: self.token_access_expires_at,
            rotated_at: self.rotated_at,
            rotation_answer: self.rotation_answer,
        };
        Ok(RefreshFamily {
            token: token.into_stored()?,
            grant: self.grant.into_grant()?,
            user_disabled: self.user_disabled,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ConsentRow {
    pub user_id: String,
    pub client_id: String,
    pub scopes: String,
    pub granted_at: i64,
}

impl ConsentRow {
    pub fn from_consent(c: &Consent) -> Self {
        Self {
            user_id: c.user_id.to_string(),
            client_id: c.client_id.as_str().to_owned(),
            scopes: scopes(&c.scopes),
            granted_at: c.granted_at.unix_timestamp(),
        }
    }

    pub fn into_consent(self) -> Result<Consent, StoreError> {
        let corrupt = |_| StoreError::Corrupt("consent");
        Ok(Consent {
            user_id: UserId::parse(&self.user_id).map_err(corrupt)?,
            client_id: ClientId::parse_any(&self.client_id).map_err(corrupt)?,
            scopes: parse_list(&self.scopes, Scope::parse)?,
            granted_at: from_unix(self.granted_at)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct InteractionRow {
    pub id_hash: Vec<u8>,
    pub binding_hash: Vec<u8>,
    pub state: String,
    pub expires_at: i64,
}

impl InteractionRow {
    pub fn into_interaction(self) -> Result<StoredInteraction, StoreError> {
        Ok(StoredInteraction {
            id_hash: hash(&self.id_hash, "interaction")?,
            binding_hash: hash(&self.binding_hash, "interaction")?,
            state: self.state,
            expires_at: from_unix(self.expires_at)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PushedRequestRow {
    pub id_hash: Vec<u8>,
    pub client_id: String,
    pub params: String,
    pub expires_at: i64,
}

impl PushedRequestRow {
    pub fn into_pushed(self) -> Result<PushedRequest, StoreError> {
        Ok(PushedRequest {
            id_hash: hash(&self.id_hash, "pushed request")?,
            client_id: ClientId::parse_any(&self.client_id)
                .map_err(|_| StoreError::Corrupt("pushed request"))?,
            params: self.params,
            expires_at: from_unix(self.expires_at)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DeviceRow {
    pub device_code_hash: Vec<u8>,
    pub user_code_hash: Vec<u8>,
    pub client_id: String,
    pub scopes: String,
    pub resources: String,
    pub expires_at: i64,
    pub interval_secs: i64,
    pub last_polled_at: Option<i64>,
    pub status: String,
    pub user_id: Option<String>,
    pub sid: Option<String>,
    pub auth_time: Option<i64>,
    pub mfa: bool,
}

impl DeviceRow {
    pub fn from_device(d: &DeviceAuthorization) -> Self {
        let approval = match &d.status {
            DeviceStatus::Approved(approval) => Some(approval),
            _ => None,
        };
        Self {
            device_code_hash: d.device_code_hash.as_bytes().to_vec(),
            user_code_hash: d.user_code_hash.as_bytes().to_vec(),
            client_id: d.client_id.as_str().to_owned(),
            scopes: scopes(&d.scopes),
            resources: strings(&d.resources),
            expires_at: d.expires_at.unix_timestamp(),
            interval_secs: d.interval.whole_seconds(),
            last_polled_at: d.last_polled_at.map(OffsetDateTime::unix_timestamp),
            status: d.status.as_str().to_owned(),
            user_id: approval.map(|a| a.user_id.to_string()),
            sid: approval.map(|a| a.sid.clone()),
            auth_time: approval.map(|a| a.auth_time.unix_timestamp()),
            mfa: approval.is_some_and(|a| a.mfa),
        }
    }

    pub fn into_device(self) -> Result<DeviceAuthorization, StoreError> {
        const RECORD: &str = "device authorization";
        let corrupt = |_| StoreError::Corrupt(RECORD);
        let status = match (self.status.as_str(), self.user_id, self.sid, self.auth_time) {
            ("pending", ..) => DeviceStatus::Pending,
            ("denied", ..) => DeviceStatus::Denied,
            ("redeemed", ..) => DeviceStatus::Redeemed,
            ("approved", Some(user_id), Some(sid), Some(auth_time)) => {
                DeviceStatus::Approved(DeviceApproval {
                    user_id: UserId::parse(&user_id).map_err(corrupt)?,
                    sid,
                    auth_time: from_unix(auth_time)?,
                    mfa: self.mfa,
                })
            }
            _ => return Err(StoreError::Corrupt(RECORD)),
        };
        Ok(DeviceAuthorization {
            device_code_hash: hash(&self.device_code_hash, RECORD)?,
            user_code_hash: hash(&self.user_code_hash, RECORD)?,
            client_id: ClientId::parse_any(&self.client_id).map_err(corrupt)?,
            scopes: parse_list(&self.scopes, Scope::parse)?,
            resources: parse_list(&self.resources, verbatim)?,
            expires_at: from_unix(self.expires_at)?,
            interval: time::Duration::seconds(self.interval_secs),
            last_polled_at: optional_time(self.last_polled_at)?,
            status,
        })
    }
}
