//! The audit trail: security events, append-only, never carrying a secret or a token.

use std::str::FromStr;

use time::OffsetDateTime;

/// What happened. Stored and printed by its dotted name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditEventType {
    ClientCreated,
    ClientDeleted,
    /// An operator changed a client's settings (`client update`).
    ClientUpdated,
    ClientSecretRotated,
    ClientAuthenticationFailed,
    UserCreated,
    UserDisabled,
    /// A disabled account was enabled again.
    UserEnabled,
    /// An operator set a user's password (the user's sessions and grants end with it).
    UserPasswordSet,
    KeyRotated,
    KeyRevoked,
    /// A key sealed under a previous root secret was sealed under the current one.
    KeyResealed,
    TokenIssued,
    TokenRevoked,
    LoginSucceeded,
    LoginFailed,
    LoggedOut,
    ConsentGranted,
    ConsentRevoked,
    ReuseDetected,
    RevokedAll,
    /// A user approved a device's request on the verification page (RFC 8628 3.3).
    DeviceApproved,
    /// A user denied a device's request on the verification page.
    DeviceDenied,
    /// An operator issued an initial access token for dynamic registration (RFC 7591 3).
    RegistrationTokenCreated,
    /// An operator revoked an initial access token.
    RegistrationTokenRevoked,
    /// A user enrolled a TOTP key (a code of it came back), or an operator enrolled one.
    MfaEnrolled,
    /// A right one-time code.
    MfaSucceeded,
    /// A wrong (or already used) one-time code.
    MfaFailed,
    /// An operator removed a user's second factors (`user mfa-reset`).
    MfaReset,
    /// A call to the admin HTTP API, refused or not: the route as `subject` (`GET
    /// /v1/clients/{client_id}`), the answer's status as `reason` when it failed.
    AdminRequest,
}

impl AuditEventType {
    pub const ALL: [Self; 30] = [
        Self::ClientCreated,
        Self::ClientDeleted,
        Self::ClientUpdated,
        Self::ClientSecretRotated,
        Self::ClientAuthenticationFailed,
        Self::UserCreated,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::UserPasswordSet,
        Self::KeyRotated,
        Self::KeyRevoked,
        Self::KeyResealed,
        Self::TokenIssued,
        Self::TokenRevoked,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::LoggedOut,
        Self::ConsentGranted,
        Self::ConsentRevoked,
        Self::ReuseDetected,
        Self::RevokedAll,
        Self::DeviceApproved,
        Self::DeviceDenied,
        Self::RegistrationTokenCreated,
        Self::RegistrationTokenRevoked,
        Self::MfaEnrolled,
        Self::MfaSucceeded,
        Self::MfaFailed,
        Self::MfaReset,
        Self::AdminRequest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCreated => "client.created",
            Self::ClientDeleted => "client.deleted",
            Self::ClientUpdated => "client.updated",
            Self::ClientSecretRotated => "client.secret_rotated",
            Self::ClientAuthenticationFailed => "client.authentication_failed",
            Self::UserCreated => "user.created",
            Self::UserDisabled => "user.disabled",
            Self::UserEnabled => "user.enabled",
            Self::UserPasswordSet => "user.password_set",
            Self::KeyRotated => "key.rotated",
            Self::KeyRevoked => "key.revoked",
            Self::KeyResealed => "key.resealed",
            Self::TokenIssued => "token.issued",
            Self::TokenRevoked => "token.revoked",
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::LoggedOut => "session.ended",
            Self::ConsentGranted => "consent.granted",
            Self::ConsentRevoked => "consent.revoked",
            Self::ReuseDetected => "token.reuse_detected",
            Self::RevokedAll => "tokens.revoked_all",
            Self::DeviceApproved => "device.approved",
            Self::DeviceDenied => "device.denied",
            Self::RegistrationTokenCreated => "registration_token.created",
            Self::RegistrationTokenRevoked => "registration_token.revoked",
            Self::MfaEnrolled => "mfa.enrolled",
            Self::MfaSucceeded => "mfa.succeeded",
            Self::MfaFailed => "mfa.failed",
            Self::MfaReset => "mfa.reset",
            Self::AdminRequest => "admin.request",
        }
    }
}

impl FromStr for AuditEventType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown event type {s:?}; expected one of: {}",
                    Self::ALL.map(Self::as_str).join(", ")
                )
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Self::Success),
            "failure" => Some(Self::Failure),
            _ => None,
        }
    }
}

/// One security event. Identifiers only (client ids, user ids, key ids, token ids): never a
/// secret, a password or a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: OffsetDateTime,
    pub event: AuditEventType,
    /// Who acted: `cli`, `client:<id>`, `system`.
    pub actor: String,
    pub client_id: Option<String>,
    /// The user, key or token the event is about.
    pub subject: Option<String>,
    pub source_ip: Option<String>,
    pub outcome: Outcome,
    /// A short machine-readable reason code.
    pub reason: Option<String>,
}

impl AuditEvent {
    /// An event of `actor` (cut to [`MAX_FIELD_BYTES`]).
    pub fn new(at: OffsetDateTime, event: AuditEventType, actor: impl Into<String>) -> Self {
        Self {
            at,
            event,
            actor: bounded(actor.into()),
            client_id: None,
            subject: None,
            source_ip: None,
            outcome: Outcome::Success,
            reason: None,
        }
    }

    /// The client the event concerns, cut to [`MAX_FIELD_BYTES`].
    pub fn client(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(bounded(client_id.into()));
        self
    }

    /// The user, key or token the event is about, cut to [`MAX_FIELD_BYTES`].
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(bounded(subject.into()));
        self
    }

    pub fn source_ip(mut self, ip: Option<String>) -> Self {
        self.source_ip = ip;
        self
    }

    /// A failure, for `reason` (cut to [`MAX_FIELD_BYTES`]).
    pub fn failed(mut self, reason: impl Into<String>) -> Self {
        self.outcome = Outcome::Failure;
        self.reason = Some(bounded(reason.into()));
        self
    }
}

/// Where protocol services and admin operations record their events. The server's writer
/// implements it (queued, logged, appended to the store); tests may collect events in memory.
#[async_trait::async_trait]
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Records one event; never fails the operation that caused it.
    async fn record(&self, event: AuditEvent);
}

/// How far a segment of a server's audit journal (a local file of events written before
/// their responses leave) has been copied into the trail: the segment's file name, unique
/// across instances, and the byte offsets before and after the events copied with it. The
/// mark moves only from `from` (compare-and-set), so a batch whose commit was reported lost
/// but happened cannot be copied twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalMark {
    pub segment: String,
    /// Where the copy started: the mark the store must hold (0 for a segment it has none of).
    pub from: u64,
    /// Bytes from the segment's start, just past the last copied event.
    pub copied: u64,
}

/// The most bytes kept of a value recorded in an event (a client id from a failed request can
/// be as long as the request body): a bounded journal line and a row every backend stores.
pub const MAX_FIELD_BYTES: usize = 256;

/// `value` cut to [`MAX_FIELD_BYTES`] at a character boundary.
fn bounded(mut value: String) -> String {
    if value.len() > MAX_FIELD_BYTES {
        let mut end = MAX_FIELD_BYTES;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        value.truncate(end);
    }
    value
}

/// Which events `ostiary audit list` prints: the newest `limit` matches, oldest first.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub since: Option<OffsetDateTime>,
    pub event: Option<AuditEventType>,
    pub subject: Option<String>,
    /// Only events with an id below this one: the page before one whose oldest event had
    /// this id.
    pub before: Option<i64>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_are_bounded_at_a_character_boundary() {
        let long = "é".repeat(MAX_FIELD_BYTES);
        let event = AuditEvent::new(OffsetDateTime::UNIX_EPOCH, AuditEventType::LoginFailed, "x")
            .client(long.clone())
            .subject("short");
        let client = event.client_id.unwrap();
        assert_eq!(client.len(), MAX_FIELD_BYTES);
        assert!(long.starts_with(&client));
        assert_eq!(event.subject.as_deref(), Some("short"));
        let odd = format!("a{long}");
        let cut = bounded(odd.clone());
        assert_eq!(
            cut.len(),
            MAX_FIELD_BYTES - 1,
            "not inside a two-byte character"
        );
        assert!(odd.starts_with(&cut));
    }

    #[test]
    fn event_types_round_trip() {
        for t in AuditEventType::ALL {
            assert_eq!(t.as_str().parse::<AuditEventType>(), Ok(t));
        }
        assert!("token.minted".parse::<AuditEventType>().is_err());
    }
}
