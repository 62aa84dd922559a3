//! Row shapes shared by both backends, and their conversion to and from domain types.
//!
//! Values are re-parsed on the way out of the database, so a corrupted row surfaces as
//! `StoreError::Corrupt` instead of an unchecked value.

use ostiary_core::StoreError;
use ostiary_core::audit::{AuditEvent, Outcome};
use ostiary_core::client::{
    Audience, Client, ClientId, ClientJwks, GrantType, PreviousSecret, RedirectUri, Scope,
    UriPolicy,
};
use ostiary_core::keys::{KeyState, StoredKey};
use ostiary_core::password::PasswordHash;
use ostiary_core::secret::SecretHash;
use ostiary_core::user::{Email, User, UserId, Username};
use time::{Duration, OffsetDateTime};

mod grants;

pub(crate) use grants::{
    CodeRow, ConsentRow, DeviceRow, GrantRow, InteractionRow, PresentedCodeRow,
    PresentedSessionRow, PushedRequestRow, RefreshFamilyRow, RefreshTokenRow, SessionRow,
};

/// Registered URIs were checked against the deployment's policy when they were written.
const STORED: UriPolicy = UriPolicy {
    allow_insecure_http: true,
};

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<Vec<u8>>,
    pub token_endpoint_auth_method: String,
    pub grant_types: String,
    pub redirect_uris: String,
    pub scopes: String,
    pub audiences: String,
    pub introspect_audiences: String,
    pub post_logout_redirect_uris: String,
    pub skip_consent: bool,
    pub access_token_lifetime_secs: Option<i64>,
    pub id_token_alg: String,
    pub created_at: i64,
    /// RFC 7591 2 `jwks`, as JSON.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub dpop_bound_access_tokens: bool,
    pub require_pushed_authorization_requests: bool,
    pub require_mfa: bool,
    pub impersonation: bool,
    pub previous_secret_hash: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<i64>,
}

impl ClientRow {
    pub fn from_client(c: &Client) -> Self {
        Self {
            client_id: c.id.as_str().to_owned(),
            name: c.name.clone(),
            secret_hash: c.secret_hash.as_ref().map(|h| h.as_bytes().to_vec()),
            token_endpoint_auth_method: c.auth_method.as_str().to_owned(),
            grant_types: json_list(c.grant_types.iter().map(|g| g.as_str())),
            redirect_uris: json_list(c.redirect_uris.iter().map(RedirectUri::as_str)),
            scopes: json_list(c.scopes.iter().map(Scope::as_str)),
            audiences: json_list(c.audiences.iter().map(Audience::as_str)),
            introspect_audiences: json_list(c.introspect_audiences.iter().map(Audience::as_str)),
            post_logout_redirect_uris: json_list(
                c.post_logout_redirect_uris.iter().map(RedirectUri::as_str),
            ),
            skip_consent: c.skip_consent,
            access_token_lifetime_secs: c.access_token_lifetime.map(|d| d.whole_seconds()),
            id_token_alg: c.id_token_alg.as_str().to_owned(),
            created_at: c.created_at.unix_timestamp(),
            jwks: c
                .jwks
                .as_ref()
                .and_then(ClientJwks::value)
                .and_then(|set| serde_json::to_string(set).ok()),
            jwks_uri: c.jwks.as_ref().and_then(ClientJwks::uri).map(str::to_owned),
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            require_mfa: c.require_mfa,
            impersonation: c.impersonation,
            previous_secret_hash: c
                .previous_secret
                .as_ref()
                .map(|p| p.hash.as_bytes().to_vec()),
            previous_secret_expires_at: c
                .previous_secret
                .as_ref()
                .map(|p| p.expires_at.unix_timestamp()),
        }
    }

    pub fn into_client(self) -> Result<Client, StoreError> {
        let corrupt = |_| StoreError::Corrupt("client");
        Ok(Client {
            id: ClientId::parse_any(&self.client_id).map_err(corrupt)?,
            name: self.name,
            secret_hash: match self.secret_hash {
                Some(bytes) => {
                    Some(SecretHash::from_bytes(&bytes).ok_or(StoreError::Corrupt("client"))?)
                }
                None => None,
            },
            auth_method: self.token_endpoint_auth_method.parse().map_err(corrupt)?,
            grant_types: parse_list(&self.grant_types, |s| s.parse::<GrantType>())?,
            redirect_uris: parse_list(&self.redirect_uris, |s| RedirectUri::parse(s, STORED))?,
            scopes: parse_list(&self.scopes, Scope::parse)?,
            audiences: parse_list(&self.audiences, Audience::parse)?,
            introspect_audiences: parse_list(&self.introspect_audiences, Audience::parse)?,
            post_logout_redirect_uris: parse_list(&self.post_logout_redirect_uris, |s| {
                RedirectUri::parse(s, STORED)
            })?,
            skip_consent: self.skip_consent,
            access_token_lifetime: self.access_token_lifetime_secs.map(Duration::seconds),
            id_token_alg: self
                .id_token_alg
                .parse()
                .map_err(|_| StoreError::Corrupt("client"))?,
            created_at: from_unix(self.created_at)?,
            jwks: match (self.jwks, self.jwks_uri) {
                (None, None) => None,
                // Checked when registered; read back as stored, so a later tightening of the
                // registration rules cannot turn an existing client into a corrupt row.
                (Some(json), None) => Some(ClientJwks::Value(
                    serde_json::from_str(&json).map_err(|_| StoreError::Corrupt("client"))?,
                )),
                (None, Some(uri)) => Some(ClientJwks::Uri(uri)),
                (Some(_), Some(_)) => return Err(StoreError::Corrupt("client")),
            },
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            require_mfa: self.require_mfa,
            impersonation: self.impersonation,
            previous_secret: match (self.previous_secret_hash, self.previous_secret_expires_at) {
                (None, None) => None,
                (Some(hash), Some(at)) => Some(PreviousSecret {
                    hash: SecretHash::from_bytes(&hash).ok_or(StoreError::Corrupt("client"))?,
                    expires_at: from_unix(at)?,
                }),
                _ => return Err(StoreError::Corrupt("client")),
            },
        })
        .and_then(|client: Client| {
            // The schema's CHECK enforces this too; a row violating it is refused here.
            if client.auth_method.uses_secret() == client.secret_hash.is_some() {
                Ok(client)
            } else {
                Err(StoreError::Corrupt("client"))
            }
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserRow {
    pub user_id: String,
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: i64,
}

impl UserRow {
    pub fn from_user(u: &User) -> Self {
        Self {
            user_id: u.id.to_string(),
            username: u.username.as_str().to_owned(),
            email: u.email.as_ref().map(|e| e.as_str().to_owned()),
            password_hash: u.password_hash.as_str().to_owned(),
            disabled: u.disabled,
            created_at: u.created_at.unix_timestamp(),
        }
    }

    pub fn into_user(self) -> Result<User, StoreError> {
        let corrupt = |_| StoreError::Corrupt("user");
        Ok(User {
            id: UserId::parse(&self.user_id).map_err(corrupt)?,
            username: Username::parse(&self.username).map_err(corrupt)?,
            email: self
                .email
                .as_deref()
                .map(Email::parse)
                .transpose()
                .map_err(corrupt)?,
            password_hash: PasswordHash::from_stored(self.password_hash),
            disabled: self.disabled,
            created_at: from_unix(self.created_at)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TotpRow {
    pub user_id: String,
    pub sealed_secret: Vec<u8>,
    pub last_step: i64,
    pub created_at: i64,
}

impl TotpRow {
    pub fn into_totp(self) -> Result<ostiary_core::mfa::StoredTotp, StoreError> {
        Ok(ostiary_core::mfa::StoredTotp {
            user_id: UserId::parse(&self.user_id)
                .map_err(|_| StoreError::Corrupt("second factor"))?,
            sealed_secret: self.sealed_secret,
            last_step: self.last_step,
            created_at: from_unix(self.created_at)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub sealed_private_key: Vec<u8>,
    pub previous_sealed_private_key: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub publish_until: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl KeyRow {
    pub fn from_key(k: &StoredKey) -> Result<Self, StoreError> {
        Ok(Self {
            kid: k.kid.clone(),
            alg: k.alg.as_str().to_owned(),
            state: k.state.as_str().to_owned(),
            sealed_private_key: k.sealed_private_key.clone(),
            previous_sealed_private_key: k.previous_sealed_private_key.clone(),
            public_jwk: serde_json::to_string(&k.public_jwk)
                .map_err(|_| StoreError::Corrupt("signing key"))?,
            created_at: k.created_at.unix_timestamp(),
            retired_at: k.retired_at.map(OffsetDateTime::unix_timestamp),
            publish_until: k.publish_until.map(OffsetDateTime::unix_timestamp),
            revoked_at: k.revoked_at.map(OffsetDateTime::unix_timestamp),
        })
    }

    pub fn into_key(self) -> Result<StoredKey, StoreError> {
        let corrupt = || StoreError::Corrupt("signing key");
        let optional = |t: Option<i64>| t.map(from_unix).transpose();
        Ok(StoredKey {
            alg: self.alg.parse().map_err(|_| corrupt())?,
            state: KeyState::parse(&self.state).ok_or_else(corrupt)?,
            sealed_private_key: self.sealed_private_key,
            previous_sealed_private_key: self.previous_sealed_private_key,
            public_jwk: serde_json::from_str(&self.public_jwk).map_err(|_| corrupt())?,
            created_at: from_unix(self.created_at)?,
            retired_at: optional(self.retired_at)?,
            publish_until: optional(self.publish_until)?,
            revoked_at: optional(self.revoked_at)?,
            kid: self.kid,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub at: i64,
    pub event: String,
    pub actor: String,
    pub client_id: Option<String>,
    pub subject: Option<String>,
    pub source_ip: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
}

/// An audit row with its id (the cursor of a follower).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct NumberedAuditRow {
    pub id: i64,
    #[sqlx(flatten)]
    pub row: AuditRow,
}

impl AuditRow {
    pub fn into_event(self) -> Result<AuditEvent, StoreError> {
        let corrupt = || StoreError::Corrupt("audit event");
        Ok(AuditEvent {
            at: from_unix(self.at)?,
            event: self.event.parse().map_err(|_| corrupt())?,
            actor: self.actor,
            client_id: self.client_id,
            subject: self.subject,
            source_ip: self.source_ip,
            outcome: Outcome::parse(&self.outcome).ok_or_else(corrupt)?,
            reason: self.reason,
        })
    }
}

fn json_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    serde_json::Value::from(items.collect::<Vec<_>>()).to_string()
}

fn parse_list<T, E>(
    json: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, StoreError> {
    let corrupt = || StoreError::Corrupt("list column");
    let items: Vec<String> = serde_json::from_str(json).map_err(|_| corrupt())?;
    items
        .iter()
        .map(|s| parse(s).map_err(|_| corrupt()))
        .collect()
}

fn from_unix(seconds: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| StoreError::Corrupt("timestamp"))
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RegistrationTokenRow {
    pub token_id: String,
    pub token_hash: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_uses: i64,
    pub uses: i64,
}

impl RegistrationTokenRow {
    pub fn into_token(self) -> Result<ostiary_core::registration::RegistrationToken, StoreError> {
        let corrupt = || StoreError::Corrupt("registration token");
        Ok(ostiary_core::registration::RegistrationToken {
            token_id: self.token_id,
            token_hash: SecretHash::from_bytes(&self.token_hash).ok_or_else(corrupt)?,
            created_at: from_unix(self.created_at)?,
            expires_at: from_unix(self.expires_at)?,
            max_uses: u32::try_from(self.max_uses).map_err(|_| corrupt())?,
            uses: u32::try_from(self.uses).map_err(|_| corrupt())?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct BffSessionRow {
    pub id_hash: Vec<u8>,
    pub sub: String,
    pub sid: Option<String>,
    pub sealed: Vec<u8>,
    pub version: i64,
    pub refresh_claimed_until: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl BffSessionRow {
    pub fn into_session(self) -> Result<ostiary_core::bff::BffSession, StoreError> {
        Ok(ostiary_core::bff::BffSession {
            id_hash: SecretHash::from_bytes(&self.id_hash)
                .ok_or(StoreError::Corrupt("bff session"))?,
            sub: self.sub,
            sid: self.sid,
            sealed: self.sealed,
            version: self.version,
            refresh_claimed_until: self.refresh_claimed_until.map(from_unix).transpose()?,
            created_at: from_unix(self.created_at)?,
            expires_at: from_unix(self.expires_at)?,
        })
    }
}
