//! Why something was revoked: the label of the revocation metric and of its stored totals.

/// The cause of a revocation, as `oauth2_server_oauth_token_revoked_total{reason}` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// A client revoked its own token (RFC 7009).
    ClientRequest,
    /// A used code or a rotated refresh token came back (RFC 9700 4.14): its grant went.
    ReuseDetected,
    /// The login session ended: logout, or a different user signing in on the browser.
    Logout,
    /// The login session outlived its absolute lifetime.
    SessionExpired,
    /// An operator disabled the user.
    UserDisabled,
    /// The user's consent for the client was withdrawn.
    ConsentWithdrawn,
    /// Incident response: `ostiary tokens revoke-all`.
    RevokeAll,
    /// An operator set the user's password (`ostiary user set-password`).
    PasswordSet,
    /// An operator narrowed what the client may ask for (`ostiary client update`).
    ClientNarrowed,
    /// An operator removed the user's second factors (`ostiary user mfa-reset`).
    MfaReset,
}

impl RevocationReason {
    pub const ALL: [Self; 10] = [
        Self::ClientRequest,
        Self::ReuseDetected,
        Self::Logout,
        Self::SessionExpired,
        Self::UserDisabled,
        Self::ConsentWithdrawn,
        Self::RevokeAll,
        Self::PasswordSet,
        Self::ClientNarrowed,
        Self::MfaReset,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientRequest => "client_request",
            Self::ReuseDetected => "reuse_detected",
            Self::Logout => "logout",
            Self::SessionExpired => "session_expired",
            Self::UserDisabled => "user_disabled",
            Self::ConsentWithdrawn => "consent_withdrawn",
            Self::RevokeAll => "revoke_all",
            Self::PasswordSet => "password_set",
            Self::ClientNarrowed => "client_narrowed",
            Self::MfaReset => "mfa_reset",
        }
    }

    /// The reason a stored label names; `None` for a label this version does not know.
    pub fn parse(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        for reason in RevocationReason::ALL {
            assert_eq!(RevocationReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(RevocationReason::parse("bogus"), None);
    }
}
