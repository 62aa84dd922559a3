//! The audit trail: security events, append-only, never carrying a secret or a token.

use std::str::FromStr;

use time::OffsetDateTime;

/// What happened. Stored and printed by its dotted name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditEventType {
    ClientCreated,
    ClientDeleted,
    ClientSecretRotated,
    ClientAuthenticationFailed,
    UserCreated,
    UserDisabled,
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
}

impl AuditEventType {
    pub const ALL: [Self; 20] = [
        Self::ClientCreated,
        Self::ClientDeleted,
        Self::ClientSecretRotated,
        Self::ClientAuthenticationFailed,
        Self::UserCreated,
        Self::UserDisabled,
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
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCreated => "client.created",
            Self::ClientDeleted => "client.deleted",
            Self::ClientSecretRotated => "client.secret_rotated",
            Self::ClientAuthenticationFailed => "client.authentication_failed",
            Self::UserCreated => "user.created",
            Self::UserDisabled => "user.disabled",
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
    pub fn new(at: OffsetDateTime, event: AuditEventType, actor: impl Into<String>) -> Self {
        Self {
            at,
            event,
            actor: actor.into(),
            client_id: None,
            subject: None,
            source_ip: None,
            outcome: Outcome::Success,
            reason: None,
        }
    }

    pub fn client(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn source_ip(mut self, ip: Option<String>) -> Self {
        self.source_ip = ip;
        self
    }

    pub fn failed(mut self, reason: impl Into<String>) -> Self {
        self.outcome = Outcome::Failure;
        self.reason = Some(reason.into());
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
/// across instances, and the byte offset just past the last copied event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalMark {
    pub segment: String,
    /// Bytes from the segment's start.
    pub copied: u64,
}

/// Which events `ostiary audit list` prints: the newest `limit` matches, oldest first.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub since: Option<OffsetDateTime>,
    pub event: Option<AuditEventType>,
    pub subject: Option<String>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip() {
        for t in AuditEventType::ALL {
            assert_eq!(t.as_str().parse::<AuditEventType>(), Ok(t));
        }
        assert!("token.minted".parse::<AuditEventType>().is_err());
    }
}
