//! What operators see of clients, users, keys, sessions and audit events: one JSON shape
//! each, printed by the CLI and answered by the admin API (whose OpenAPI schemas they are).

use ostiary_core::admin::{EnrolledTotp, SecondFactorStatus};
use ostiary_core::audit::AuditEvent;
use ostiary_core::client::{Client, ClientJwks};
use ostiary_core::grant::Consent;
use ostiary_core::keys::StoredKey;
use ostiary_core::session::Session;
use ostiary_core::user::User;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// A client as shown to operators: everything but the secret (which is never kept).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView<'a> {
    pub client_id: &'a str,
    pub name: &'a str,
    pub public: bool,
    pub token_endpoint_auth_method: &'static str,
    pub grant_types: Vec<&'static str>,
    pub redirect_uris: Vec<&'a str>,
    pub scopes: Vec<&'a str>,
    pub audiences: Vec<&'a str>,
    pub introspect_audiences: Vec<&'a str>,
    pub post_logout_redirect_uris: Vec<&'a str>,
    pub skip_consent: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Seconds; absent: the server's default.
    pub access_token_lifetime: Option<i64>,
    pub id_token_alg: &'static str,
    /// RFC 7591 2: the registered public keys, by value or by reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<&'a ostiary_jwt::JwkSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<&'a str>,
    /// RFC 9449 5.2 (`--require-dpop`).
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 6 (`--require-par`).
    pub require_pushed_authorization_requests: bool,
    /// `--require-mfa`: users give a second factor before the client gets a code for them.
    pub require_mfa: bool,
    /// `--allow-impersonation`: token exchanges without `act` (RFC 8693 1.1).
    pub impersonation: bool,
    /// When the secret replaced by `rotate-secret --keep-old` stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

impl<'a> From<&'a Client> for ClientView<'a> {
    fn from(c: &'a Client) -> Self {
        Self {
            client_id: c.id.as_str(),
            name: &c.name,
            public: c.is_public(),
            token_endpoint_auth_method: c.auth_method.as_str(),
            grant_types: c.grant_types.iter().map(|g| g.as_str()).collect(),
            redirect_uris: c.redirect_uris.iter().map(|u| u.as_str()).collect(),
            scopes: c.scopes.iter().map(|s| s.as_str()).collect(),
            audiences: c.audiences.iter().map(|a| a.as_str()).collect(),
            introspect_audiences: c.introspect_audiences.iter().map(|a| a.as_str()).collect(),
            post_logout_redirect_uris: c
                .post_logout_redirect_uris
                .iter()
                .map(|u| u.as_str())
                .collect(),
            skip_consent: c.skip_consent,
            access_token_lifetime: c.access_token_lifetime.map(|d| d.whole_seconds()),
            id_token_alg: c.id_token_alg.as_str(),
            jwks: c.jwks.as_ref().and_then(ClientJwks::value),
            jwks_uri: c.jwks.as_ref().and_then(ClientJwks::uri),
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            require_mfa: c.require_mfa,
            impersonation: c.impersonation,
            previous_secret_expires_at: c.previous_secret.as_ref().map(|p| rfc3339(p.expires_at)),
            created_at: rfc3339(c.created_at),
        }
    }
}

/// A user: never the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView<'a> {
    pub user_id: String,
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub disabled: bool,
    /// RFC 3339.
    pub created_at: String,
}

impl<'a> From<&'a User> for UserView<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            user_id: user.id.to_string(),
            username: user.username.as_str(),
            email: user.email.as_ref().map(|e| e.as_str()),
            disabled: user.disabled,
            created_at: rfc3339(user.created_at),
        }
    }
}

/// A user's second factors (`user mfa`): never a key, only whether and when one was enrolled.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecondFactorsView<'a> {
    pub user_id: String,
    pub username: &'a str,
    /// The user gives a TOTP code at every login.
    pub totp: bool,
    /// RFC 3339; `null` without a TOTP key.
    pub totp_enrolled_at: Option<String>,
}

impl<'a> From<&'a SecondFactorStatus> for SecondFactorsView<'a> {
    fn from(status: &'a SecondFactorStatus) -> Self {
        Self {
            user_id: status.user.id.to_string(),
            username: status.user.username.as_str(),
            totp: status.totp_enrolled_at.is_some(),
            totp_enrolled_at: status.totp_enrolled_at.map(rfc3339),
        }
    }
}

/// A TOTP key just enrolled for a user, shown this once, with the user's second factors.
#[derive(Serialize, ToSchema)]
pub struct EnrolledTotpView<'a> {
    #[serde(flatten)]
    pub factors: SecondFactorsView<'a>,
    /// The key, RFC 4648 base32, to type into an authenticator app.
    pub totp_secret: &'a str,
    /// The `otpauth://totp/...` URI apps import.
    pub otpauth_uri: &'a str,
}

impl std::fmt::Debug for EnrolledTotpView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolledTotpView")
            .field("factors", &self.factors)
            .finish_non_exhaustive()
    }
}

impl<'a> From<&'a EnrolledTotp> for EnrolledTotpView<'a> {
    fn from(enrolled: &'a EnrolledTotp) -> Self {
        Self {
            factors: SecondFactorsView::from(&enrolled.status),
            totp_secret: &enrolled.secret,
            otpauth_uri: &enrolled.key_uri,
        }
    }
}

/// What a user allowed a client.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView<'a> {
    pub client_id: &'a str,
    pub scopes: Vec<&'a str>,
    /// RFC 3339.
    pub granted_at: String,
}

impl<'a> From<&'a Consent> for ConsentView<'a> {
    fn from(c: &'a Consent) -> Self {
        Self {
            client_id: c.client_id.as_str(),
            scopes: c.scopes.iter().map(|s| s.as_str()).collect(),
            granted_at: rfc3339(c.granted_at),
        }
    }
}

/// A login session: its public id (the `sid` of ID and logout tokens), never its cookie.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView<'a> {
    pub sid: &'a str,
    /// When the user authenticated (RFC 3339).
    pub auth_time: String,
    /// Last use (RFC 3339).
    pub last_seen: String,
    /// The end of its absolute lifetime (RFC 3339).
    pub expires_at: String,
}

impl<'a> From<&'a Session> for SessionView<'a> {
    fn from(s: &'a Session) -> Self {
        Self {
            sid: &s.sid,
            auth_time: rfc3339(s.auth_time),
            last_seen: rfc3339(s.last_seen),
            expires_at: rfc3339(s.expires_at),
        }
    }
}

/// A signing key: never its private part.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView<'a> {
    pub kid: &'a str,
    /// RS256, ES256 or EdDSA.
    pub alg: &'static str,
    /// active, retired or revoked.
    pub state: &'static str,
    /// RFC 3339.
    pub created_at: String,
    pub retired_at: Option<String>,
    /// Until when a retired key stays in the JWKS.
    pub publish_until: Option<String>,
    pub revoked_at: Option<String>,
}

impl<'a> From<&'a StoredKey> for KeyView<'a> {
    fn from(k: &'a StoredKey) -> Self {
        Self {
            kid: &k.kid,
            alg: k.alg.as_str(),
            state: k.state.as_str(),
            created_at: rfc3339(k.created_at),
            retired_at: k.retired_at.map(rfc3339),
            publish_until: k.publish_until.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

/// A security event of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView<'a> {
    /// RFC 3339.
    pub at: String,
    /// e.g. `client.created`, `token.issued`, `admin.request`.
    pub event: &'static str,
    /// Who acted: `cli`, `client:<id>`, `user:<id>`, `system`...
    pub actor: &'a str,
    pub client_id: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    /// success or failure.
    pub outcome: &'static str,
    pub reason: Option<&'a str>,
}

impl<'a> From<&'a AuditEvent> for AuditEventView<'a> {
    fn from(e: &'a AuditEvent) -> Self {
        Self {
            at: rfc3339(e.at),
            event: e.event.as_str(),
            actor: &e.actor,
            client_id: e.client_id.as_deref(),
            subject: e.subject.as_deref(),
            source_ip: e.source_ip.as_deref(),
            outcome: e.outcome.as_str(),
            reason: e.reason.as_deref(),
        }
    }
}

/// A time as RFC 3339 (UTC, to the second as stored).
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}
